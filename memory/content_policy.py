"""What a tenant lets the store keep of a call's words. I/O: one read of the tenant's agent row,
inside the transaction that writes.

Two settings of `agent_configs` (0020): `pii_redaction` (on by default) replaces card numbers,
SSNs, dates of birth, policy and account numbers (engine.redact) in every turn, message, memory
and summary; `keep_transcripts` false keeps none of a call's words at all - turns keep their
role, order and timing with empty text, and no memory or summary is taken from the call. Every
write of call content goes through `content_policy`, so the rules hold whichever path the words
arrive by (a live call's turns, a tool, post-call extraction, a consolidation).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from engine.redact import redact
from memory.db import Conn

_POLICY = "SELECT pii_redaction, keep_transcripts FROM agent_configs WHERE tenant_id = $1"


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    redact: bool = True
    keep_transcripts: bool = True

    def text(self, text: str) -> str:
        """`text` as it may be stored (redacted when the tenant redacts)."""
        return redact(text) if self.redact else text

    def turn_text(self, text: str) -> str:
        """A turn's text as it may be stored: nothing in no-transcripts mode."""
        return self.text(text) if self.keep_transcripts else ""

    def value(self, value: object) -> object:
        """A JSON value with every string in it as it may be stored."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


async def content_policy(conn: Conn, tenant_id: str) -> ContentPolicy:
    """The tenant's policy as stored now; a tenant with no agent row gets the defaults
    (redacted, kept)."""
    row = await conn.fetchrow(_POLICY, uuid.UUID(tenant_id))
    if row is None:
        return ContentPolicy()
    return ContentPolicy(redact=row["pii_redaction"], keep_transcripts=row["keep_transcripts"])
