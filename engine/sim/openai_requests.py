"""What the OpenAI HTTP simulator accepts in a request body, and its chat answer. Pure (no I/O).

`chat_request` and `embedding_request` check a body the way the API does and raise `BadRequest`
(message and param of OpenAI's 400) when it would refuse it; `chat_answer` is the completion's
content, from engine.sim.openai_rules and engine.sim.openai_schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

from engine.sim.openai_rules import analyse
from engine.sim.openai_schema import answer, strict_schema_problem

MAX_EMBEDDING_INPUTS = 2048
_MODEL_DIMENSIONS = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
_SCHEMA_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


class BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


def _message_text(message: Any, index: int) -> tuple[str, str]:
    if not isinstance(message, dict) or message.get("role") not in _ROLES:
        raise BadRequest(f"Invalid value for 'messages[{index}].role'.", f"messages[{index}]")
    content = message.get("content")
    if isinstance(content, str):
        return message["role"], content
    if isinstance(content, list):
        parts = [
            p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"
        ]
        return message["role"], "\n".join(str(p) for p in parts)
    if content is None and message["role"] == "assistant":
        return "assistant", ""
    raise BadRequest(f"Invalid type for 'messages[{index}].content'.", f"messages[{index}].content")


def chat_request(body: dict[str, Any]) -> tuple[str, str, dict[str, Any] | None]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise BadRequest("'messages' must be a non-empty array.", "messages")
    said = [_message_text(m, i) for i, m in enumerate(messages)]
    # The conversation to analyse is what the user sent; instructions are not conversation.
    text = "\n".join(t for role, t in said if role == "user")
    response_format = body.get("response_format")
    if response_format is None:
        return model, text, None
    if not isinstance(response_format, dict) or response_format.get("type") not in (
        "text",
        "json_object",
        "json_schema",
    ):
        raise BadRequest("Invalid value for 'response_format.type'.", "response_format.type")
    if response_format["type"] == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise BadRequest(
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema.name",
            )
        if not _SCHEMA_NAME.match(spec["name"]):
            raise BadRequest(
                "Invalid 'response_format.json_schema.name'.", "response_format.json_schema.name"
            )
        schema = spec.get("schema", {})
        if not isinstance(schema, dict) or schema.get("type") != "object":
            raise BadRequest(
                "Invalid schema for response_format: the root must be an object.", "response_format"
            )
        if spec.get("strict"):
            problem = strict_schema_problem(schema)
            if problem:
                raise BadRequest(
                    f"Invalid schema for response_format '{spec['name']}': {problem}.",
                    "response_format",
                )
    elif (
        response_format["type"] == "json_object"
        and "json" not in text.lower() + json.dumps(body.get("messages")).lower()
    ):
        raise BadRequest(
            "'messages' must contain the word 'json' in some form, to use "
            "'response_format' of type 'json_object'.",
            "messages",
        )
    return model, text, response_format


def chat_answer(text: str, response_format: dict[str, Any] | None) -> str:
    if response_format is None or response_format["type"] == "text":
        return str(analyse(text)["summary"])
    if response_format["type"] == "json_object":
        return json.dumps(analyse(text))
    return json.dumps(answer(text, response_format["json_schema"].get("schema", {})))


def embedding_request(body: dict[str, Any]) -> tuple[str, list[str], int, str]:
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    raw = body.get("input")
    inputs = [raw] if isinstance(raw, str) else raw
    if not isinstance(inputs, list) or not inputs or len(inputs) > MAX_EMBEDDING_INPUTS:
        raise BadRequest("'$.input' is invalid. Please check the API reference.", "input")
    if not all(isinstance(t, str) and t for t in inputs):
        raise BadRequest("'$.input' is invalid: inputs must be non-empty strings.", "input")
    default = _MODEL_DIMENSIONS.get(model)
    if default is None:
        raise BadRequest(
            f"The model `{model}` does not exist or you do not have access to it.", "model"
        )
    dimensions = body.get("dimensions", default)
    if model == "text-embedding-ada-002" and "dimensions" in body:
        raise BadRequest("This model does not support specifying dimensions.", "dimensions")
    if (
        isinstance(dimensions, bool)
        or not isinstance(dimensions, int)
        or not 1 <= dimensions <= default
    ):
        raise BadRequest(
            f"Invalid 'dimensions': must be an integer from 1 to {default}.", "dimensions"
        )
    encoding = body.get("encoding_format", "float")
    if encoding not in ("float", "base64"):
        raise BadRequest("Invalid value for 'encoding_format'.", "encoding_format")
    return model, list(inputs), dimensions, encoding
