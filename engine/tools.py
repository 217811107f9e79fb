"""The agent's tools as data: names, descriptions, JSON schemas, timeouts. Pure.

Which tools an agent has comes from its tenant's config; their schemas go into
`session.update`. Arguments the model sends are parsed and validated here against the schema;
a bad argument is an error result for the model, never an exception in the call. The
implementations (which do I/O) live in actors/call_tools.py.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from engine.config import AgencyTool, TenantConfig

FILLER_AFTER_S = 1.0
# How a tool call went, for its metrics: ok, it ran (its answer may still say no); error, it
# could not (unknown, bad arguments, failed); timeout, it ran out of its time.
ToolStatus = Literal["ok", "error", "timeout"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    name: str
    description: str
    parameters: dict[str, Any]
    timeout_s: float = 5.0
    agency: AgencyTool | None = None  # set for a tool the agency defined (engine.agency_tools)

    def session_entry(self) -> dict[str, Any]:
        return {
            "type": "function",
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters,
        }


class ToolArgumentError(ValueError):
    """Arguments that are not JSON or do not satisfy the tool's schema."""


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


def _end_call() -> ToolSpec:
    return ToolSpec(
        "end_call",
        "End the phone call. Use it when the caller says goodbye or has nothing else, or when "
        "the conversation is clearly over. You will be asked to say goodbye; the line is hung "
        "up once your goodbye has been heard.",
        _object({"reason": {"type": "string", "maxLength": 200}}, []),
        timeout_s=2.0,
    )


def _transfer_call(tenant: TenantConfig) -> ToolSpec:
    keywords = [rule.keyword for rule in tenant.transfer_rules]
    lines = "; ".join(
        f"'{r.keyword}': {r.description or 'transfer target'}" for r in tenant.transfer_rules
    )
    return ToolSpec(
        "transfer_call",
        "Transfer the caller to a person at the agency. Use it when the caller asks for a "
        f"person or a department, or needs something you cannot do. Targets: {lines}.",
        _object(
            {
                "target": {"type": "string", "enum": keywords},
                "reason": {"type": "string", "maxLength": 300},
            },
            ["target"],
        ),
        timeout_s=2.0,
    )


def _get_current_time() -> ToolSpec:
    return ToolSpec(
        "get_current_time",
        "The current date and time at the agency, to answer questions about time, opening "
        "hours or dates.",
        _object({}, []),
        timeout_s=1.0,
    )


def _take_message() -> ToolSpec:
    return ToolSpec(
        "take_message",
        "Record a message or callback request for the agency staff. Confirm the details with "
        "the caller first, and ask whether they would like a text confirming it.",
        _object(
            {
                "reason": {"type": "string", "minLength": 1, "maxLength": 2000},
                "caller_name": {"type": "string", "maxLength": 200},
                "callback_number": {"type": "string", "pattern": r"^\+?[0-9 ()\-.]{7,20}$"},
                "preferred_time": {"type": "string", "maxLength": 200},
                "text_confirmation": {
                    "type": "boolean",
                    "description": "true only when the caller said yes to a confirming text",
                },
            },
            ["reason"],
        ),
        timeout_s=5.0,
    )


MEMORY_TYPES = (
    "person",
    "fact",
    "preference",
    "commitment",
    "identity",
    "vehicle",
    "policy",
    "claim",
    "property",
)


def _remember() -> ToolSpec:
    return ToolSpec(
        "remember",
        "Store something the caller wants remembered, or an important fact about them, for "
        'future calls ("remember that my daughter starts driving in May"). Use a short '
        "stable key so the same fact updates instead of duplicating, e.g. 'spouse', "
        "'vehicle:2019 honda civic', 'claim:4471'.",
        _object(
            {
                "fact": {"type": "string", "minLength": 1, "maxLength": 500},
                "category": {"type": "string", "enum": list(MEMORY_TYPES)},
                "key": {"type": "string", "minLength": 1, "maxLength": 80},
            },
            ["fact", "category", "key"],
        ),
        timeout_s=5.0,
    )


def _search_knowledge() -> ToolSpec:
    return ToolSpec(
        "search_knowledge",
        "Look up the agency's own knowledge base (office procedures, coverage facts, FAQs) "
        "before answering a question about the agency or its policies. Answer only from what "
        "it returns, and say which entry you used (its title); if nothing fits, say you will "
        "have someone follow up instead of guessing.",
        _object({"query": {"type": "string", "minLength": 2, "maxLength": 300}}, ["query"]),
        timeout_s=3.0,
    )


REPORT_URGENT_CLAIM = "report_urgent_claim"


def _report_urgent_claim(tenant: TenantConfig) -> ToolSpec:
    """Offered by the engine (never chosen by an admin) in a call taken while the office is
    closed, when the agency lists urgent conditions (engine.urgent_claims)."""
    urgent = tenant.urgent
    return ToolSpec(
        REPORT_URGENT_CLAIM,
        "Report an urgent claim while the office is closed: only when the caller's claim "
        "matches one of the urgent conditions. The staff are alerted at once"
        + (" and the caller is put through to the person on call." if urgent.number else "."),
        _object(
            {
                "condition": {"type": "string", "enum": list(urgent.conditions)},
                "details": {"type": "string", "minLength": 1, "maxLength": 1000},
                "caller_name": {"type": "string", "maxLength": 200},
                "callback_number": {"type": "string", "pattern": r"^\+?[0-9 ()\-.]{7,20}$"},
            },
            ["condition", "details"],
        ),
        timeout_s=5.0,
    )


VERIFY_CALLER = "verify_caller"


def verify_caller_spec(tenant: TenantConfig) -> ToolSpec:
    """Offered by the engine (never chosen by an admin) while a known caller is unverified:
    the caller's stated identifiers, checked by the engine against what is on file."""
    fields = tenant.verification.fields
    return ToolSpec(
        VERIFY_CALLER,
        "Check the identity of the caller with what they have just told you, before discussing "
        "anything about their own account. Pass exactly what they said for each item you asked "
        "for. The answer says only whether they are verified.",
        _object(
            {field: {"type": "string", "minLength": 1, "maxLength": 200} for field in fields},
            [],
        ),
        timeout_s=5.0,
    )


def transcript_line(name: str, arguments: str) -> str:
    """A tool call as the call's transcript keeps it. A verify_caller call keeps only which
    identifiers were stated, never their values (a date of birth, a policy number): the engine
    checks them and the record of the attempt names the fields alone."""
    if name != VERIFY_CALLER:
        return f"{name}({arguments})"
    try:
        given = json.loads(arguments)
    except ValueError:
        given = None
    fields = sorted(str(k) for k in given) if isinstance(given, dict) else ["..."]
    return f"{name}({', '.join(fields)})"


_REGISTRY: dict[str, Callable[[TenantConfig], ToolSpec | None]] = {
    "end_call": lambda tenant: _end_call(),
    "transfer_call": lambda tenant: _transfer_call(tenant) if tenant.transfer_rules else None,
    "get_current_time": lambda tenant: _get_current_time(),
    "take_message": lambda tenant: _take_message(),
    "remember": lambda tenant: _remember(),
    "search_knowledge": lambda tenant: _search_knowledge(),
}
TOOL_NAMES: tuple[str, ...] = tuple(_REGISTRY)
"""Every tool an agent may be given, in the order they are offered."""
RESERVED_NAMES = frozenset((*TOOL_NAMES, VERIFY_CALLER, REPORT_URGENT_CLAIM))
"""Names an agency's own tool may not take."""
# An agency tool's answer reaches the model after this much over its own timeout at most (the
# HTTP client gives up at the tool's timeout; this bounds the whole run).
AGENCY_GRACE_S = 0.5


def _agency_spec(tool: AgencyTool) -> ToolSpec:
    return ToolSpec(
        tool.name, tool.description, tool.parameters, tool.timeout_s + AGENCY_GRACE_S, tool
    )


def tool_specs(tenant: TenantConfig) -> dict[str, ToolSpec]:
    """The tools this tenant's agent has, by name: the built-in ones it was given
    (`transfer_call` needs at least one rule), `report_urgent_claim` while the office is
    closed (engine.urgent_claims), then the agency's own."""
    specs: dict[str, ToolSpec] = {}
    for name in tenant.tools:
        build = _REGISTRY.get(name)
        spec = build(tenant) if build is not None else None
        if spec is not None:
            specs[name] = spec
    if tenant.closed is not None and tenant.urgent.conditions:
        specs[REPORT_URGENT_CLAIM] = _report_urgent_claim(tenant)
    for tool in tenant.agency_tools:  # after the built-in ones, which keep their names
        if tool.name not in RESERVED_NAMES:
            specs.setdefault(tool.name, _agency_spec(tool))
    return specs


def parse_arguments(spec: ToolSpec, raw: str) -> dict[str, Any]:
    """Arguments as a dict, or ToolArgumentError with a message the model can act on."""
    try:
        value = json.loads(raw) if raw.strip() else {}
    except (json.JSONDecodeError, RecursionError):
        raise ToolArgumentError("arguments are not valid JSON") from None
    if not isinstance(value, dict):
        raise ToolArgumentError("arguments must be a JSON object")
    from jsonschema import Draft202012Validator  # ~2 MB: only in calls that use a tool

    errors = sorted(Draft202012Validator(spec.parameters).iter_errors(value), key=str)
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "arguments"
        raise ToolArgumentError(f"{where}: {first.message}")
    return value


def tool_output(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":"), default=str)
