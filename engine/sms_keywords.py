"""The keywords a texter uses to stop, restart or ask about texts, as Twilio reads them. Pure.

Twilio's defaults for long codes: a message that is only a keyword (any case, surrounding
spaces ignored; "stop texting me" is not one) opts the sender out (STOP, STOPALL, UNSUBSCRIBE,
CANCEL, END, QUIT, REVOKE, OPTOUT), back in (START, YES, UNSTOP) or asks for help (HELP, INFO).
Twilio itself blocks texts to a number that opted out and answers each keyword with its
standard reply; with Advanced Opt-Out it names the keyword's kind in `OptOutType` (the agency's
own keywords included), which is then believed over the body.
"""

from __future__ import annotations

from typing import Literal

Keyword = Literal["stop", "start", "help"]

_WORDS: dict[str, Keyword] = {
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT"), "stop"
    ),
    **dict.fromkeys(("START", "YES", "UNSTOP"), "start"),
    **dict.fromkeys(("HELP", "INFO"), "help"),
}
_OPT_OUT_TYPES: dict[str, Keyword] = {"STOP": "stop", "START": "start", "HELP": "help"}


def keyword(body: str, opt_out_type: str = "") -> Keyword | None:
    """What an inbound text asks for, or None when it is not a keyword message."""
    if opt_out_type:
        return _OPT_OUT_TYPES.get(opt_out_type.strip().upper())
    return _WORDS.get(body.strip().upper())
