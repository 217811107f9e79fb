"""Session instructions for the realtime model, and the request texts that make it speak.

Pure functions; the clock is passed in. The text comes from ``templates/instructions.txt``
(section templates) and ``templates/tools.txt`` (when to use each tool), read once.

``build_instructions`` assembles, in a fixed order: identity and the system-role block, the
other four prompt blocks, persona slider lines, the rules every agent follows, the tools,
the date and time in the tenant's zone, the caller's number and packed context, how the call
opened (the greeting, which the engine has the model speak separately), and - for a call
resumed after a technical interruption - what was said so far. The same inputs always give
the same text.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from prompts._templates import template_sections
from prompts.blocks import BLOCK_NAMES, resolve_blocks
from prompts.context import NEW_CALLER_LINE
from prompts.greeting import local_time
from prompts.persona import slider_instructions

_SECTIONS: tuple[str, ...] = (
    "identity",
    *BLOCK_NAMES[1:],
    "persona",
    "rules",
    "tools",
    "no_tools",
    "clock",
    "caller",
    "opening",
    "resumed",
)
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_DOUBLE_QUOTES = str.maketrans({'"': "'", "“": "'", "”": "'", "„": "'", "«": "'", "»": "'"})


@dataclass(frozen=True, slots=True)
class AgentPrompt:
    """The tenant's agent settings that shape its instructions.

    ``blocks`` maps a block name to a preset name or ``"custom:<text>"`` (missing blocks use
    their defaults); ``sliders`` may leave out keys (they count as 50).
    """

    agency_name: str
    agent_name: str
    sliders: Mapping[str, int]
    blocks: Mapping[str, str]
    time_zone: str
    tools: tuple[str, ...] = ()
    extra_rules: tuple[str, ...] = ()


@functools.cache
def _sections() -> Mapping[str, str]:
    sections = template_sections("instructions.txt")
    if tuple(sections) != _SECTIONS:
        raise RuntimeError(
            f"templates/instructions.txt: sections {tuple(sections)}, expected {_SECTIONS}"
        )
    return sections


@functools.cache
def _tool_hints() -> Mapping[str, str]:
    return {name: " ".join(text.split()) for name, text in template_sections("tools.txt").items()}


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _quote_safe(text: str) -> str:
    """``text`` on one line with every double quote turned into a single quote."""
    return _one_line(text.translate(_DOUBLE_QUOTES))


def _required(value: str, what: str) -> str:
    cleaned = _one_line(value)
    if not cleaned:
        raise ValueError(f"{what} is blank")
    return cleaned


def format_date_time(now: datetime, time_zone: str) -> str:
    """E.g. "Monday, March 3, 2025, 10:15 AM" on the wall clock of ``time_zone``.

    Built by hand rather than with ``strftime`` so the output never depends on the locale.
    """
    local = local_time(now, time_zone)
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (
        f"{_DAYS[local.weekday()]}, {_MONTHS[local.month - 1]} {local.day}, {local.year}, "
        f"{hour12}:{local.minute:02d} {meridiem}"
    )


def _tool_lines(tools: tuple[str, ...]) -> str:
    hints = _tool_hints()
    lines = []
    for name in dict.fromkeys(_required(tool, "a tool name") for tool in tools):
        hint = hints.get(name, "Use it when its description says it applies.")
        lines.append(f"- {name}: {hint}")
    return "\n".join(lines)


def build_instructions(
    agent: AgentPrompt,
    *,
    caller_number: str,
    context: str,
    greeting: str,
    now: datetime,
    resumed_from: str | None = None,
) -> str:
    """The realtime session instructions for one call.

    ``context`` is the output of ``prompts.context.pack_context``; ``greeting`` the greeting
    the engine has the model speak (see ``greeting_request``). ``resumed_from`` is a short
    recap of the turns so far when the call resumes after a technical interruption; the
    agent is then told to apologise in one sentence and carry on, not to greet again.
    ``ValueError`` for blank names, number or greeting, an unknown time zone, a naive
    ``now``, invalid sliders or blocks.
    """
    sections = _sections()
    blocks = resolve_blocks(agent.blocks)
    persona = slider_instructions(agent.sliders)
    extra_rules = [_one_line(rule) for rule in agent.extra_rules if rule.strip()]
    values: dict[str, str] = {
        "agent_name": _required(agent.agent_name, "agent_name"),
        "agency_name": _required(agent.agency_name, "agency_name"),
        **blocks,
        "persona_lines": "\n".join(f"- {line}" for line in persona),
        "extra_rules": "\n".join(f"- {rule}" for rule in extra_rules),
        "tool_lines": _tool_lines(agent.tools),
        "date_time": format_date_time(now, agent.time_zone),
        "time_zone": agent.time_zone,
        "caller_number": _required(caller_number, "caller_number"),
        "context": context.strip() or NEW_CALLER_LINE,
        "greeting": _quote_safe(_required(greeting, "greeting")),
        "recap": (resumed_from or "").strip() or "Nothing yet beyond your greeting.",
    }
    skip = {"tools" if not agent.tools else "no_tools"}
    if not persona:
        skip.add("persona")
    if resumed_from is None:
        skip.add("resumed")
    parts = [sections[name].format_map(values).strip() for name in _SECTIONS if name not in skip]
    return "\n\n".join(parts) + "\n"


def greeting_request(greeting: str) -> str:
    """The ``response.instructions`` that make the model speak ``greeting`` verbatim.

    The greeting appears exactly once, between the only two double quotes of the text (any
    double quotes inside it become single quotes), as the realtime simulator expects.
    """
    text = _quote_safe(_required(greeting, "greeting"))
    return f'Say exactly this greeting and nothing else: "{text}"'


def resume_request(recording_notice: str | None = None) -> str:
    """The ``response.instructions`` for the first reply after a resumed call.

    Without a notice it contains no double quotes, so the realtime simulator does not mistake
    it for a verbatim line. With `recording_notice` (a recording still owed its notice when the
    call was lost) the notice is the one quoted line, said before anything else.
    """
    text = (
        "The call has just been reconnected after a brief technical interruption. Apologise "
        "in one short sentence and continue where you left off; do not greet the caller again."
    )
    if recording_notice:
        notice = _quote_safe(recording_notice)
        text += f' Right after the apology, say this notice word for word: "{notice}"'
    return text
