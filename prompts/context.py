"""Caller context: what the agency knows about a caller, packed into a size budget.

Pure functions; the clock is passed in as ``now``. The dataclasses are what the memory
layer hands over (values already rendered as text); ``pack_context`` turns them into the
"caller context" part of the model's instructions.

Packing: items are considered in priority order - who the caller is (profile), how to speak
with them (personality), the last three call summaries (newest first), what we know
(memories, highest score first), agency knowledge (highest score first). Each item goes in
whole or not at all. An item that does not fit is skipped, so lower-priority items are the
first to go when the budget is tight; a smaller item further down may still use the room
that is left. The result never exceeds ``budget_chars``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from prompts.personality import describe_personality

NEW_CALLER_LINE = "This is a new caller; nothing is known about them yet."
MAX_SUMMARIES = 3

_PROFILE = "## Who the caller is"
_PERSONALITY = "## How to speak with them"
_SUMMARIES = "## Their last calls (newest first)"
_MEMORIES = "## What we know about them"
_KNOWLEDGE = "## Agency knowledge"


@dataclass(frozen=True, slots=True)
class CallerProfile:
    """The caller's profile; ``total_calls`` counts their earlier calls, not this one."""

    phone: str
    preferred_name: str | None
    total_calls: int
    first_call_at: datetime | None
    last_call_at: datetime | None


@dataclass(frozen=True, slots=True)
class CallSummary:
    """The summary of one earlier call."""

    at: datetime
    summary: str
    sentiment: str | None
    resolution: str | None


@dataclass(frozen=True, slots=True)
class MemoryItem:
    """One remembered fact about the caller; ``value`` is already rendered as text."""

    type: str
    key: str
    value: str
    score: float


@dataclass(frozen=True, slots=True)
class KnowledgeItem:
    """One entry of the agency's knowledge base (fact, rule, procedure...)."""

    kind: str
    title: str
    body: str
    score: float


@dataclass(frozen=True, slots=True)
class CallerContext:
    """Everything known about the caller and relevant agency knowledge, before packing."""

    profile: CallerProfile | None
    personality: Mapping[str, float]
    summaries: tuple[CallSummary, ...]
    memories: tuple[MemoryItem, ...]
    knowledge: tuple[KnowledgeItem, ...]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _check_aware(value: datetime, what: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime")


def _plural(count: int, unit: str) -> str:
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def relative_date(at: datetime, now: datetime) -> str:
    """``at`` relative to ``now`` ("3 days ago"), with the date in ``now``'s zone."""
    _check_aware(at, "a context timestamp")
    _check_aware(now, "now")
    seconds = (now - at).total_seconds()
    days = int(seconds // 86400)
    if seconds < 60:
        ago = "just now"
    elif seconds < 3600:
        ago = _plural(int(seconds // 60), "minute") + " ago"
    elif seconds < 86400:
        ago = _plural(int(seconds // 3600), "hour") + " ago"
    elif days < 14:
        ago = _plural(days, "day") + " ago"
    elif days < 60:
        ago = _plural(days // 7, "week") + " ago"
    elif days < 365:
        ago = _plural(days // 30, "month") + " ago"
    else:
        ago = _plural(days // 365, "year") + " ago"
    return f"{ago} ({at.astimezone(now.tzinfo).date().isoformat()})"


def _profile_lines(profile: CallerProfile, now: datetime) -> list[str]:
    lines: list[str] = []
    name = _one_line(profile.preferred_name or "")
    if name:
        lines.append(f"Their name is {name}.")
    else:
        lines.append(
            "Their name is not known yet; if it is needed, ask for it and confirm the spelling."
        )
    first = profile.first_call_at
    last = profile.last_call_at
    if profile.total_calls <= 0:
        lines.append("This is their first call.")
    elif profile.total_calls == 1:
        when = f", {relative_date(last, now)}" if last is not None else ""
        lines.append(f"They have called once before{when}.")
    else:
        parts = []
        if first is not None:
            parts.append(f"first call {relative_date(first, now)}")
        if last is not None:
            parts.append(f"last call {relative_date(last, now)}")
        when = f"; {', '.join(parts)}" if parts else ""
        lines.append(f"They have called {profile.total_calls} times before{when}.")
    return lines


def _summary_line(summary: CallSummary, now: datetime) -> str:
    line = f"{relative_date(summary.at, now)}: {_one_line(summary.summary)}"
    notes = []
    if summary.sentiment and summary.sentiment.strip():
        notes.append(f"mood: {_one_line(summary.sentiment)}")
    if summary.resolution and summary.resolution.strip():
        notes.append(f"outcome: {_one_line(summary.resolution)}")
    if notes:
        line += f" ({'; '.join(notes)})"
    return line


def _candidates(
    ctx: CallerContext, now: datetime, announce_new_caller: bool
) -> list[tuple[str | None, str]]:
    """All items as (section heading, line), in priority order."""
    items: list[tuple[str | None, str]] = []
    phrases = describe_personality(ctx.personality)
    summaries = sorted(ctx.summaries, key=lambda s: s.at, reverse=True)[:MAX_SUMMARIES]
    memories = sorted(ctx.memories, key=lambda m: (-m.score, m.type, m.key, m.value))
    knowledge = sorted(ctx.knowledge, key=lambda k: (-k.score, k.kind, k.title, k.body))

    if ctx.profile is not None:
        items.extend((_PROFILE, line) for line in _profile_lines(ctx.profile, now))
    elif announce_new_caller and not (phrases or summaries or memories):
        items.append((None, NEW_CALLER_LINE))
    if phrases:
        items.append((_PERSONALITY, f"Earlier calls suggest they are: {', '.join(phrases)}."))
    items.extend((_SUMMARIES, _summary_line(s, now)) for s in summaries)
    items.extend(
        (_MEMORIES, f"({_one_line(m.type)}) {_one_line(m.key)}: {_one_line(m.value)}")
        for m in memories
    )
    items.extend(
        (_KNOWLEDGE, f"{_one_line(k.title)} ({_one_line(k.kind)}): {_one_line(k.body)}")
        for k in knowledge
    )
    return items


def _render(chosen: Sequence[tuple[str | None, str]]) -> str:
    blocks: list[list[str]] = []
    current: str | None = None
    for index, (heading, line) in enumerate(chosen):
        if index == 0 or heading != current:
            blocks.append([] if heading is None else [heading])
            current = heading
        blocks[-1].append(line if heading is None else f"- {line}")
    return "\n\n".join("\n".join(block) for block in blocks)


def pack_context(
    ctx: CallerContext,
    *,
    budget_chars: int = 6000,
    now: datetime,
    announce_new_caller: bool = True,
) -> str:
    """The caller context as text of at most ``budget_chars`` characters (see module doc).
    With ``announce_new_caller`` off, a context with nothing about the caller does not say
    they are new (used when what is known is withheld, not absent).

    ``now`` and every timestamp in ``ctx`` must be tz-aware; relative dates are computed
    from ``now`` and calendar dates shown in ``now``'s zone.
    """
    _check_aware(now, "now")
    if budget_chars < 0:
        raise ValueError("budget_chars must not be negative")
    chosen: list[tuple[str | None, str]] = []
    length = 0
    for heading, line in _candidates(ctx, now, announce_new_caller):
        # The exact growth of _render(chosen): candidates arrive grouped by section, so an
        # item either continues the last section (one newline) or opens a new one (a blank
        # line and its heading).
        text = line if heading is None else f"- {line}"
        opens_section = not chosen or heading != chosen[-1][0]
        cost = len(text)
        if opens_section and heading is not None:
            cost += len(heading) + 1
        if chosen:
            cost += 2 if opens_section else 1
        if length + cost <= budget_chars:
            chosen.append((heading, line))
            length += cost
    return _render(chosen)
