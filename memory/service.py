"""Caller memory as operations: context, remember, consolidate, search, forget, post-call jobs.

`MemoryService` binds one asyncpg pool (app role), one JSON LLM and one embedder; the
MemoryActor verifies the call's token and hands the tenant id in. I/O: Postgres, and the LLM
and embedding providers (never inside a database transaction: provider calls come first,
then one short transaction writes everything).

Degradation rules: an embedding provider that is down never fails a call-path request
(memories are stored without a vector and backfilled by the next post-call job; the context
falls back to recency); a post-call job with a retryable failure is retried with backoff.
Callers with a withheld number (Twilio's "anonymous" values) would all share one memory, so
for them nothing is remembered and the context holds agency knowledge only.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg
import structlog

from engine.errors import RetryableError
from memory import caller_memory, calls, jobs, knowledge, outbox, profiles, recall, template_store
from memory.call_records import Turn
from memory.call_templates import parse_template, template_payload
from memory.caller_records import (
    CallFacts,
    JobClaim,
    JobStatus,
    JsonInput,
    JsonValue,
    MemoryWrite,
    SearchHit,
    is_anonymous,
)
from memory.content_policy import content_policy
from memory.db import tenant_tx
from memory.embeddings import Embedder, EmbeddingError, as_vector, check_dimensions
from memory.extracted import parse_extracted, parse_post_call
from memory.extraction import (
    EXTRACTION_INSTRUCTIONS,
    EXTRACTION_SCHEMA,
    EXTRACTION_SCHEMA_NAME,
    POST_CALL_SCHEMA_NAME,
    post_call_request,
    transcript,
    turns_digest,
)
from memory.llm import JsonLlm
from memory.memory_keys import memory_writes, render_value
from prompts.context import CallerContext

if TYPE_CHECKING:
    from pgvector import Vector

log = structlog.get_logger(__name__)

AGENDA_CACHE = 256
AGENDA_RETRY_S = 30.0
AGENDA_WAIT_S = 0.15
MAX_BACKOFF_S = 600.0
MAX_K = 50
WARM_TENANT = "00000000-0000-0000-0000-000000000000"  # no such tenant: the queries find nothing
WARM_CALLER = "+10000000000"
_TYPE = re.compile(r"^[a-z][a-z_]{0,31}$")


@dataclass(frozen=True, slots=True)
class JobPolicy:
    queue: str = "default"
    lease_s: int = 300
    max_attempts: int = 6
    backoff_s: float = 5.0


def check_caller(caller_number: str) -> str:
    number = caller_number.strip()
    if not 1 <= len(number) <= 64:
        raise ValueError("caller_number must be 1-64 characters")
    return number


def memory_text(memory_type: str, key: str, content: str) -> str:
    """What gets embedded for a memory: its type and key give the vector its topic."""
    topic = key.replace(":", " ").replace("-", " ").replace("_", " ")
    return f"{memory_type} {topic}: {content}"


def backoff_s(attempts: int, base_s: float) -> float:
    """Delay before attempt ``attempts + 1``: doubling from ``base_s``, capped, with jitter."""
    delay = min(base_s * 2.0 ** max(0, attempts - 1), MAX_BACKOFF_S)
    return delay * random.uniform(0.8, 1.2)


class CallInProgress(RetryableError):
    """The job's call is still going on; try again later."""

    def __init__(self) -> None:
        super().__init__("the call has not ended yet", retryable=True)


class MemoryService:
    def __init__(
        self,
        pool: asyncpg.Pool,
        llm: JsonLlm,
        embedder: Embedder,
        policy: JobPolicy,
        *,
        outbox_queue: str,
    ) -> None:
        self.pool = pool
        self.outbox_queue = outbox_queue  # where call.analyzed goes (memory.outbox)
        self.llm = llm
        self.embedder = embedder
        self.policy = policy
        self._agendas: OrderedDict[str, Vector] = OrderedDict()
        self._agenda_tasks: dict[str, asyncio.Task[None]] = {}
        self._agenda_failed: dict[str, float] = {}  # agenda -> when to try embedding it again

    async def check_schema(self) -> int:
        """Refuse to run when the embedding provider disagrees with the schema."""
        return await check_dimensions(self.pool, self.embedder)

    # --- embeddings -------------------------------------------------------------------------

    async def _vectors_or_none(self, texts: Sequence[str]) -> list[list[float] | None]:
        if not texts:
            return []
        try:
            return list(await self.embedder.embed(texts))
        except Exception as exc:
            log.warning("embedding_failed", provider=self.embedder.name, error=repr(exc))
            return [None] * len(texts)

    async def warm(self, agendas: Sequence[str], connections: int = 1) -> None:
        """Before the first call, so no caller's greeting waits for it: load the embedding
        model, cache the agendas' vectors, and run the caller-context queries once on each of
        `connections` connections at once (opened, statements prepared; a pool whose floor is
        that many keeps them)."""
        for agenda in agendas:
            await self._embed_agenda(" ".join(agenda.split()))
        vector = await self._agenda_vector(agendas[0]) if agendas else None
        await asyncio.gather(
            *(
                recall.caller_context(
                    self.pool, WARM_TENANT, WARM_CALLER, agenda_vector=vector, k=MAX_K
                )
                for _ in range(connections)
            )
        )

    async def _agenda_vector(self, agenda: str) -> Vector | None:
        """The agenda's vector: cached, or embedded by one background task that this request
        waits for at most AGENDA_WAIT_S. Past that - or for AGENDA_RETRY_S after the provider
        failed - None, and the context is ranked without it: a greeting never waits seconds
        for an embedding provider (a failing one retries for that long)."""
        text = " ".join(agenda.split())
        if not text:
            return None
        cached = self._agendas.get(text)
        if cached is not None:
            self._agendas.move_to_end(text)
            return cached
        task = self._agenda_tasks.get(text)
        if task is None:
            if time.monotonic() < self._agenda_failed.get(text, 0.0):
                return None
            task = asyncio.get_running_loop().create_task(self._embed_agenda(text))
            self._agenda_tasks[text] = task
            task.add_done_callback(lambda _: self._agenda_tasks.pop(text, None))
        await asyncio.wait({task}, timeout=AGENDA_WAIT_S)
        return self._agendas.get(text)

    async def _embed_agenda(self, text: str) -> None:
        vectors = await self._vectors_or_none([text])
        if vectors[0] is None:
            self._agenda_failed[text] = time.monotonic() + AGENDA_RETRY_S
            return
        self._agenda_failed.pop(text, None)
        self._agendas[text] = as_vector(vectors[0])
        while len(self._agendas) > AGENDA_CACHE:
            self._agendas.popitem(last=False)

    # --- the call path ----------------------------------------------------------------------

    async def caller_context(
        self, tenant_id: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext:
        number = check_caller(caller_number)
        vector = await self._agenda_vector(agenda)
        context = await recall.caller_context(
            self.pool, tenant_id, number, agenda_vector=vector, k=max(1, min(k, MAX_K))
        )
        if is_anonymous(number):  # agency knowledge only: nobody's memories
            return CallerContext(None, {}, (), (), context.knowledge)
        return context

    async def remember(
        self,
        tenant_id: str,
        caller_number: str,
        call_sid: str | None,
        memory_type: str,
        key: str,
        value: JsonInput,
        ttl_days: int | None = None,
    ) -> None:
        number = check_caller(caller_number)
        if is_anonymous(number):
            return
        if not _TYPE.match(memory_type):
            raise ValueError("memory_type must be a lower-case word of at most 32 letters")
        key = " ".join(key.split()).lower()
        if not 1 <= len(key) <= 200:
            raise ValueError("key must be 1-200 characters")
        if ttl_days is not None and not 1 <= ttl_days <= 36500:
            raise ValueError("ttl_days must be 1-36500 or None")
        stored: JsonValue = " ".join(value.split()) if isinstance(value, str) else dict(value)
        content = render_value(memory_type, stored)
        if not content:
            raise ValueError("a memory needs a value")
        write = MemoryWrite(memory_type, key, stored, content, ttl_days)
        async with tenant_tx(self.pool, tenant_id) as conn:
            policy = await content_policy(conn, tenant_id)
        if call_sid is not None and not policy.keep_transcripts:
            return  # nothing is taken from a call's words (and nothing is sent to embed)
        # embedded as it will be stored: a vector is no way around the redaction
        text = memory_text(write.type, write.key, policy.text(write.content))
        vectors = await self._vectors_or_none([text])
        async with tenant_tx(self.pool, tenant_id) as conn:
            await caller_memory.upsert(conn, tenant_id, number, call_sid, [write], vectors)
            if memory_type == "identity" and key == "preferred_name":
                name = stored.get("name") if isinstance(stored, dict) else stored
                if isinstance(name, str) and name.strip():
                    await caller_memory.set_preferred_name(conn, tenant_id, number, name.strip())

    async def consolidate(
        self, tenant_id: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int:
        """Extract memories from ``turns``; the same turns again store nothing new."""
        number = check_caller(caller_number)
        if not turns or is_anonymous(number):
            return 0
        digest = turns_digest(turns)
        async with tenant_tx(self.pool, tenant_id) as conn:
            if not (await content_policy(conn, tenant_id)).keep_transcripts:
                return 0  # nothing is taken from a call's words
            done = await profiles.consolidated(conn, tenant_id, call_sid, digest)
        if done is not None:
            return done
        data = await self.llm.complete_json(
            instructions=EXTRACTION_INSTRUCTIONS,
            content=transcript(turns),
            schema_name=EXTRACTION_SCHEMA_NAME,
            schema=EXTRACTION_SCHEMA,
        )
        extracted = parse_extracted(data)
        writes = memory_writes(extracted)
        vectors = await self._vectors_or_none(
            [memory_text(w.type, w.key, w.content) for w in writes]
        )
        seqs = (min(t.seq for t in turns), max(t.seq for t in turns))
        async with tenant_tx(self.pool, tenant_id) as conn:
            if not await profiles.record_consolidation(
                conn, tenant_id, call_sid, digest, number, seqs, len(writes)
            ):
                raced = await profiles.consolidated(conn, tenant_id, call_sid, digest)
                return raced or 0
            await caller_memory.upsert(conn, tenant_id, number, call_sid, writes, vectors)
            if extracted.preferred_name:
                await caller_memory.set_preferred_name(
                    conn, tenant_id, number, extracted.preferred_name
                )
        log.info("memories_consolidated", tenant_id=tenant_id, call_sid=call_sid, items=len(writes))
        return len(writes)

    async def search(
        self, tenant_id: str, caller_number: str | None, query: str, k: int = 5
    ) -> list[SearchHit]:
        number = check_caller(caller_number) if caller_number is not None else None
        text = " ".join(query.split())
        if not text:
            return []
        vector = (await self.embedder.embed([text]))[0]
        return await recall.search(
            self.pool, tenant_id, number, as_vector(vector), max(1, min(k, MAX_K))
        )

    async def search_knowledge(self, tenant_id: str, query: str, k: int = 3) -> list[SearchHit]:
        """The agency's knowledge entries nearest to ``query`` (nothing about any caller)."""
        text = " ".join(query.split())
        if not text:
            return []
        vector = (await self.embedder.embed([text]))[0]
        return await recall.search_knowledge(
            self.pool, tenant_id, as_vector(vector), max(1, min(k, 10))
        )

    async def forget_caller(self, tenant_id: str, caller_number: str) -> None:
        await caller_memory.forget_caller(self.pool, tenant_id, check_caller(caller_number))
        log.info("caller_forgotten", tenant_id=tenant_id)

    async def save_knowledge(self, tenant_id: str, kind: str, title: str, body: str) -> str:
        knowledge.check_entry(kind, title, body)
        vectors = await self._vectors_or_none([knowledge.entry_text(title, body)])
        return await knowledge.save_entry(self.pool, tenant_id, kind, title, body, vectors[0])

    # --- post-call jobs ---------------------------------------------------------------------

    async def enqueue_post_call(self, tenant_id: str, call_sid: str, caller_number: str) -> bool:
        number = check_caller(caller_number)
        if is_anonymous(number):
            return False
        return await jobs.enqueue(self.pool, tenant_id, call_sid, number, self.policy.queue)

    async def job_status(self, tenant_id: str, call_sid: str) -> JobStatus | None:
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
