"""Several calls' turn batches written together: one statement, one round trip, whatever the
number of calls and tenants (the `append_call_turns` function, migration 0032). I/O: asyncpg.

Each tenant's rows are written under that tenant's own setting (the function sets it before
writing them), so row-level security holds per tenant as in memory.db's tenant_tx. Each
tenant's text is prepared under the content policy this process last saw for it, and the
function writes a tenant's rows only if that policy still holds; the tenants whose policy
changed are prepared again under the stored one and sent again, so a changed policy applies
from the very next batch (as in memory.calls.append_turns).

One call's batch never fails another's: a call with no row for its tenant (not the tenant's,
or gone) is left out by the function and reported alone; a statement that fails for any other
reason the database gives (a refused value) is retried call by call, each on its own, so only
the guilty batch fails. Turns are keyed `(tenant_id, call_sid, seq)` with ON CONFLICT DO
NOTHING: a retry never duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from memory.call_records import Turn
from memory.content_policy import POLICY_RETRIES, ContentPolicy, last_seen_policy, seen_policy
from memory.db import check_tenant_id, one_statement
from memory.errors import Conflict, Unavailable

_APPEND = """
SELECT o_tenant, o_redact, o_keep, o_missing FROM append_call_turns(
    $1::uuid[], $2::text[], $3::int[], $4::text[], $5::text[], $6::jsonb[], $7::timestamptz[],
    $8::uuid[], $9::bool[], $10::bool[])
"""


@dataclass(frozen=True, slots=True)
class CallTurns:
    """One call's batch, for a tenant its token proved."""

    tenant_id: str
    call_sid: str
    turns: Sequence[Turn]


class CallNotFound(Conflict):
    """The call has no row for the tenant: the batch's turns cannot be kept."""


async def append_batches(
    pool: asyncpg.Pool, batches: Sequence[CallTurns]
) -> list[Exception | None]:
    """Write the batches; per batch, in order, None when its turns are stored, else the
    error. Raises (memory.errors.Unavailable) only when the database could not be reached."""
    try:
        return await _append(pool, batches)
    except Unavailable:
        raise
    except Exception:
        if len(batches) == 1:
            raise
    failures: list[Exception | None] = []
    for batch in batches:  # find the guilty: each batch on its own
        try:
            failures.extend(await _append(pool, [batch]))
        except Exception as exc:
            failures.append(exc)
    return failures


async def _append(pool: asyncpg.Pool, batches: Sequence[CallTurns]) -> list[Exception | None]:
    failures: list[Exception | None] = [None] * len(batches)
    by_tenant: dict[str, list[int]] = {}
    for i, batch in enumerate(batches):
        if batch.turns:
            by_tenant.setdefault(check_tenant_id(batch.tenant_id), []).append(i)
    policies = {tenant: last_seen_policy(tenant) for tenant in by_tenant}
    todo = list(by_tenant)
    for _ in range(POLICY_RETRIES):
        if not todo:
            return failures
        rows = await one_statement(pool, _APPEND, *_arguments(batches, by_tenant, policies, todo))
        changed: list[str] = []
        for row in rows:
            tenant = str(row["o_tenant"])
            stored = ContentPolicy(redact=row["o_redact"], keep_transcripts=row["o_keep"])
            if stored != policies[tenant]:
                policies[tenant] = seen_policy(tenant, stored)
                changed.append(tenant)
                continue
            missing = set(row["o_missing"])
            for i in by_tenant[tenant]:
                if batches[i].call_sid in missing:
                    failures[i] = CallNotFound("the call has no row for the tenant")
        todo = changed
    if todo:
        for tenant in todo:
            for i in by_tenant[tenant]:
                failures[i] = RuntimeError("the tenant's content policy kept changing")
    return failures


def _arguments(
    batches: Sequence[CallTurns],
    by_tenant: dict[str, list[int]],
    policies: dict[str, ContentPolicy],
    tenants: list[str],
) -> tuple[object, ...]:
    """The function's arrays: the rows of `tenants`' batches (text as each tenant's policy
    lets it be stored), and each tenant's policy."""
    row_tenants: list[uuid.UUID] = []
    calls: list[str] = []
    seqs: list[int] = []
    roles: list[str] = []
    texts: list[str] = []
    metas: list[dict[str, object]] = []
    ats: list[object] = []
    for tenant in tenants:
        key, policy = uuid.UUID(tenant), policies[tenant]
        for i in by_tenant[tenant]:
            batch = batches[i]
            for turn in batch.turns:
                row_tenants.append(key)
                calls.append(batch.call_sid)
                seqs.append(turn.seq)
                roles.append(turn.role)
                texts.append(policy.turn_text(turn.text))
                metas.append(turn.meta)
                ats.append(turn.at)
    return (
        row_tenants,
        calls,
        seqs,
        roles,
        texts,
        metas,
        ats,
        [uuid.UUID(t) for t in tenants],
        [policies[t].redact for t in tenants],
        [policies[t].keep_transcripts for t in tenants],
    )
