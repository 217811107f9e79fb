"""What an event writes into the agency's Notion databases, as Notion page properties. Pure.

Every page carries a `Key` (rich text: the caller's number, the call SID or the message id), by
which the sync finds it again, so a page is updated rather than added twice. A task is written
only when it is first created: staff move it along in Notion, and a replayed event must not
put a done task back to "To do".

A call template's fields go on the call's page one property each ("Policy number",
"Injuries", ...), typed by their value (text, number, checkbox). A Notion database refuses a
property it does not have, so such a write names the `columns` it needs: the client adds them to
the database first (Update database), once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

PageKind = Literal["caller", "call", "message", "task"]
MAX_TEXT = 2000  # Notion's limit for one rich text object


@dataclass(frozen=True, slots=True)
class PageWrite:
    kind: PageKind
    key: str
    properties: dict[str, Any]
    create_only: bool = False  # the whole page is written only when it is created
    on_create: dict[str, Any] | None = None  # properties written only when it is created
    columns: dict[str, Any] | None = None  # database properties to add before writing


def _text(value: object) -> list[dict[str, Any]]:
    content = "" if value is None else str(value)
    return [{"type": "text", "text": {"content": content[:MAX_TEXT]}}]


def _title(value: object) -> dict[str, Any]:
    return {"title": _text(value)}


def _rich(value: object) -> dict[str, Any]:
    return {"rich_text": _text(value)}


def _date(value: object) -> dict[str, Any]:
    return {"date": {"start": str(value)} if value else None}


def _select(value: object) -> dict[str, Any]:
    return {"select": {"name": str(value)[:100]} if value else None}


def _fields_text(fields: object) -> str:
    """A template's fields as lines a person reads: "Policy number: HO-55120"."""
    if not isinstance(fields, Mapping):
        return ""

    def shown(value: object) -> object:
        return {True: "yes", False: "no"}[value] if isinstance(value, bool) else value

    return "\n".join(
        f"{_label(name)}: {shown(value)}" for name, value in fields.items() if value is not None
    )


_CALL_PROPERTIES = frozenset(
    {"Name", "Key", "Caller", "Outcome", "Started", "Duration (s)", "Transferred to"}
    | {"Transcript", "Summary", "Sentiment", "Resolution", "Topics", "Details"}
    | {"Template", "Intake"}
)


def _label(name: object) -> str:
    return str(name).replace("_", " ").capitalize()[:100]


def _field_columns(fields: object) -> tuple[dict[str, Any], dict[str, Any]]:
    """A template's fields as call-page properties, one each, and the database columns they
    need. A field named like one of the page's own properties stays in Intake only."""
    values: dict[str, Any] = {}
    columns: dict[str, Any] = {}
    if not isinstance(fields, Mapping):
        return values, columns
    for name, value in fields.items():
        label = _label(name)
        if value is None or label in _CALL_PROPERTIES:
            continue
        written: object = value
        if isinstance(value, bool):
            kind = "checkbox"
        elif isinstance(value, int | float):
            kind = "number"
        else:
            kind, written = "rich_text", _text(value)
        values[label] = {kind: written}
        columns[label] = {kind: {}}
    return values, columns


def _caller(number: str, name: object, at: object) -> PageWrite:
    """A caller's page: a name learnt later replaces the number as its title, never the
    other way round."""
    properties = {"Key": _rich(number), "Phone": {"phone_number": number}}
    if at:
        properties["Last call"] = _date(at)
    if name:
        properties["Name"] = _title(name)
    return PageWrite("caller", number, properties, on_create={"Name": _title(name or number)})


def page_writes(event_type: str, data: Mapping[str, Any], transcript_url: str) -> list[PageWrite]:
    """The pages one event creates or updates, in order (the caller before their call)."""
    if event_type == "call.ended":
        call_sid = str(data["call_sid"])
        number = str(data.get("from") or "")
        duration = data.get("duration_ms")
        call = {
            "Name": _title(f"Call {data.get('started_at', '')[:16].replace('T', ' ')}"),
            "Key": _rich(call_sid),
            "Caller": _rich(number),
            "Outcome": _select(data.get("outcome")),
            "Started": _date(data.get("started_at")),
            "Duration (s)": {"number": round(duration / 1000) if duration else None},
            "Transferred to": _rich(data.get("transferred_to") or ""),
            "Transcript": {"url": transcript_url.format(call_sid=call_sid)},
        }
        return [_caller(number, None, data.get("started_at")), PageWrite("call", call_sid, call)]
    if event_type == "call.analyzed":
        call_sid = str(data["call_sid"])
        topics = [{"name": str(t)[:100].replace(",", " ")} for t in data.get("key_topics", [])]
        call = {
            "Key": _rich(call_sid),
            "Summary": _rich(data.get("summary")),
            "Sentiment": _select(data.get("sentiment")),
            "Resolution": _select(data.get("resolution_status")),
            "Topics": {"multi_select": topics[:20]},
            "Details": _rich(json.dumps(data.get("extracted") or {}, sort_keys=True)),
        }
        template = data.get("template")
        columns = None
        if isinstance(template, Mapping):
            call["Template"] = _select(template.get("name"))
            call["Intake"] = _rich(_fields_text(template.get("fields")))
            fields, columns = _field_columns(template.get("fields"))
            call.update(fields)
        return [PageWrite("call", call_sid, call, columns=columns or None)]
    if event_type == "message.taken":
        message_id = str(data["message_id"])
        number = str(data.get("callback_number") or data.get("caller_number") or "")
        who = data.get("caller_name") or number
        urgent = data.get("urgent")
        message = {
            "Name": _title(data.get("reason")),
            "Urgent": {"checkbox": bool(urgent)},
            "Key": _rich(message_id),
            "Caller": _rich(who),
            "Phone": {"phone_number": number or None},
            "Preferred time": _rich(data.get("preferred_time") or ""),
            "Call": _rich(data.get("call_sid")),
            "Taken": _date(data.get("created_at")),
        }
        if urgent:
            message["Urgent claim"] = _rich(urgent)
        task = {
            "Name": _title(f"{'URGENT: ' if urgent else ''}Call back {who}"),
            "Key": _rich(message_id),
            "Status": _select("To do"),
            "Phone": {"phone_number": number or None},
        }
        caller = _caller(str(data.get("caller_number") or number), data.get("caller_name"), None)
        return [
            caller,
            PageWrite("message", message_id, message),
            PageWrite("task", message_id, task, create_only=True),
        ]
    return []
