"""Request and response bodies of /custom-tools: the tools an agency defines for its agent.

The name must fit the realtime model's function names and not take a built-in tool's; the
parameters must be a valid JSON Schema (draft 2020-12) for an object; the secret is write-only.
Whether plain http:// is allowed depends on the deployment (admin_api.routers.custom_tools).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, Field, StringConstraints

from admin_api.schemas.common import PublicModel, RequestModel, clean_text
from admin_api.schemas.integrations import check_endpoint_url
from engine.tools import RESERVED_NAMES

MAX_SCHEMA_BYTES = 8 * 1024  # each schema goes to the model at every session start


def check_name(value: str) -> str:
    if value in RESERVED_NAMES:
        raise ValueError(f"'{value}' is a built-in tool's name")
    return value


def check_parameters(value: dict[str, Any]) -> dict[str, Any]:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if len(json.dumps(value)) > MAX_SCHEMA_BYTES:
        raise ValueError(f"must be at most {MAX_SCHEMA_BYTES} bytes as JSON")
    if value.get("type") != "object":
        raise ValueError('must describe an object ("type": "object"): the arguments are one')
    try:
        Draft202012Validator.check_schema(value)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "schema"
        raise ValueError(f"not a valid JSON Schema at {where}: {exc.message}") from None
    return value


ToolName = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z][a-z0-9_]{1,47}$"),
    AfterValidator(check_name),
]
Description = Annotated[
    str,
    StringConstraints(min_length=1, max_length=1000, strip_whitespace=True),
    AfterValidator(clean_text),
]
Parameters = Annotated[dict[str, Any], AfterValidator(check_parameters)]
ToolUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2000, strip_whitespace=True),
    AfterValidator(clean_text),
    AfterValidator(check_endpoint_url),
]
Secret = Annotated[
    str, StringConstraints(min_length=16, max_length=256), AfterValidator(clean_text)
]
TimeoutMs = Annotated[int, Field(ge=500, le=10000)]


class CustomToolCreate(RequestModel):
    name: ToolName
    description: Description = Field(description="What the model is told the tool does.")
    parameters: Parameters = Field(description="JSON Schema of the arguments (an object).")
    url: ToolUrl = Field(description="Where the arguments are POSTed (https://).")
    secret: Secret = Field(description="Signs each request; write-only.")
    timeout_ms: TimeoutMs = 5000
    enabled: bool = True


class CustomToolUpdate(RequestModel):
    """Only what is given changes; a new `secret` replaces the old one."""

    name: ToolName | None = None
    description: Description | None = None
    parameters: Parameters | None = None
    url: ToolUrl | None = None
    secret: Secret | None = None
    timeout_ms: TimeoutMs | None = None
    enabled: bool | None = None


class CustomToolPublic(PublicModel):
    tool_id: str
    name: str
    description: str
    parameters: dict[str, Any]
    url: str
    timeout_ms: int
    enabled: bool
    created_at: datetime
    updated_at: datetime
