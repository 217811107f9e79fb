"""Post-call jobs: one finished call's summary, personality, profile and memories, applied once.

`PostCallJobs` queues a call's job (one per call), reports its status, and runs due jobs:
claimed across tenants (`FOR UPDATE SKIP LOCKED`, with a lease), each failure recorded on the
job and retried with backoff (memory.jobs). The LLM and embedding providers are called before
the one transaction that writes everything; what was stored without a vector is embedded here
(best effort) before the job is marked done.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg
import structlog

from engine.errors import RetryableError
from memory import caller_memory, calls, jobs, knowledge, outbox, profiles, template_store
from memory.call_templates import parse_template, template_payload
from memory.caller_memory import memory_text
from memory.caller_records import CallFacts, JobClaim, JobStatus, is_anonymous
from memory.content_policy import content_policy
from memory.db import tenant_tx
from memory.embeddings import Embedder, EmbeddingError
from memory.extracted import parse_post_call
from memory.extraction import (
    POST_CALL_SCHEMA_NAME,
    post_call_request,
    transcript,
)
from memory.llm import JsonLlm
from memory.memory_keys import memory_writes

log = structlog.get_logger(__name__)

MAX_BACKOFF_S = 600.0


@dataclass(frozen=True, slots=True)
class JobPolicy:
    queue: str = "default"
    lease_s: int = 300
    max_attempts: int = 6
    backoff_s: float = 5.0


def backoff_s(attempts: int, base_s: float) -> float:
    """Delay before attempt ``attempts + 1``: doubling from ``base_s``, capped, with jitter."""
    delay = min(base_s * 2.0 ** max(0, attempts - 1), MAX_BACKOFF_S)
    return delay * random.uniform(0.8, 1.2)


class CallInProgress(RetryableError):
    """The job's call is still going on; try again later."""

    def __init__(self) -> None:
        super().__init__("the call has not ended yet", retryable=True)


@dataclass(slots=True)
class PostCallJobs:
    pool: asyncpg.Pool
    llm: JsonLlm
    embedder: Embedder
    policy: JobPolicy
    outbox_queue: str  # where call.analyzed goes (memory.outbox)

    async def enqueue(self, tenant_id: str, call_sid: str, caller_number: str) -> bool:
        number = caller_memory.check_caller(caller_number)
        if is_anonymous(number):
            return False
        return await jobs.enqueue(self.pool, tenant_id, call_sid, number, self.policy.queue)

    async def status(self, tenant_id: str, call_sid: str) -> JobStatus | None:
        return await jobs.status(self.pool, tenant_id, call_sid)

    async def run_next_job(self) -> bool:
        """Claim and run one due job; False when there was none. Failures are recorded on the
        job (retry with backoff, or failed) and never raised, except database errors while
        claiming."""
        policy = self.policy
        job = await jobs.claim(
            self.pool, policy.queue, lease_s=policy.lease_s, max_attempts=policy.max_attempts
        )
        if job is None:
            return False
        try:
            items = await self.run_job(job)
        except Exception as exc:
            retryable = exc.retryable if isinstance(exc, RetryableError) else True
            delay = backoff_s(job.attempts, policy.backoff_s)
            try:
                status = await jobs.retry_later(
                    self.pool,
                    job,
                    delay_s=delay,
                    final=not retryable,
                    max_attempts=policy.max_attempts,
                    error=f"{type(exc).__name__}: {exc}",
                )
            except Exception as inner:  # the lease will expire and the job be claimed again
                log.warning(
                    "post_call_job_release_failed", call_sid=job.call_sid, error=repr(inner)
                )
                status = None
            log.warning(
                "post_call_job_failed",
                tenant_id=job.tenant_id,
                call_sid=job.call_sid,
                attempts=job.attempts,
                retryable=retryable,
                status=status,
                retry_in_s=round(delay, 1),
                error=repr(exc),
            )
        else:
            log.info(
                "post_call_job_done",
                tenant_id=job.tenant_id,
                call_sid=job.call_sid,
                attempts=job.attempts,
                items=items,
            )
        return True

    async def run_job(self, job: JobClaim) -> int:
        """Summary, personality, profile and memories of one finished call, applied once."""
        tenant = job.tenant_id
        caller_number = await jobs.leased_caller(self.pool, job)
        if caller_number is None:
            return 0
        turns = await calls.load_turns(self.pool, tenant, job.call_sid)
        async with tenant_tx(self.pool, tenant) as conn:
            policy = await content_policy(conn, tenant)
            templates = await template_store.enabled_templates(conn, tenant)
        if not policy.keep_transcripts:  # turns stored before the mode changed stay unread
            turns = []
        call = await profiles.call_facts(self.pool, tenant, job.call_sid)
        if call is None:
            call = CallFacts(job.call_sid, datetime.now(UTC), None)
        if not call.ended and job.attempts < self.policy.max_attempts:
            # Queued before the call was finished (its last turns may still be on the way):
            # wait for it, but on the last attempt take what there is.
            raise CallInProgress()
        analysis, chosen = None, None
        if any(t.role == "caller" and t.text.strip() for t in turns):
            instructions, schema = post_call_request(templates)
            data = await self.llm.complete_json(
                instructions=instructions,
                content=transcript(turns),
                schema_name=POST_CALL_SCHEMA_NAME,
                schema=schema,
            )
            analysis, chosen = parse_post_call(data), parse_template(data, templates)
        writes = memory_writes(analysis.extracted) if analysis is not None else []
        texts = [memory_text(w.type, w.key, w.content) for w in writes]
        if analysis is not None:
            texts.append(analysis.summary)
        vectors = await self._job_vectors(texts)
        await self._backfill(tenant, caller_number)  # before "done", so done means complete
        async with tenant_tx(self.pool, tenant) as conn:
            if not await jobs.finish(conn, job, len(writes)):
                log.info("post_call_job_superseded", tenant_id=tenant, call_sid=job.call_sid)
                return 0
            if analysis is not None:
                await profiles.save_summary(
                    conn,
                    tenant,
                    caller_number,
                    call,
                    summary=analysis.summary,
                    key_topics=analysis.key_topics,
                    key_variables=analysis.key_variables(),
                    sentiment=analysis.sentiment,
                    resolution_status=analysis.resolution_status,
                    embedding=vectors[-1],
                    template=chosen,
                )
                await profiles.save_personality(
                    conn, tenant, caller_number, call, dict(analysis.personality)
                )
                analyzed = {
                    "call_sid": job.call_sid,
                    "caller_number": caller_number,
                    "summary": policy.text(analysis.summary),
                    "key_topics": [policy.text(t) for t in analysis.key_topics],
                    "sentiment": analysis.sentiment,
                    "resolution_status": analysis.resolution_status,
                    "extracted": policy.value(analysis.key_variables()),
                    "template": policy.value(template_payload(chosen)),
                }
                await outbox.emit(
                    conn,
                    tenant,
                    "call.analyzed",
                    job.call_sid,
                    analyzed,
                    queue=self.outbox_queue,
                )
            extracted = analysis.extracted if analysis is not None else None
            await profiles.count_call(
                conn,
                tenant,
                caller_number,
                call.started_at,
                preferred_name=extracted.preferred_name if extracted else None,
                preferences={p.category: p.preference for p in extracted.preferences}
                if extracted
                else {},
            )
            await caller_memory.upsert(
                conn, tenant, caller_number, job.call_sid, writes, vectors[: len(writes)]
            )
            await caller_memory.purge_expired(conn, tenant, caller_number)
        return len(writes)

    async def _job_vectors(self, texts: Sequence[str]) -> list[list[float] | None]:
        """A provider that is down fails the attempt (retried); one that cannot work at all
        (not installed, wrong shape) leaves the vectors out instead of losing the summary."""
        if not texts:
            return []
        try:
            return list(await self.embedder.embed(texts))
        except EmbeddingError as exc:
            if exc.retryable:
                raise
            log.warning("embedding_unavailable", provider=self.embedder.name, error=repr(exc))
            return [None] * len(texts)

    async def _backfill(self, tenant_id: str, caller_number: str) -> None:
        """Embed what was stored without a vector (best effort): the caller's memories saved
        while the provider was down or edited by an admin, and the tenant's knowledge entries
        saved by the admin API (which has no embedder)."""
        try:
            entries = await knowledge.missing_embeddings(self.pool, tenant_id)
            if entries:
                vectors = await self.embedder.embed(
                    [knowledge.entry_text(t, b) for _, t, b in entries]
                )
                await knowledge.fill_embeddings(
                    self.pool,
                    tenant_id,
                    [(e[0], e[1], e[2], v) for e, v in zip(entries, vectors, strict=True)],
                )
        except Exception as exc:
            log.warning("knowledge_backfill_failed", tenant_id=tenant_id, error=repr(exc))
        try:
            missing = await caller_memory.missing_embeddings(self.pool, tenant_id, caller_number)
            if not missing:
                return
            vectors = await self.embedder.embed([memory_text(*m[1:]) for m in missing])
            await caller_memory.fill_embeddings(
                self.pool,
                tenant_id,
                [(m[0], m[3], vec) for m, vec in zip(missing, vectors, strict=True)],
            )
        except Exception as exc:
            log.warning("embedding_backfill_failed", tenant_id=tenant_id, error=repr(exc))
