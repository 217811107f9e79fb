"""What a tenant lets the store keep of a call's words. I/O: one read of the tenant's agent row,
inside the transaction that writes (for turn batches, inside the very statement that writes:
memory.calls and memory.turn_batches check the policy this process last saw as they insert).

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
POLICY_RETRIES = 5
MAX_REMEMBERED = 10_000


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


# Each tenant's policy as this process last read it: only a guess of what a write will find,
# which the write checks in the same statement (the turn inserts of memory.calls and
# memory.turn_batches), so a stale guess costs one more statement, never a word kept that the
# tenant's policy no longer allows.
_last_seen: dict[str, ContentPolicy] = {}


def last_seen_policy(tenant_id: str) -> ContentPolicy:
    """The tenant's policy as last seen here; the defaults for a tenant not seen yet."""
    return _last_seen.get(tenant_id) or ContentPolicy()


def seen_policy(tenant_id: str, policy: ContentPolicy) -> ContentPolicy:
    if len(_last_seen) >= MAX_REMEMBERED:
        _last_seen.clear()
    _last_seen[tenant_id] = policy
    return policy
