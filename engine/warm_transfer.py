"""Warm transfer, the pure parts: which rule a transfer follows, what the person who answers
is told, and what became of the attempt.

A warm transfer puts the caller on hold in a Twilio conference named for the call, calls the
transfer target with a whisper (who is calling and why, then "press 1 to take the call"), and
joins the two when the person presses 1. Busy, no answer, a failed call, a decline or a hang-up
before accepting bring the caller back to the agent, which takes a message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from engine.config import TransferRule

ACCEPT_DIGIT = "1"
RING_TIMEOUT_S = 20  # seconds the target rings before Twilio reports no-answer
GATHER_TIMEOUT_S = 8  # seconds the person has to press a key after the summary
MAX_WHY = 160  # characters of the model's reason spoken in the summary

Result = Literal["completed", "busy", "no-answer", "failed", "canceled", "declined"]


@dataclass(frozen=True, slots=True)
class WarmRequest:
    """What the tenant actor needs to place the warm transfer of one call."""

    number: str  # the target
    caller_id: str = ""  # the agency number the target sees calling
    summary: str = ""  # spoken to the person who answers


def warm_rule(rules: tuple[TransferRule, ...], number: str) -> TransferRule | None:
    """The warm rule dialling `number`, None when the transfer is a cold one."""
    for rule in rules:
        if rule.number == number and rule.mode == "warm":
            return rule
    return None


def conference_name(call_sid: str) -> str:
    """One conference per call, named so a callback names its call."""
    return f"warm-{call_sid}"


def _spoken_number(number: str) -> str:
    digits = [c for c in number if c.isdigit()]
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    return " ".join(digits) if digits else "a withheld number"


def summary(
    rule: TransferRule, caller_number: str, caller_name: str | None = None, why: str = ""
) -> str:
    """Who is calling and why, for the person who answers: `why` is the reason the model gave
    for the transfer (one line, at most MAX_WHY characters)."""
    who = caller_name or f"a caller from {_spoken_number(caller_number)}"
    team = rule.description or rule.keyword
    reason = " ".join(why.split())[:MAX_WHY].rstrip(" .")
    about = f", about {reason}" if reason else ""
    return f"This is the agency's assistant with {who}, asking for {team}{about}."


def result_of_status(call_status: str) -> Result | None:
    """The attempt's end from the target call's final status; None while it is still going
    (or it completed: whether it was accepted is the whisper's answer)."""
    if call_status in ("busy", "no-answer", "failed", "canceled"):
        return call_status  # type: ignore[return-value]
    return None


def return_note(result: Result) -> str:
    """The line the agent reads when the caller comes back from a failed transfer."""
    why = {
        "busy": "the line was busy",
        "no-answer": "nobody answered",
        "failed": "the call could not be placed",
        "canceled": "the call was cancelled",
        "declined": "the person could not take the call",
    }.get(result, "nobody could take the call")
    return (
        f"The transfer did not go through: {why}. The caller is back with you. "
        "Apologise briefly, offer to take a message, and take it with take_message."
    )
