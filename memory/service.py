"""Caller memory as operations: context, remember, consolidate, search, forget.

`MemoryService` binds one asyncpg pool (app role), one JSON LLM and one embedder; the
MemoryActor verifies the call's token and hands the tenant id in; post-call jobs are its
`jobs` (memory.post_call). I/O: Postgres, and the LLM and embedding providers (never inside a
database transaction: provider calls come first, then one short transaction writes everything).

Degradation rules: an embedding provider that is down never fails a call-path request
(memories are stored without a vector and backfilled by the next post-call job; the context
falls back to recency); a post-call job with a retryable failure is retried with backoff.
Callers with a withheld number (Twilio's "anonymous" values) would all share one memory, so
for them nothing is remembered and the context holds agency knowledge only.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import asyncpg
import structlog

from engine.task_set import TaskSet
from memory import caller_memory, knowledge, profiles, recall
from memory.call_records import Turn
from memory.caller_memory import check_caller, memory_text
from memory.caller_records import (
    JsonValue,
    MemoryWrite,
    NewMemory,
    SearchHit,
    is_anonymous,
)
from memory.content_policy import content_policy
from memory.db import tenant_tx
from memory.embeddings import Embedder, as_vector, check_dimensions
from memory.extracted import parse_extracted
from memory.extraction import (
    EXTRACTION_INSTRUCTIONS,
    EXTRACTION_SCHEMA,
    EXTRACTION_SCHEMA_NAME,
    transcript,
    turns_digest,
)
from memory.llm import JsonLlm
from memory.memory_keys import memory_writes, render_value
from memory.post_call import JobPolicy, PostCallJobs
from prompts.context import CallerContext

if TYPE_CHECKING:
    from pgvector import Vector

log = structlog.get_logger(__name__)

AGENDA_CACHE = 256
AGENDA_RETRY_S = 30.0
AGENDA_WAIT_S = 0.15
MAX_K = 50
WARM_TENANT = "00000000-0000-0000-0000-000000000000"  # no such tenant: the queries find nothing
WARM_CALLER = "+10000000000"
_TYPE = re.compile(r"^[a-z][a-z_]{0,31}$")


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
        self.llm = llm
        self.embedder = embedder
        self.jobs = PostCallJobs(pool, llm, embedder, policy, outbox_queue)
        self._agendas: OrderedDict[str, Vector] = OrderedDict()
        self._agenda_tasks = TaskSet("agenda_embedding", log)
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
        if not self._agenda_tasks.running(text) and time.monotonic() < self._agenda_failed.get(
            text, 0.0
        ):
            return None
        task = self._agenda_tasks.spawn_once(text, self._embed_agenda(text))
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

    async def remember(self, tenant_id: str, memory: NewMemory) -> None:
        call_sid, memory_type, key, ttl_days = (
            memory.call_sid,
            memory.memory_type,
            memory.key,
            memory.ttl_days,
        )
        number = check_caller(memory.caller_number)
        if is_anonymous(number):
            return
        if not _TYPE.match(memory_type):
            raise ValueError("memory_type must be a lower-case word of at most 32 letters")
        key = " ".join(key.split()).lower()
        if not 1 <= len(key) <= 200:
            raise ValueError("key must be 1-200 characters")
        if ttl_days is not None and not 1 <= ttl_days <= 36500:
            raise ValueError("ttl_days must be 1-36500 or None")
        value = memory.value
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
