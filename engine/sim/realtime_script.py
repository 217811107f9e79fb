"""What a simulated OpenAI Realtime session hears and says: scripts and their JSON form. Pure.

- `Script` / `Reply`: what the caller "said" (transcripts, in order) and what the model answers.
- `script_from_json` / `script_to_json`: the control channel's form of a script.
- `quoted_reply`: the reply forced by quoted response instructions.

The other pure parts of the simulator sit beside it: `engine.sim.realtime_session_rules` (what a
`session.update` may change), `engine.sim.realtime_items` (client conversation items),
`engine.sim.realtime_reply_audio` (the audio a reply is spoken with), and
`engine.sim.realtime_validation` (the API's error for a bad client event).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

INAUDIBLE = "(inaudible)"
FALLBACK_REPLY = "I understand. Is there anything else I can help you with?"


@dataclass(frozen=True, slots=True)
class Reply:
    """One model turn. With `function` set the model calls that tool with `arguments` (the raw
    JSON string sent to the client, possibly invalid on purpose); a non-empty `text` is then
    spoken first, in the same response."""

    text: str = ""
    function: str | None = None
    arguments: str = "{}"


@dataclass(frozen=True, slots=True)
class Script:
    """What a simulated session hears (`transcripts`, one per user turn) and says (`replies`,
    one per response not forced by quoted instructions)."""

    transcripts: tuple[str, ...] = ()
    replies: tuple[Reply, ...] = ()


def script_from_json(data: object) -> tuple[str, Script]:
    """Parse a control-channel message `{"match", "transcripts", "replies"}`; ValueError if bad."""
    if not isinstance(data, dict):
        raise ValueError("expected a JSON object")
    match = data.get("match")
    if not isinstance(match, str):
        raise ValueError("'match' must be a string")
    transcripts = data.get("transcripts", [])
    if not isinstance(transcripts, list) or not all(isinstance(t, str) for t in transcripts):
        raise ValueError("'transcripts' must be a list of strings")
    raw_replies = data.get("replies", [])
    if not isinstance(raw_replies, list):
        raise ValueError("'replies' must be a list")
    replies: list[Reply] = []
    for i, raw in enumerate(raw_replies):
        if not isinstance(raw, dict) or set(raw) - {"text", "function", "arguments"}:
            raise ValueError(f"replies[{i}] must be an object with text/function/arguments")
        text, function, arguments = (
            raw.get("text", ""),
            raw.get("function"),
            raw.get("arguments", "{}"),
        )
        if not isinstance(text, str) or not isinstance(arguments, str):
            raise ValueError(f"replies[{i}]: 'text' and 'arguments' must be strings")
        if function is not None and not isinstance(function, str):
            raise ValueError(f"replies[{i}]: 'function' must be a string")
        replies.append(Reply(text=text, function=function, arguments=arguments))
    return match, Script(transcripts=tuple(transcripts), replies=tuple(replies))


def script_to_json(match: str, script: Script) -> dict[str, Any]:
    replies: list[dict[str, str]] = []
    for reply in script.replies:
        entry = {"text": reply.text}
        if reply.function is not None:
            entry |= {"function": reply.function, "arguments": reply.arguments}
        replies.append(entry)
    return {"match": match, "transcripts": list(script.transcripts), "replies": replies}


def quoted_reply(instructions: object) -> str | None:
    """Text between the first and last double quote of response instructions, if any."""
    if not isinstance(instructions, str):
        return None
    first, last = instructions.find('"'), instructions.rfind('"')
    return instructions[first + 1 : last] if last > first >= 0 else None
