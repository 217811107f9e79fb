"""What the text confirming a caller's message says. Pure: no I/O.

One SMS segment where it can be: who it is from, that the message is in, the reference the
caller can quote (the same one the agency's staff see, engine.staff_texts.reference), the time
they asked to be called back, and how to stop texts (the carriers' and Twilio's rule for
messages to consumers).
"""

from __future__ import annotations

from collections.abc import Mapping

from engine.staff_texts import clip, reference

MAX_AGENCY_CHARS = 40
MAX_TIME_CHARS = 40


def caller_text(agency: str, data: Mapping[str, object], event_id: str) -> str:
    """The confirmation of a `message.taken` event to the caller who left it."""
    when = data.get("preferred_time")
    callback = f" Callback time you asked for: {clip(str(when), MAX_TIME_CHARS)}." if when else ""
    return (
        f"{clip(agency, MAX_AGENCY_CHARS)}: we have your message ({reference(event_id)}) and "
        f"will call you back.{callback} Reply STOP to opt out."
    )
