"""Request and response bodies of /call-templates (memory.call_templates)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field, StringConstraints, model_validator

from admin_api.schemas.common import PublicModel, RequestModel, clean_text
from memory.call_templates import MAX_FIELDS, CallTemplate, FieldType, TemplateField

TEMPLATE_KEY = r"^[a-z][a-z0-9_]{1,39}$"
_FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
_Clean = AfterValidator(clean_text)
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=80, strip_whitespace=True), _Clean
]
Said = Annotated[
    str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True), _Clean
]
Option = Annotated[
    str, StringConstraints(min_length=1, max_length=60, strip_whitespace=True), _Clean
]


class FieldSpec(RequestModel):
    """One field: `choice` fields name their `options`; no other type has any."""

    name: Annotated[str, StringConstraints(pattern=_FIELD_NAME)]
    type: FieldType
    description: Said
    options: Annotated[list[Option], Field(max_length=20)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _options(self) -> FieldSpec:
        if self.type == "choice" and not self.options:
            raise ValueError("a choice field needs options")
        if self.type != "choice" and self.options:
            raise ValueError("only a choice field has options")
        if len({o.lower() for o in self.options}) != len(self.options):
            raise ValueError("options must not repeat")
        return self


class CallTemplateSet(RequestModel):
    """A template of the agency's own, or a ready one changed: the calls it is for
    (`use_when`, as the model is told) and the fields to find in them."""

    name: Label
    use_when: Said
    fields: Annotated[list[FieldSpec], Field(min_length=1, max_length=MAX_FIELDS)]
    enabled: bool = True

    @model_validator(mode="after")
    def _unique(self) -> CallTemplateSet:
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names):
            raise ValueError("field names must not repeat")
        return self

    def template(self, key: str) -> CallTemplate:
        return CallTemplate(
            key,
            self.name,
            self.use_when,
            tuple(
                TemplateField(f.name, f.type, f.description, tuple(f.options)) for f in self.fields
            ),
            self.enabled,
        )


class CallTemplateSwitch(RequestModel):
    enabled: bool


class FieldPublic(PublicModel):
    name: str
    type: str
    description: str
    options: list[str]


class CallTemplatePublic(PublicModel):
    key: str
    name: str
    use_when: str
    fields: list[FieldPublic]
    enabled: bool
    ready: bool = Field(description="One of the ready insurance templates (same key).")
    updated_at: datetime | None


def template_public(
    template: CallTemplate, *, ready: bool, updated_at: datetime | None
) -> CallTemplatePublic:
    return CallTemplatePublic(
        key=template.key,
        name=template.name,
        use_when=template.use_when,
        fields=[
            FieldPublic(
                name=f.name, type=f.type, description=f.description, options=list(f.options)
            )
            for f in template.fields
        ],
        enabled=template.enabled,
        ready=ready,
        updated_at=updated_at,
    )
