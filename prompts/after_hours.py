"""What the agent is told about a call taken while the agency's office is closed. Pure.

The rule goes into the instructions' extra rules (engine.session_prompt): the office is closed,
why when there is a reason (a holiday), when it opens again, that nobody can take a transfer,
and that the agent takes a message instead.
"""

from __future__ import annotations


def after_hours_rule(*, reason: str, opens: str) -> str:
    """One line for the instructions; ``opens`` as engine.business_hours.opens_text says it."""
    why = f" ({reason})" if reason else ""
    return (
        f"The office is closed right now{why}; it opens again {opens}. Nobody there can take a "
        "call: do not offer or attempt a transfer. Offer to take a message with take_message "
        "(their name, the best number and time to call back, and what it is about), and tell "
        "the caller when the office opens."
    )
