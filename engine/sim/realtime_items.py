"""The conversation items a client may add to a simulated OpenAI Realtime session. Pure.

`normalize_client_item` validates a `conversation.item.create` item the way the real API does
and returns it as the server stores it, or raises `RequestError`.
"""

from __future__ import annotations

from typing import Any

from engine.sim.realtime_validation import (
    expect_enum,
    expect_keys,
    expect_object,
    expect_string,
    invalid_type,
)

_ITEM_KEYS = frozenset(
    ["id", "type", "object", "status", "role", "content", "call_id", "name", "arguments", "output"]
)
_CONTENT_TYPES = {
    "user": ("input_text", "input_audio", "input_image"),
    "system": ("input_text",),
    "assistant": ("output_text",),
}


def normalize_client_item(item: object, item_id: str) -> dict[str, Any]:
    """Validate a `conversation.item.create` item; return it as the server stores it."""
    raw = expect_object(item, "item")
    expect_keys(raw, _ITEM_KEYS, "item")
    kind = expect_enum(
        raw.get("type"), ("message", "function_call", "function_call_output"), "item.type"
    )
    out: dict[str, Any] = {
        "id": item_id,
        "object": "realtime.item",
        "type": kind,
        "status": "completed",
    }
    if kind == "function_call":
        out |= {
            "name": expect_string(raw, "name", "item"),
            "call_id": expect_string(raw, "call_id", "item"),
            "arguments": raw.get("arguments", "{}"),
        }
        if not isinstance(out["arguments"], str):
            raise invalid_type("item.arguments", "a string")
        return out
    if kind == "function_call_output":
        return out | {
            "call_id": expect_string(raw, "call_id", "item"),
            "output": expect_string(raw, "output", "item"),
        }
    role = expect_enum(raw.get("role"), ("user", "assistant", "system"), "item.role")
    content = raw.get("content")
    if not isinstance(content, list):
        raise invalid_type("item.content", "an array")
    parts: list[dict[str, Any]] = []
    for i, part in enumerate(content):
        path = f"item.content[{i}]"
        part_type = expect_enum(
            expect_object(part, path).get("type"), _CONTENT_TYPES[role], f"{path}.type"
        )
        if part_type in ("input_text", "output_text"):
            parts.append({"type": part_type, "text": expect_string(part, "text", path)})
        else:
            parts.append(
                {
                    k: v
                    for k, v in part.items()
                    if k in ("type", "audio", "transcript", "image_url", "detail")
                }
            )
    return out | {"role": role, "content": parts}
