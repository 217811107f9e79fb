"""Response bodies of /audit."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from admin_api.schemas.common import PublicModel


class AuditEntryPublic(PublicModel):
    entry_id: int
    at: datetime
    actor_id: str | None
    actor_email: str | None
    action: str
    target: str | None
    changes: dict[str, Any]
