"""The whole engine in one process, without Ray: the real webhook app served by uvicorn on
127.0.0.1, real TenantActor, CallActor and MemoryActor objects in this event loop, real
Postgres, and the shipped realtime simulator. Integration tests drive it with the shipped
Twilio caller, exactly as Twilio would."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from xml.etree import ElementTree

import asyncpg
import httpx
import uvicorn

from actors.call_actor import CallActor
from actors.memory_actor import MemoryActor
from actors.ports import CallControl, CallReport, CallSetup, NodeFull
from actors.report_totals import ReportTotals
from admin_api.app import build_app
from admin_api.context import WebhookContext
from engine.config import EngineConfig
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.realtime import RealtimeSimulator
from engine.sim.twilio_caller import CallScript, HangUp, Speak, TwilioCaller, WaitForAgent
from engine.sim.twilio_rest import TwilioRestFake
from engine.task_set import TaskSet
from memory import tenants
from tests.integration.local_gateway import LocalGateway

AUTH_TOKEN = "integration-auth-token"
LLM_KEY = "integration-llm-key"
ACCOUNT_SID = "AC" + "7" * 32


def one_turn(from_number: str, to_number: str, said: str) -> CallScript:
    """A caller who waits for the greeting, says `said`, waits for the answer and hangs up."""
    return CallScript(
        from_number=from_number,
        to_number=to_number,
        steps=(WaitForAgent(timeout=15), Speak(said), WaitForAgent(timeout=15), HangUp()),
    )


@dataclass
class LocalPool:
    """Claims by creating a CallActor object in this process (what CallPool does in Ray), or,
    with `reuse` or more than one call per actor, on the latest actor while it has room (its
    finished calls recycled first, as CallPool does). With `prepare_delay_s` a claim answers
    with the media URL and hands the call over that much later (CallPool answers before its
    `prepare` arrives); `prepared_at` notes when each such call was handed over."""

    config: EngineConfig
    memory: MemoryActor
    actors: dict[str, CallActor] = field(default_factory=dict)
    reports: list[CallReport] = field(default_factory=list)
    live_reports: list[tuple[float, CallReport]] = field(default_factory=list)  # (when, report)
    reported: ReportTotals = field(default_factory=ReportTotals)  # as the call pool sums them
    control: CallControl | None = None
    history: list[CallActor] = field(default_factory=list)
    setups: list[CallSetup] = field(default_factory=list)
    reuse: bool = False
    prepare_delay_s: float = 0.0
    prepared_at: dict[str, float] = field(default_factory=dict)
    capacity: int | None = None  # set: the node admits this many live calls (NodeFull beyond)
    _late: TaskSet = field(default_factory=lambda: TaskSet("local_pool"))
    # One claim at a time, as CallPool takes them: a second claim must see the first one's
    # actor started (an actor still starting has no port and would not take it).
    _claiming: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def claim(self, setup: CallSetup) -> str:
        async with self._claiming:
            if await self.room() <= 0:
                raise NodeFull(f"all {self.capacity} call slots live")
            return await self._claim(setup)

    def live(self) -> int:
        return len(set(self.actors) - {r.call_sid for r in self.reports})

    async def room(self) -> int:
        return 1000 if self.capacity is None else max(0, self.capacity - self.live())

    async def _claim(self, setup: CallSetup) -> str:
        self.setups.append(setup)
        shared = self.reuse or self.config.calls_per_actor > 1
        late = self.prepare_delay_s > 0
        if shared and not late and self.history and await self.history[-1].recycle():
            with contextlib.suppress(RuntimeError):  # full: a new actor takes the call
                url = await self.history[-1].prepare(setup)
                self.actors[setup.call_sid] = self.history[-1]
                return url
        actor = CallActor(self.config, self.memory, self, self.control)
        self.history.append(actor)
        self.actors[setup.call_sid] = actor
        if not late:
            return await actor.prepare(setup)
        address = await actor.start()
        self._late.spawn(self._prepare_later(actor, setup))
        return self.config.media_url(address, setup.call_sid)

    async def _prepare_later(self, actor: CallActor, setup: CallSetup) -> None:
        await asyncio.sleep(self.prepare_delay_s)
        self.prepared_at[setup.call_sid] = time.monotonic()
        await actor.prepare(setup)

    async def call_ended(self, report: CallReport) -> None:
        self.reports.append(report)
        self.reported.add(report, self._last_live(report.call_sid))

    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        for report in reports:
            self.reported.add(report, self._last_live(report.call_sid))
            self.live_reports.append((time.monotonic(), report))

    async def report_for(self, call_sid: str, timeout: float = 10.0) -> CallReport:
        """The call's final report, waiting for it: the caller's side of a call can end before
        the session has finished and reported."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.reports if r.call_sid == call_sid]
            if found:
                (report,) = found
                return report
            if time.monotonic() > deadline:
                raise AssertionError(f"no report for {call_sid} within {timeout} s")
            await asyncio.sleep(0.05)

    def _last_live(self, call_sid: str) -> CallReport | None:
        return next((r for _, r in reversed(self.live_reports) if r.call_sid == call_sid), None)


@dataclass
class Engine:
    config: EngineConfig
    sim: RealtimeSimulator
    rest: TwilioRestFake
    pool: LocalPool
    gateway: LocalGateway
    db: asyncpg.Pool
    base_url: str

    def caller(self, **options: Any) -> TwilioCaller:
        return TwilioCaller(
            webhook_base=self.base_url,
            public_base_url=self.config.public_base_url,
            auth_token=AUTH_TOKEN,
            account_sid=ACCOUNT_SID,
            rest=self.rest,
            **options,
        )

    async def answer(self, number: str, call_sid: str) -> tuple[str, str, str]:
        """POST a signed /twilio/voice; returns (media URL, stream token, handshake signature)."""
        caller = self.caller()
        params = {
            "CallSid": call_sid,
            "AccountSid": "AC" + "0" * 32,
            "From": "+15550142002",
            "To": number,
            "CallStatus": "ringing",
            "Direction": "inbound",
        }
        url = f"{self.base_url}/twilio/voice"
        async with httpx.AsyncClient() as http:
            response = await http.post(
                url, data=params, headers={"X-Twilio-Signature": caller.sign(url, params)}
            )
        assert response.status_code == 200
        stream = ElementTree.fromstring(response.text).find("Connect/Stream")
        assert stream is not None
        parameter = stream.find("Parameter")
        assert parameter is not None
        media_url, token = stream.get("url", ""), parameter.get("value", "")
        return media_url, token, caller.sign(media_url, {})

    async def new_tenant(self, **agent: Any) -> tuple[str, str]:
        number = "+1555" + str(uuid.uuid4().int)[:7]
        tenant_id = await tenants.create_tenant(
            self.db,
            tenants.NewTenant(
                name="Integration Agency",
                numbers=(number,),
                twilio_auth_token=AUTH_TOKEN,
                twilio_account_sid=ACCOUNT_SID,
                **agent,
            ),
            tokens=SecretBox(self.config.jwt_secret, TWILIO_LABEL),
        )
        return tenant_id, number


@contextlib.asynccontextmanager
async def running_engine(
    app_url: str,
    jwt_secret: str,
    db: asyncpg.Pool,
    *,
    session_max_s: float = 55 * 60,
    calls_per_actor: int = 1,
    metrics_flush_s: float = 5.0,
    elevenlabs: tuple[str, str] | None = None,
    **sim_options: Any,
) -> AsyncIterator[Engine]:
    """`elevenlabs`: (base URL, platform key or "" for none) of the ElevenLabs service (its
    simulator) for tenants that speak with an ElevenLabs voice."""
    sim = RealtimeSimulator(**sim_options)
    await sim.start()
    rest = TwilioRestFake(accounts={ACCOUNT_SID: AUTH_TOKEN})
    await rest.start()
    llm = OpenAIHttpSimulator(api_keys={LLM_KEY})
    await llm.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = EngineConfig(
        app_database_url=app_url,
        jwt_secret=jwt_secret,
        openai_base_url=sim.base_url,
        public_base_url=base,
        media_port_range=(23000, 23999),
        twilio_api_base_url=rest.base_url,
        realtime_session_max_s=session_max_s,
        calls_per_actor=calls_per_actor,
        metrics_flush_s=metrics_flush_s,
        llm_base_url=llm.base_url,
        llm_api_key=LLM_KEY,
        embedding_provider="openai",  # the simulator's hashed vectors: fast and deterministic
        post_call_queue=f"harness-{uuid.uuid4().hex[:8]}",  # other tests' actors stay out
        outbox_queue=f"harness-{uuid.uuid4().hex[:8]}",
        post_call_poll_s=0.2,
        post_call_backoff_s=0.3,
        spool_dir=tempfile.mkdtemp(prefix="neurosphere-spool-"),
        elevenlabs_base_url=elevenlabs[0] if elevenlabs else "http://127.0.0.1:9",
        elevenlabs_api_key=(elevenlabs[1] or None) if elevenlabs else None,
    )
    memory = MemoryActor(config)
    pool = LocalPool(config, memory)
    gateway = LocalGateway(
        config, memory, pool, active=lambda: len(pool.actors), reported=pool.reported
    )
    pool.control = gateway
    ctx = WebhookContext(config, gateway)
    server = uvicorn.Server(uvicorn.Config(build_app(ctx), log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    for _ in range(1000):  # uvicorn offers no event for "started"
        if server.started:
            break
        await asyncio.sleep(0.01)
    try:
        yield Engine(config, sim, rest, pool, gateway, db, base)
    finally:
        for actor in pool.history:
            await actor.shutdown()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        await ctx.close()
        await gateway.close()
        await memory.close()
        await sim.stop()
        await rest.stop()
        await llm.stop()
