"""What the realtime model is told about its call, made from what the call holds: the caller's
context (looked up once, while the model's socket opens), the turns a resumed call replays, and
the tools on offer (the tenant's, plus verify_caller while a known caller is unverified). Which
frames a session opens with is decided in engine.session_open; this module gathers their parts.

I/O: the memory pool, through `MemoryClient` (the caller's context, bounded in
actors.call_effects, and a resumed call's turns).
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import structlog

from actors import call_effects
from actors.ports import CallSetup, MemoryClient
from actors.turn_writer import TurnWriter
from engine.call_metrics import CallMetrics
from engine.recording_consent import Recording
from engine.session_open import Opening, SessionFacts, disclosure, loads_history, opening
from engine.task_set import TaskSet
from engine.tools import ToolSpec, tool_specs
from prompts.context import CallerContext


class ModelBrief:
    """The parts of a call's model sessions: owns the caller's context, whether the caller is
    verified, and which tools the current session offers."""

    def __init__(
        self,
        memory: MemoryClient,
        setup: CallSetup,
        turns: TurnWriter,
        metrics: CallMetrics,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._memory = memory
        self._setup = setup
        self._turns = turns
        self._metrics = metrics
        self._log = log
        self.specs: dict[str, ToolSpec] = dict(tool_specs(setup.tenant))
        self.offered = self.specs  # plus verify_caller while a known caller is unverified
        self.verified = False
        self.recording: Recording = "none"  # a resumed call's, as its record says
        self._context: asyncio.Task[CallerContext] | None = None

    def look_up_caller(self, tasks: TaskSet) -> None:
        """Start the caller's context lookup (while the model's socket opens, not after it)."""
        self._context = tasks.spawn(self._caller_context())

    async def _caller_context(self) -> CallerContext:
        context = await call_effects.caller_context(self._memory, self._setup, self._log)
        if self._setup.attempt > 0:  # a resumed call keeps the verification it earned
            self.verified, self.recording = await asyncio.gather(
                call_effects.verified_before(self._memory, self._setup, self._log),
                call_effects.recording_before(self._memory, self._setup, self._log),
            )
        self._metrics.mark("caller_context", time.monotonic())
        return context

    async def _caller(self) -> CallerContext:
        assert self._context is not None, "look_up_caller() starts the lookup"
        return await asyncio.shield(self._context)  # fetched once; a reconnect reuses it

    async def opening(self, reconnected: bool, *, text_only: bool = False) -> Opening:
        """What a new model session starts with (engine.session_open.opening); `text_only`:
        the model answers in text for the call's ElevenLabs voice."""
        setup = self._setup
        now = datetime.now(UTC)
        if loads_history(setup.attempt, reconnected):
            self._turns.preload(await self._memory.load_turns(setup.memory_token, setup.call_sid))
        self._metrics.mark("model_open", time.monotonic())
        first = opening(
            setup.tenant,
            await self._facts(),
            reconnected=reconnected,
            now=now,
            verified=self.verified,
            text_only=text_only,
            recording_notice=self._owed_notice(),
        )
        self.offered = first.tools
        return first

    def _owed_notice(self) -> str | None:
        """The recording notice, again, when a resumed call's recording is owed one."""
        tenant = self._setup.tenant
        return tenant.recording_consent if self.recording == "awaiting_notice" else None

    async def disclosure(self) -> str:
        """The caller proved who they are: the session update that tells the model what is
        known about them (every tool is offered from now on)."""
        self.verified, self.offered = True, self.specs
        return disclosure(self._setup.tenant, await self._facts(), datetime.now(UTC))

    async def _facts(self) -> SessionFacts:
        return SessionFacts(
            caller_number=self._setup.from_number,
            context=await self._caller(),
            tools=self.specs,
            history=list(self._turns.history),
            resumed=self._setup.attempt > 0,
        )
