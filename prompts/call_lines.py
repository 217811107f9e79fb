"""What the agent is asked to say at fixed moments of a call (goodbyes, checks, handoffs). Pure.

Each is a `response.instructions` text with the words to say in double quotes (the model says
them; the offline simulator speaks exactly the quoted part).
"""

from __future__ import annotations


def _say(text: str) -> str:
    return f'Say exactly this, in your own voice, and nothing else: "{text.replace(chr(34), "")}"'


GOODBYE = _say("Thank you for calling. Goodbye!")
STILL_THERE = _say("Are you still there?")
SILENCE_GOODBYE = _say(
    "I haven't heard anything for a while, so I'll end the call now. Please call back anytime. "
    "Goodbye!"
)
TIME_LIMIT = _say(
    "We've reached the time limit for this call. Thank you for calling, and please call back "
    "if you need anything else. Goodbye!"
)
FILLER = _say("One moment while I check that.")
RESUMED_CUT_OFF = (
    "Your last answer was cut off by a connection problem. Finish it briefly without "
    "repeating what you already said."
)


def handoff(description: str) -> str:
    return _say(f"One moment, I'm transferring you to {description} now.")


def keypad(digit: str) -> str:
    return f"The caller pressed {digit} on their keypad."
