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


def urgent_rule(conditions: tuple[str, ...], *, on_call: bool) -> str:
    """The line that lets urgent claims through (engine.urgent_claims): the agency's urgent
    conditions, and whether someone on call takes them."""
    then = (
        "it alerts the staff and puts the caller through to the person on call"
        if on_call
        else "it alerts the staff, who call back as soon as they can; tell the caller so"
    )
    return (
        f"Urgent claims still go through: if the caller reports a claim where "
        f"{'; or '.join(conditions)}, ask briefly what happened and call report_urgent_claim "
        f"at once ({then}). Anything else is not urgent: take a message."
    )
