"""What a text to the agency's staff says, per event. Pure: no I/O.

Short (two SMS segments at most), the caller's name and number first so staff can call back
from the notification, and a reference that ties the text to its event (engine.sms_sender uses
it to never send the same text twice).
"""

from __future__ import annotations

from collections.abc import Mapping

MAX_CHARS = 300


def reference(event_id: str) -> str:
    return "ref " + event_id.replace("-", "")[:10]


def clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def staff_text(event_type: str, data: Mapping[str, object], event_id: str) -> str:
    ref = reference(event_id)
    if event_type == "message.taken":
        who = str(data.get("caller_name") or "A caller")
        number = str(data.get("callback_number") or data.get("caller_number") or "")
        when = data.get("preferred_time")
        urgent = data.get("urgent")
        kind = f"URGENT claim after hours ({urgent})" if urgent else "New message"
        head = f"{kind} from {who} {number}".rstrip()
        tail = f" Best time: {when}." if when else ""
        reason = str(data.get("reason") or "")
        room = MAX_CHARS - len(head) - len(tail) - len(ref) - 6  # ": ", ".", " (", ")"
        return f"{head}: {clip(reason, max(room, 20))}.{tail} ({ref})"
    if event_type == "call.analyzed":
        summary = str(data.get("summary") or "")
        room = MAX_CHARS - len(ref) - 20
        return f"Call summary: {clip(summary, room)} ({ref})"
    return f"{event_type} {data.get('call_sid', '')} ({ref})"
