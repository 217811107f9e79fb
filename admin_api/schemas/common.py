"""Field types shared by the admin API's request and response models. Pure.

Every string that reaches Postgres is checked here: no NUL characters and no lone surrogates
(Postgres text cannot hold either; letting one through would turn a client's mistake into a
server error). JSON values of free shape (memory values, business hours) are bounded in depth
and size. Timestamps in bodies must carry a zone; in query filters a date or a time without a
zone is read in the tenant's zone (`in_zone`). All must fit Postgres' range. Messages are plain
words (a phone number's problem names the form it must take, not a regular expression).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
MAX_JSON_DEPTH = 6
MAX_JSON_BYTES = 16 * 1024


def clean_text(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode text (no lone surrogates)") from None
    return value


def _check_json(value: Any, depth: int = 0) -> None:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        clean_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            clean_text(str(key))
            _check_json(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _check_json(item, depth + 1)
    elif isinstance(value, float) and value != value:  # NaN is not JSON
        raise ValueError("NaN is not a JSON number")


def clean_json(value: Any) -> Any:
    _check_json(value)
    if len(json.dumps(value)) > MAX_JSON_BYTES:
        raise ValueError(f"larger than {MAX_JSON_BYTES} bytes as JSON")
    return value


def _utc(value: datetime) -> datetime:
    try:
        converted = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("timestamp out of range") from None
    if not 1970 <= converted.year <= 9000:
        raise ValueError("timestamp out of range (1970-9000)")
    return converted


def _local_or_utc(value: datetime) -> datetime:
    return value if value.tzinfo is None else _utc(value)


def in_zone(value: datetime | None, time_zone: ZoneInfo) -> datetime | None:
    """A query filter's time in UTC: one without a zone is a wall-clock time in `time_zone`."""
    if value is None or value.tzinfo is not None:
        return value
    return _utc(value.replace(tzinfo=time_zone))


def _e164(value: str) -> str:
    if not re.fullmatch(E164_PATTERN, value):
        raise PydanticCustomError(
            "phone_number",
            "must be a phone number in international form: + and country code, then the "
            "number, digits only (like +15551234567)",
        )
    return value


_Clean = AfterValidator(clean_text)

Name = Annotated[
    str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True), _Clean
]
ShortText = Annotated[
    str, StringConstraints(min_length=1, max_length=500, strip_whitespace=True), _Clean
]
LongText = Annotated[
    str, StringConstraints(min_length=1, max_length=8000, strip_whitespace=True), _Clean
]
Phone = Annotated[
    str,
    AfterValidator(_e164),
    WithJsonSchema({"type": "string", "pattern": E164_PATTERN, "examples": ["+15551234567"]}),
]
CallerNumber = Annotated[str, StringConstraints(min_length=1, max_length=64), _Clean]
Timestamp = Annotated[AwareDatetime, AfterValidator(_utc)]
LocalTimestamp = Annotated[
    datetime,
    AfterValidator(_local_or_utc),
    WithJsonSchema(
        {
            "type": "string",
            "description": "A date (2026-12-01), a time (2026-12-01T09:30) or a time with a "
            "zone; without a zone, read in the tenant's time zone.",
        }
    ),
]
JsonObject = Annotated[dict[str, Any], AfterValidator(clean_json)]
Cursor = Annotated[
    str, StringConstraints(min_length=1, max_length=512, pattern=r"^[A-Za-z0-9_-]+$")
]
CallSid = Annotated[str, StringConstraints(pattern=r"^CA[0-9a-f]{32}$")]
RecordingSid = Annotated[str, StringConstraints(pattern=r"^RE[0-9a-f]{32}$")]
Email = Annotated[
    str,
    BeforeValidator(lambda v: v.strip().lower() if isinstance(v, str) else v),
    StringConstraints(
        min_length=3, max_length=254, pattern=r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$"
    ),
    _Clean,
]
Limit = Annotated[int, Field(ge=1, le=200)]


class RequestModel(BaseModel):
    """Request bodies: unknown fields and coerced types are refused, so a typo is an error."""

    model_config = ConfigDict(extra="forbid", strict=True)


class PublicModel(BaseModel):
    """Response bodies."""

    model_config = ConfigDict(from_attributes=True)


T = TypeVar("T")


class Page(PublicModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` for the next page; null on the last page."
    )


class FieldProblem(PublicModel):
    loc: list[str]
    msg: str
    type: str


class Problem(PublicModel):
    """Every error: what was wrong, and for invalid input each field's problem."""

    detail: str
    errors: list[FieldProblem] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": text}
    for code, text in (
        (400, "Malformed request (JSON, cursor, Content-Length)"),
        (401, "Missing, invalid or expired token, or the session ended"),
        (403, "Not allowed for your role"),
        (404, "No such object in your tenant"),
        (409, "Conflicts with existing data"),
        (413, "Request body too large"),
        (422, "Invalid input"),
        (429, "Too many attempts; see Retry-After"),
        (503, "Database unavailable; see Retry-After"),
    )
}
