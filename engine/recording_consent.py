"""Recording consent: whether a caller must hear the recording notice before recording starts,
and whether what they said declines it. Pure.

In all-party-consent states everyone on a call must agree to its recording, so a caller there
hears the notice first and recording starts only once it has played; a caller who then says no
("please don't record this") gets an unrecorded call. Whether a call needs that is the tenant's
rule: "always" (every caller, the default), or "all_party_states" - the agency's own state
(`tenants.jurisdiction`) or the caller's, read from the area code of their number, is one of
them. An area code says where the number was issued, not where the caller stands, which is why
"always" is the default.
"""

from __future__ import annotations

import re
from typing import Literal

ConsentRule = Literal["always", "all_party_states"]
# A call's recording: none (the tenant does not record, or a resumed call), from_start (no
# notice needed: Twilio records from the answer), awaiting_notice (starts once the notice has
# played), after_notice (started then), declined (the caller said no: stopped or never started)
Recording = Literal["none", "from_start", "awaiting_notice", "after_notice", "declined"]

ALL_PARTY_STATES = frozenset(
    {"CA", "CT", "DE", "FL", "IL", "MD", "MA", "MI", "MT", "NV", "NH", "OR", "PA", "WA"}
)

_AREA_CODES: dict[str, tuple[int, ...]] = {
    "CA": (209, 213, 279, 310, 323, 341, 350, 369, 408, 415, 424, 442, 510, 530, 559, 562, 619,
           626, 628, 650, 657, 661, 669, 707, 714, 747, 760, 805, 818, 820, 831, 840, 858, 909,
           916, 925, 949, 951),
    "CT": (203, 475, 860, 959),
    "DE": (302,),
    "FL": (239, 305, 321, 324, 352, 386, 407, 448, 561, 645, 656, 689, 727, 728, 754, 772, 786,
           813, 850, 863, 904, 941, 954),
    "IL": (217, 224, 309, 312, 331, 447, 464, 618, 630, 708, 730, 773, 779, 815, 847, 861, 872),
    "MD": (227, 240, 301, 410, 443, 667),
    "MA": (339, 351, 413, 508, 617, 774, 781, 857, 978),
    "MI": (231, 248, 269, 313, 517, 586, 616, 679, 734, 810, 906, 947, 989),
    "MT": (406,),
    "NV": (702, 725, 775),
    "NH": (603,),
    "OR": (458, 503, 541, 971),
    "PA": (215, 223, 267, 272, 412, 445, 484, 570, 582, 610, 717, 724, 814, 835, 878),
    "WA": (206, 253, 360, 425, 509, 564),
}  # fmt: skip
_STATE_OF_AREA = {code: state for state, codes in _AREA_CODES.items() for code in codes}

_NANP = re.compile(r"^\+1(\d{3})\d{7}$")
_DECLINES = re.compile(
    r"(?i)\b(?:(?:do not|don'?t|please don'?t|not)\s+(?:want\s+(?:to\s+be|it|this(?: call)?)\s+)?"
    r"record(?:ed|ing)?\b|no recording|stop (?:the )?recording|not be recorded|"
    r"(?:do not|don'?t) consent|no (?:doy|acepto)|no (?:me )?grabe|sin grabar|no quiero que "
    r"(?:se )?grabe)"
)


def all_party_state(number: str) -> str | None:
    """The all-party-consent state a US/Canadian number's area code belongs to, or None."""
    match = _NANP.match(number)
    return _STATE_OF_AREA.get(int(match.group(1))) if match else None


def notice_first(rule: str, *, caller_number: str, jurisdiction: str | None) -> bool:
    """Whether this caller must hear the recording notice before recording starts."""
    if rule != "all_party_states":
        return True  # "always", and any rule this code does not know: the careful side
    return (jurisdiction or "") in ALL_PARTY_STATES or all_party_state(caller_number) is not None


def declines_recording(text: str) -> bool:
    """Whether the caller's words refuse the recording ("please don't record this")."""
    return _DECLINES.search(text.replace("’", "'")) is not None


def initial_recording(
    *, record_calls: bool, rule: str, caller_number: str, jurisdiction: str | None, attempt: int
) -> Recording:
    """How a call's recording begins. A resumed call (attempt > 0) starts with none: its
    recording stands as the call's record says (`resumed_recording`), read before it speaks."""
    if not record_calls or attempt > 0:
        return "none"
    if notice_first(rule, caller_number=caller_number, jurisdiction=jurisdiction):
        return "awaiting_notice"
    return "from_start"


def stored_recording(recording: Recording) -> str | None:
    """What the call's record says about its recording (calls.recording)."""
    return {"awaiting_notice": "not_started", "none": None}.get(recording, recording)


_RESUMED: dict[str, Recording] = {
    "from_start": "from_start",
    "after_notice": "after_notice",
    "declined": "declined",
    "not_started": "awaiting_notice",
}


def resumed_recording(stored: str | None) -> Recording:
    """How a call resumed on a new actor takes up its recording from the call's record
    (calls.recording, kept as it changes): one running goes on and can still be declined, one
    declined stays off, and one owed - the notice had not finished playing when the call was
    lost - starts once the resumed call has said the notice again. No record: none."""
    return _RESUMED.get(stored or "", "none")
