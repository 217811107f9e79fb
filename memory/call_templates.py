"""Call templates: what the post-call job extracts for one kind of call. Pure, no I/O.

An agency switches templates on (the ready insurance set below, or its own); the post-call job
asks the model, in the same structured answer as the summary, which template fits the call and
for that template's fields (`template_schema`: one `anyOf` option per template, told apart by
its `key`, plus `none`). Every field may be null: the model leaves out what was not said.
The chosen template and its fields land on the call's summary, the `call.analyzed` event and
the call's Notion page.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

FieldType = Literal["text", "number", "yes_no", "date", "choice"]
NO_TEMPLATE = "none"
MAX_TEMPLATES = 20
MAX_FIELDS = 25
_MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class TemplateField:
    name: str
    type: FieldType
    description: str
    options: tuple[str, ...] = ()  # the choices of a `choice` field


@dataclass(frozen=True, slots=True)
class CallTemplate:
    key: str
    name: str
    use_when: str  # which calls it is for, as the model is told
    fields: tuple[TemplateField, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TemplateResult:
    """The template the model chose for a call, and the fields it found (None: not said)."""

    key: str
    name: str
    fields: dict[str, object]


def _f(name: str, kind: FieldType, description: str, *options: str) -> TemplateField:
    return TemplateField(name, kind, description, options)


READY: dict[str, CallTemplate] = {
    t.key: t
    for t in (
        CallTemplate(
            "claim_intake",
            "Claim intake (first notice of loss)",
            "The caller reports a loss or damage to file a claim: an accident, a collision, "
            "theft, fire, water or storm damage, an injury.",
            (
                _f("policy_number", "text", "The policy number the loss is under"),
                _f("date_of_loss", "date", "When the loss happened"),
                _f("place_of_loss", "text", "Where the loss happened: address, road or place"),
                _f("what_happened", "text", "What happened, in the caller's words, short"),
                _f("vehicle", "text", "The vehicle involved: year, make, model"),
                _f("injuries", "yes_no", "Whether anyone was injured or hurt"),
                _f("police_report", "yes_no", "Whether the police came or a report was made"),
                _f("photos_requested", "yes_no", "Whether the caller was asked for photos"),
            ),
        ),
        CallTemplate(
            "certificate_request",
            "Certificate of insurance request",
            "The caller needs a certificate of insurance (COI) or proof of insurance sent to "
            "someone: a landlord, a client, a general contractor, a lender.",
            (
                _f("policy_number", "text", "The policy number the certificate is for"),
                _f("certificate_holder", "text", "Who the certificate is for (the holder)"),
                _f("send_to", "text", "The email or address to send the certificate to"),
                _f("needed_by", "date", "When the certificate is needed"),
            ),
        ),
        CallTemplate(
            "payment_question",
            "Payment question",
            "The caller asks about a bill, a payment, a premium, an invoice, a due date or a "
            "late or missed payment.",
            (
                _f("policy_number", "text", "The policy number the payment is for"),
                _f("amount", "number", "The amount in dollars the caller mentioned"),
                _f("due_date", "date", "The due date mentioned"),
                _f("question", "text", "What the caller wants to know or do about the payment"),
            ),
        ),
        CallTemplate(
            "policy_change",
            "Policy change",
            "The caller wants to change an existing policy: add or remove a driver or a "
            "vehicle, change an address, a coverage or a deductible.",
            (
                _f("policy_number", "text", "The policy number to change"),
                _f(
                    "change",
                    "choice",
                    "What kind of change",
                    "add vehicle",
                    "remove vehicle",
                    "add driver",
                    "remove driver",
                    "address",
                    "coverage",
                    "other",
                ),
                _f("details", "text", "The change as the caller described it"),
                _f("effective_date", "date", "When the change should take effect"),
            ),
        ),
        CallTemplate(
            "quote_lead",
            "New quote lead",
            "A new customer, or a customer about a new policy, asks for a quote or a price on "
            "insurance.",
            (
                _f("caller_name", "text", "The caller's full name"),
                _f(
                    "line",
                    "choice",
                    "The kind of insurance wanted",
                    "auto",
                    "home",
                    "renters",
                    "life",
                    "business",
                    "umbrella",
                    "other",
                ),
                _f("current_carrier", "text", "Who insures them today, if anyone"),
                _f("best_time", "text", "When they would like to be called back"),
                _f("email", "text", "Their email address"),
            ),
        ),
    )
}


def field_schema(field: TemplateField) -> dict[str, Any]:
    """One field as a strict JSON schema: its type, or null when the call did not say."""
    description = field.description
    if field.type == "date":
        description += " (YYYY-MM-DD when the day is clear, else as said)"
    if field.type == "choice":
        return {
            "type": ["string", "null"],
            "enum": [*field.options, None],
            "description": description,
        }
    kind = {"text": "string", "number": "number", "yes_no": "boolean", "date": "string"}[field.type]
    return {"type": [kind, "null"], "description": description}


def _option(key: str, description: str, fields: Sequence[TemplateField] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {"key": {"type": "string", "enum": [key]}}
    if fields is not None:
        properties["fields"] = {
            "type": "object",
            "properties": {f.name: field_schema(f) for f in fields},
            "required": [f.name for f in fields],
            "additionalProperties": False,
        }
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


def template_schema(templates: Sequence[CallTemplate]) -> dict[str, Any]:
    """The `template` property of the post-call answer: one option per template, and none."""
    options = [_option(t.key, f"{t.name}: {t.use_when}", t.fields) for t in templates]
    options.append(_option(NO_TEMPLATE, "None of the other options fits this call.", None))
    return {
        "anyOf": options,
        "description": "The one option that fits what the call was about, with its fields",
    }


def _value(field: TemplateField, value: object) -> object:
    """A schema-valid field value, bounded (text trimmed, numbers finite)."""
    if value is None:
        return None
    if field.type == "yes_no":
        return value if isinstance(value, bool) else None
    if field.type == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return value if abs(value) < 1e12 else None
    if field.type == "choice":
        return value if value in field.options else None
    text = " ".join(str(value).split())[:_MAX_TEXT]
    return text or None


def parse_template(
    data: Mapping[str, Any], templates: Sequence[CallTemplate]
) -> TemplateResult | None:
    """The chosen template and its fields from a schema-valid answer; None when none fits."""
    chosen = data.get("template")
    if not isinstance(chosen, Mapping):
        return None
    template = next((t for t in templates if t.key == chosen.get("key")), None)
    if template is None:
        return None
    raw = chosen.get("fields")
    found = raw if isinstance(raw, Mapping) else {}
    return TemplateResult(
        template.key,
        template.name,
        {f.name: _value(f, found.get(f.name)) for f in template.fields},
    )


def template_payload(result: TemplateResult | None) -> dict[str, object] | None:
    """The chosen template as the call.analyzed event and the admin API show it."""
    if result is None:
        return None
    return {"key": result.key, "name": result.name, "fields": dict(result.fields)}


def template_from_json(key: str, value: Mapping[str, Any], enabled: bool) -> CallTemplate:
    """A stored template (validated by the admin API when it was saved)."""
    return CallTemplate(
        key,
        str(value["name"]),
        str(value["use_when"]),
        tuple(
            TemplateField(
                str(f["name"]), f["type"], str(f["description"]), tuple(f.get("options", ()))
            )
            for f in value["fields"]
        ),
        enabled,
    )


def template_json(template: CallTemplate) -> dict[str, Any]:
    """What is stored of a template besides its key and whether it is on."""
    return {
        "name": template.name,
        "use_when": template.use_when,
        "fields": [
            {"name": f.name, "type": f.type, "description": f.description}
            | ({"options": list(f.options)} if f.options else {})
            for f in template.fields
        ],
    }
