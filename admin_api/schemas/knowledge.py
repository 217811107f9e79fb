"""Request and response bodies of /knowledge."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, StringConstraints

from admin_api.schemas.common import LongText, PublicModel, RequestModel, clean_text

KnowledgeKind = Literal["fact", "rule", "procedure", "faq"]
Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
    AfterValidator(clean_text),
]


class KnowledgeCreate(RequestModel):
    kind: KnowledgeKind
    title: Title
    body: LongText


class KnowledgeUpdate(RequestModel):
    kind: KnowledgeKind | None = None
    title: Title | None = None
    body: LongText | None = None


class KnowledgePublic(PublicModel):
    entry_id: str
    kind: KnowledgeKind
    title: str
    body: str
    updated_at: datetime
