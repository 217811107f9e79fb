"""MemoryActor: one of N actors fronting Postgres for the call path, and draining post-call work.

State it owns: one asyncpg pool (app role), the JWT key ring and the tokens it verified
(actors.verified_tokens), one `MemoryService` (the LLM and embedding clients, an agenda-vector
cache) and its background loops (actors.memory_loops), started lazily with the pool. Every
method that touches tenant data takes the call's tenant-scoped JWT (audience `memory`), verifies
it first, and runs in a transaction scoped to that tenant; a token is never trusted for another
tenant's rows (RLS enforces it below us too).

Idempotent methods: all of them. Turns are keyed by seq, call rows are upserts, finalisation
fills only empty columns, stream connections are recorded once per stream; `remember` is an
upsert by stable key (same value twice changes nothing), `consolidate` is recorded by a digest
of its turns, `enqueue_post_call` is one job per call, `forget_caller` deletes what is there,
`run_retention` deletes only what is due.

The loops: the post-call drain, the outbox on every actor (methods that emit events wake it,
so a delivery usually leaves within milliseconds), retention on actor 0.

At start-up (first use) the embedding provider's dimension is checked against the schema; a
mismatch fails every method, so the engine refuses to start rather than store bad vectors.

Call writes (actors.memory_call_writes: call row, turns - one call's batch, or many calls' at
once, a call actor process's tick, in one statement - end-of-call report, post-call job) that
Postgres cannot take while it is down are kept in this actor's spool file on local disk and
replayed in order by a drain loop once it answers (memory.call_writes), so a call that ends
during an outage loses nothing; the call actor is answered as soon as the write is on disk.

When it dies: Ray restarts it (max_restarts) and retries in-flight calls (max_task_retries),
which is safe because every method is idempotent. A job it was running keeps its lease until
the lease expires, then any memory actor claims it again; its transaction never committed, so
nothing is applied twice. A retention batch it was running rolls back and its files stay (they
are removed only after a commit); the restarted actor 0 purges them on its next run. State is
only the pool and the clients, rebuilt lazily.

Ray imports this module in every process that holds a handle to a memory actor - every call
actor - so it imports only what a handle needs; asyncpg, the memory package and pyjwt are
imported where they are used, in the memory actor's own process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import structlog

from actors.memory_call_writes import CallPathWrites
from actors.memory_loops import MemoryLoops
from actors.verified_tokens import VerifiedTokens
from engine.config import EngineConfig, TenantConfig
from engine.logs import configure_actor
from engine.query_metrics import QueryMetrics
from engine.verification import Attempt

if TYPE_CHECKING:
    import asyncpg

    from memory.call_records import CallRecord, NewMessage, Turn
    from memory.caller_records import JobStatus, NewMemory, SearchHit
    from memory.service import MemoryService
    from prompts.context import CallerContext

log = structlog.get_logger(__name__)

# Connections kept open and ready: a call's set-up asks for its context and writes its call row
# at once, several calls arrive together, and a new connection (auth, prepared statements) cost
# 17-57 ms on the first lookups after start against 5-11 ms warm.
WARM_CONNECTIONS = 4


class MemoryActor(CallPathWrites):
    def __init__(self, config: EngineConfig, index: int = 0) -> None:
        from memory.db import LazyPool

        self._config = config
        self._index = index
        configure_actor(config)
        # memory/ sets session state only inside transactions: no reset query on release.
        url = config.app_database_url
        self._pool = LazyPool(url, min_size=WARM_CONNECTIONS, max_size=8, reset_session=False)
        self._tokens = VerifiedTokens(config.jwt_secret)
        self._service: MemoryService | None = None
        self._client: Any = None  # openai.AsyncOpenAI, imported only when first needed
        self._pool_lock = asyncio.Lock()
        self._loops = MemoryLoops(config, index)
        self._queries = QueryMetrics()  # the call path's queries: latency, failures

    def __repr__(self) -> str:
        return f"MemoryActor({self._index})"

    async def _memory(self) -> MemoryService:
        if self._service is None:
            async with self._pool_lock:
                if self._service is None:
                    self._service = await self._start()
        return self._service

    async def _start(self) -> MemoryService:
        from memory.embeddings import make_embedder
        from memory.llm import OpenAIJsonLlm, llm_configured, make_client
        from memory.post_call import JobPolicy
        from memory.service import MemoryService

        config = self._config
        pool = await self._pool.get()
        client = self._client or make_client(config)
        self._client = client
        service = MemoryService(
            pool,
            OpenAIJsonLlm(client, config.llm_model),
            make_embedder(config, client),
            JobPolicy(
                queue=config.post_call_queue,
                lease_s=config.post_call_lease_s,
                max_attempts=config.post_call_max_attempts,
                backoff_s=config.post_call_backoff_s,
            ),
            outbox_queue=config.outbox_queue_name(),
        )
        dimensions = await service.check_schema()
        post_call = llm_configured(config)
        if not post_call:
            log.warning(
                "post_call_llm_unconfigured",
                message="no API key for chat completions: post-call jobs stay queued",
                index=self._index,
            )
        self._loops.start(service, post_call=post_call)
        log.info(
            "memory_actor_ready",
            index=self._index,
            embedder=service.embedder.name,
            dimensions=dimensions,
            queue=config.post_call_queue,
        )
        return service

    async def _db(self) -> asyncpg.Pool:
        return (await self._memory()).pool

    # --- operators and tests ------------------------------------------------------------------

    async def run_outbox(self, limit: int = 100) -> int:
        """Deliver up to about ``limit`` due outbox rows now and wait for them (operators,
        tests); how many were claimed."""
        await self._memory()
        return await self._loops.run_outbox(limit)

    async def run_retention(self) -> dict[str, int]:
        """Purge every tenant's calls past retention now (operators, tests); totals deleted."""
        return await self._loops.run_retention(await self._db())

    async def run_post_call_jobs(self, limit: int = 10) -> int:
        """Run up to ``limit`` due post-call jobs now (operators, tests); how many ran."""
        service = await self._memory()
        ran = 0
        while ran < limit and await service.jobs.run_next_job():
            ran += 1
        return ran

    # --- calls and turns (their writes: actors.memory_call_writes) ----------------------------

    async def load_turns(self, token: str, call_sid: str) -> list[Turn]:
        from memory import calls

        tenant = self._tenant(token)
        with self._queries.measure("load_turns"):
            return await calls.load_turns(await self._db(), tenant, call_sid)

    async def get_call(self, token: str, call_sid: str) -> CallRecord | None:
        from memory import calls

        tenant = self._tenant(token)
        return await calls.get_call(await self._db(), tenant, call_sid)

    async def take_message(self, token: str, message: NewMessage) -> str:
        from memory import messages

        tenant = self._tenant(token)
        message_id = await messages.take_message(
            await self._db(), tenant, message, outbox_queue=self._config.outbox_queue_name()
        )
        self._loops.outbox_wake.set()
        return message_id

    async def verify_caller(
        self, token: str, call_sid: str, caller_number: str, given: Mapping[str, str]
    ) -> Attempt:
        """One verification attempt for the call (memory.verification: decided, recorded and
        audited in one transaction, under the tenant's policy as stored now)."""
        from memory import verification

        tenant = self._tenant(token)
        pool = await self._db()
        policy = await verification.get_policy(pool, tenant)
        if policy is None:
            return Attempt(False, "no_identifiers")
        return await verification.verify(
            pool,
            tenant,
            caller_number=caller_number,
            call_sid=call_sid,
            given=given,
            policy=policy,
            now=datetime.now(UTC),
        )

    async def verified_on_call(self, token: str, call_sid: str, caller_number: str) -> bool:
        """Whether the caller verified earlier on this call (asked by a resumed call's actor)."""
        from memory import verification

        return await verification.verified_on_call(
            await self._db(), self._tenant(token), call_sid=call_sid, caller_number=caller_number
        )

    async def recording_on_call(self, token: str, call_sid: str) -> str | None:
        """How the call's recording stands in its record (asked by a resumed call's actor)."""
        from memory import recording_state

        return await recording_state.recording_on_call(
            await self._db(), self._tenant(token), call_sid
        )

    async def claim_recording(self, token: str, call_sid: str) -> bool:
        """Claim the start of a recording owed after the notice (the tenant actor, before it
        asks Twilio); False: not owed, start nothing."""
        from memory import recording_state

        return await recording_state.claim_recording(
            await self._db(), self._tenant(token), call_sid
        )

    async def unclaim_recording(self, token: str, call_sid: str) -> None:
        """Twilio refused the start claimed: the recording is owed again."""
        from memory import recording_state

        await recording_state.unclaim_recording(await self._db(), self._tenant(token), call_sid)

    async def decline_recording(self, token: str, call_sid: str) -> str | None:
        """The caller declined the call's recording (asked by the tenant actor as it stops it);
        how it stood before."""
        from memory import recording_state

        return await recording_state.decline_recording(
            await self._db(), self._tenant(token), call_sid
        )

    async def load_tenant_config(self, token: str) -> TenantConfig | None:
        from engine.secret_box import ELEVENLABS_LABEL, TOOL_LABEL, TWILIO_LABEL, SecretBox
        from memory import tenants

        tenant = self._tenant(token)
        secret = self._config.jwt_secret
        return await tenants.load_config(
            await self._db(),
            tenant,
            tokens=SecretBox(secret, TWILIO_LABEL),
            voice_keys=SecretBox(secret, ELEVENLABS_LABEL),
            tool_secrets=SecretBox(secret, TOOL_LABEL),
        )

    # --- caller memory -----------------------------------------------------------------------

    async def caller_context(
        self, token: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext:
        """Profile, personality, last 3 summaries, top-k memories and knowledge for the agenda."""
        tenant = self._tenant(token)
        with self._queries.measure("caller_context"):
            return await (await self._memory()).caller_context(
                tenant, caller_number, agenda=agenda, k=k
            )

    async def remember(self, token: str, memory: NewMemory) -> None:
        """Upsert one memory under (type, key); a changed value keeps the old one in history."""
        tenant = self._tenant(token)
        await (await self._memory()).remember(tenant, memory)

    async def consolidate(
        self, token: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int:
        """LLM extraction from ``turns`` into keyed memories; items stored (same turns: same)."""
        tenant = self._tenant(token)
        return await (await self._memory()).consolidate(tenant, caller_number, call_sid, turns)

    async def post_call_status(self, token: str, call_sid: str) -> JobStatus | None:
        tenant = self._tenant(token)
        return await (await self._memory()).jobs.status(tenant, call_sid)

    async def search(
        self, token: str, caller_number: str | None, query: str, k: int = 5
    ) -> list[SearchHit]:
        """Semantic search over memories, call summaries and knowledge."""
        tenant = self._tenant(token)
        with self._queries.measure("search"):
            return await (await self._memory()).search(tenant, caller_number, query, k)

    async def search_knowledge(self, token: str, query: str, k: int = 3) -> list[SearchHit]:
        """The agency's knowledge entries nearest to ``query`` (the `search_knowledge` tool)."""
        tenant = self._tenant(token)
        with self._queries.measure("search_knowledge"):
            return await (await self._memory()).search_knowledge(tenant, query, k)

    async def forget_caller(self, token: str, caller_number: str) -> None:
        """Delete everything held about the caller: profile, memories and their history,
        summaries, personality, jobs, messages, and the transcripts of their calls."""
        tenant = self._tenant(token)
        await (await self._memory()).forget_caller(tenant, caller_number)

    async def save_knowledge(self, token: str, kind: str, title: str, body: str) -> str:
        """Add or replace (by kind and title) a knowledge entry, with its embedding."""
        tenant = self._tenant(token)
        return await (await self._memory()).save_knowledge(tenant, kind, title, body)

    # --- lifecycle ---------------------------------------------------------------------------

    async def ping(self) -> None:
        """Nothing but an answer (call actors open their connection with it); readies the key
        ring so the first token verified does not pay for importing pyjwt."""
        self._tokens.ready()

    async def warm_up(self, agendas: list[str]) -> None:
        """Start the service, load the embedding model, cache the agendas' vectors, open and
        prepare the pool's floor of connections."""
        self._tokens.ready()
        await (await self._memory()).warm(agendas, connections=WARM_CONNECTIONS)

    async def query_stats(self) -> dict[str, Any]:
        """The call path's queries so far: latency histograms and failures (/metrics)."""
        return self._queries.snapshot()

    async def check_health(self) -> dict[str, object]:
        service = await self._memory()
        async with service.pool.acquire(timeout=5) as conn:
            await conn.fetchval("SELECT 1", timeout=5)
        return {
            "index": self._index,
            "pid": os.getpid(),
            "pool_size": service.pool.get_size(),
            "embedder": service.embedder.name,
            **self._loops.health(),
        }

    async def close(self) -> None:
        await self._loops.close()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                await client.close()
        self._service = None
        await self._pool.close()
