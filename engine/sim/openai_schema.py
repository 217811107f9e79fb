"""How the OpenAI HTTP simulator shapes its answer to a request's JSON schema. Pure (no I/O).

`answer` fits what engine.sim.openai_rules found in a conversation to the schema (`fit`), so
every answer validates, known schema or not; an `anyOf` of described options (the post-call
job's call templates) is answered like a model would, by the option whose description the
conversation matches, with its fields found in what the caller said (engine.sim.openai_fields).
`strict_schema_problem` says what OpenAI's strict structured outputs would refuse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jsonschema

from engine.sim.openai_fields import choose_option, fill_option
from engine.sim.openai_rules import analyse


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    return [str(kind)] if kind is not None else []


def fit(schema: Mapping[str, Any], value: Any, text: str = "") -> Any:
    """``value`` reshaped to satisfy ``schema``: unknown keys dropped, missing required ones
    filled with neutral values, wrong types replaced, numbers clamped to their bounds. An
    `anyOf` whose options are described objects is answered from the conversation ``text``."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = schema[key]
            if text and all("description" in o and "object" in _types(o) for o in options):
                option = choose_option(options, text)
                return fit(option, fill_option(option, text))
            for option in options:
                candidate = fit(option, value, text)
                if jsonschema.Draft202012Validator(option).is_valid(candidate):
                    return candidate
            return fit(options[0], None)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return value if value in schema["enum"] else schema["enum"][0]
    types = _types(schema)
    if value is None and "null" in types:
        return None
    if "object" in types:
        source = value if isinstance(value, Mapping) else {}
        properties: Mapping[str, Any] = schema.get("properties", {})
        required = set(schema.get("required", ()))
        return {
            name: fit(sub, source.get(name), text)
            for name, sub in properties.items()
            if name in source or name in required
        }
    if "array" in types:
        items = value if isinstance(value, list) else []
        fitted = [fit(schema.get("items", {}), item, text) for item in items]
        return fitted[: int(schema.get("maxItems", len(fitted)))]
    if "integer" in types or "number" in types:
        if isinstance(value, bool) or not isinstance(value, int | float):
            if "null" in types:
                return None
            value = schema.get("minimum", 0)
        low = schema.get("minimum", -math.inf)
        high = schema.get("maximum", math.inf)
        number = min(max(value, low), high)
        return round(number) if "integer" in types else float(number)
    if "boolean" in types:
        return value if isinstance(value, bool) else False
    if "string" in types:
        if isinstance(value, str):
            return value
        return "" if value is None else str(value)
    if "null" in types:
        return None
    return value


def strict_schema_problem(schema: Any, path: str = "schema") -> str | None:
    """What OpenAI's strict structured outputs would refuse in ``schema``, or None."""
    if not isinstance(schema, Mapping):
        return f"{path} must be an object"
    if "oneOf" in schema:
        return f"{path}: 'oneOf' is not permitted"
    types = _types(schema)
    if None in schema.get("enum", ()) and "null" not in types:
        return f"{path}: enum value None does not validate against {{'type': {types}}}"
    if "object" in types:
        properties = schema.get("properties", {})
        if schema.get("additionalProperties") is not False:
            return f"{path}: 'additionalProperties' is required to be supplied and to be false"
        missing = sorted(set(properties) - set(schema.get("required", ())))
        if missing:
            return f"{path}: 'required' is required to include every property; missing {missing}"
        for name, sub in properties.items():
            problem = strict_schema_problem(sub, f"{path}.properties.{name}")
            if problem:
                return problem
    if "array" in types and "items" in schema:
        return strict_schema_problem(schema["items"], f"{path}.items")
    for key in ("anyOf",):
        for index, sub in enumerate(schema.get(key, ())):
            problem = strict_schema_problem(sub, f"{path}.{key}[{index}]")
            if problem:
                return problem
    return None


def answer(text: str, schema: Mapping[str, Any]) -> Any:
    """The simulator's JSON answer to a conversation, valid against ``schema``."""
    result = fit(schema, analyse(text), text)
    jsonschema.Draft202012Validator(schema).validate(result)
    return result
