"""The OpenAI Realtime simulator's checks of client event fields. Pure (no I/O).

Each check returns the value when it is what the real API accepts and otherwise raises
`RequestError` carrying the error code, message and param the real API would send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class RequestError(Exception):
    """A client event the real API would answer with an `error` event (session stays open)."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def invalid_type(path: str, expected: str) -> RequestError:
    return RequestError("invalid_type", f"Invalid type for '{path}': expected {expected}.", path)


def expect_object(value: object, path: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise invalid_type(path, "an object")
    return value


def expect_keys(obj: Mapping[str, Any], allowed: frozenset[str], path: str) -> None:
    for key in obj:
        if key not in allowed:
            raise RequestError(
                "unknown_parameter", f"Unknown parameter: '{path}.{key}'.", f"{path}.{key}"
            )


def expect_enum(value: object, allowed: tuple[str, ...], path: str) -> str:
    if not isinstance(value, str) or value not in allowed:
        options = ", ".join(f"'{a}'" for a in allowed)
        raise RequestError(
            "invalid_value", f"Invalid value: '{value}'. Supported values are: {options}.", path
        )
    return value


def expect_number(value: object, path: str, low: float, high: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid_type(path, "a number")
    if value < low or (high is not None and value > high):
        raise RequestError("invalid_value", f"Invalid '{path}': {value} is out of range.", path)
    return value


def expect_bool(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        raise invalid_type(path, "a boolean")
    return value


def expect_string(obj: Mapping[str, Any], key: str, path: str) -> str:
    if key not in obj:
        raise RequestError(
            "missing_required_parameter",
            f"Missing required parameter: '{path}.{key}'.",
            f"{path}.{key}",
        )
    if not isinstance(obj[key], str):
        raise invalid_type(f"{path}.{key}", "a string")
    value: str = obj[key]
    return value
