"""Hand-written fakes of a call session's seams: the memory pool (MemoryClient), Twilio's media
socket (MediaSocket), the model link (ModelChannel), the pool's end-of-call report
(CallLifecycle) and Twilio's REST API (CallControl). No sockets, no Ray: each fake notes what
happened in one shared, ordered log, so a test can assert the order across all of them."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import structlog

from actors.call_session import CallSession
from actors.call_sockets import FrameHandler, MediaClosed, ModelListener
from actors.ports import CallReport, CallSetup, TurnBatch
from engine.config import EngineConfig, MediaAddress, TenantConfig
from engine.session_prompt import EMPTY_CONTEXT
from engine.verification import Attempt, VerificationPolicy, check
from engine.warm_transfer import WarmRequest
from memory.call_records import CallEnd, CallStart, NewMessage, Turn
from memory.caller_records import NewMemory, SearchHit
from prompts.context import CallerContext

TOKEN = "stream-token"
CONFIG = EngineConfig(app_database_url="postgresql://nowhere/none", jwt_secret="s" * 40)
TENANT = TenantConfig(tenant_id="t1", name="Acme Insurance")


class Log(list[tuple[str, object]]):
    def names(self) -> list[str]:
        return [name for name, _ in self]


async def each_batch(
    append_turns: Callable[[str, str, Sequence[Turn]], Awaitable[None]],
    batches: Sequence[TurnBatch],
) -> list[str | None]:
    """A fake's `append_turn_batches`: each batch through its `append_turns`, answered alone."""
    answers: list[str | None] = []
    for batch in batches:
        try:
            await append_turns(batch.token, batch.call_sid, batch.turns)
            answers.append(None)
        except Exception as exc:
            answers.append(repr(exc))
    return answers


class FakeMemory:
    def __init__(
        self,
        log: Log,
        earlier: Sequence[Turn] = (),
        message_s: float = 0.0,
        context: CallerContext = EMPTY_CONTEXT,
        on_file: Mapping[str, str] | None = None,
        verified_calls: set[str] | None = None,
        recording: str | None = None,
    ) -> None:
        self.log = log
        self.recording = recording  # the call's record of its recording (calls.recording)
        self.context = context
        self.verified_calls = set(verified_calls or ())  # calls with a verified attempt
        self.on_file = dict(on_file or {})  # the caller's identifiers, normalised
        self.earlier = list(earlier)
        self.message_s = message_s  # how long take_message takes
        self.turns: list[Turn] = []
        self.ends: list[CallEnd] = []

    async def ping(self) -> None:
        return None

    async def start_call(self, token: str, call: CallStart) -> None:
        self.log.append(("start_call", call.call_sid))

    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None:
        self.log.append(("stream_connected", stream_sid))

    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None:
        self.turns.extend(turns)
        self.log.append(("append_turns", [t.role for t in turns]))

    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        """Each call's batch as `append_turns` takes it (so the log reads the same)."""
        return await each_batch(self.append_turns, batches)

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None:
        self.ends.append(end)
        self.log.append(("finish_call", end.outcome))

    async def load_turns(self, token: str, call_sid: str) -> list[Turn]:
        self.log.append(("load_turns", len(self.earlier)))
        return list(self.earlier)

    async def take_message(self, token: str, message: NewMessage) -> str:
        await asyncio.sleep(self.message_s)
        self.log.append(("take_message", message.reason))
        return "msg-1"

    async def caller_context(
        self, token: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext:
        return self.context

    async def verify_caller(
        self, token: str, call_sid: str, caller_number: str, given: Mapping[str, str]
    ) -> Attempt:
        self.log.append(("verify_caller", dict(given)))
        result = check(self.on_file, given, VerificationPolicy())
        if result.verified:
            self.verified_calls.add(call_sid)
        return Attempt(result.verified, result.reason)

    async def verified_on_call(self, token: str, call_sid: str, caller_number: str) -> bool:
        self.log.append(("verified_on_call", call_sid))
        return call_sid in self.verified_calls

    async def recording_on_call(self, token: str, call_sid: str) -> str | None:
        self.log.append(("recording_on_call", call_sid))
        return self.recording

    async def remember(self, token: str, memory: NewMemory) -> None:
        self.log.append(("remember", memory.key))

    async def consolidate(
        self, token: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int:
        return len(turns)

    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None:
        self.log.append(("enqueue_post_call", call_sid))

    async def search_knowledge(self, token: str, query: str, k: int = 3) -> list[SearchHit]:
        self.log.append(("search_knowledge", query))
        return []


class FakeTwilio:
    """The media socket: `push` what Twilio sends; what the session sends lands in `sent`."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.sent: list[dict[str, Any]] = []
        self.closed: tuple[int, str] | None = None
        self._inbox: asyncio.Queue[str | None] = asyncio.Queue()

    def push(self, event: str, **body: Any) -> None:
        self._inbox.put_nowait(json.dumps({"event": event, **body}))

    def start(self, token: str = TOKEN) -> None:
        start = {
            "streamSid": "MZ1",
            "callSid": "CA1",
            "accountSid": "AC1",
            "customParameters": {"token": token},
        }
        self.push("start", start=start)

    def media(self, payload: str = "AAAA") -> None:
        self.push("media", media={"payload": payload, "timestamp": "0", "chunk": "1"})

    def break_link(self) -> None:
        self._inbox.put_nowait(None)

    async def serve(self, on_frame: FrameHandler) -> str:
        """As the real socket: each frame handed over in order, what its handler returns run
        before the next; why the socket went."""
        while self.closed is None:
            frame = await self._inbox.get()
            if frame is None:
                break
            if self.closed is not None:
                break  # closed: frames read but not handled are no one's
            pending = on_frame(frame, time.perf_counter_ns())
            if pending is not None:
                await pending
        return "closed" if self.closed is not None else "broke (no close frame)"

    async def send(self, message: str) -> None:
        if self.closed is not None:
            raise MediaClosed("gone")
        self.sent.append(json.loads(message))

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.log.append(("twilio_closed", code))
        self.closed = (code, reason)
        self._inbox.put_nowait(None)

    def events(self) -> list[str]:
        return [f["event"] for f in self.sent]


class FakeModel:
    """The model link: `open` a session as the link would, `frame` what the model says; what
    the session sends lands in `sent` (held while no session is open, like the link)."""

    def __init__(self, listener: ModelListener, log_: object) -> None:
        self.listener = listener
        self.sent: list[dict[str, Any]] = []
        self.held: list[str] = []
        self.reconnects = 0
        self.last_gap_ms: float | None = None
        self.dropped = 0
        self.opened_at = 0.0
        self.rotations = 0
        self.closed = False
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    async def open(self, reconnected: bool = False) -> None:
        self._ready = False
        for text in await self.listener.model_opened(reconnected):
            self.sent.append(json.loads(text))
        for text in self.held:
            self.sent.append(json.loads(text))
        self.held.clear()
        self._ready = True
        self.opened_at = time.monotonic()
        await settle()

    async def frame(self, type_: str, **body: Any) -> None:
        frame = json.dumps({"type": type_, **body})
        await self.listener.model_frame(frame, time.perf_counter_ns())
        await settle()

    def send(self, text: str) -> bool:
        if not self._ready:
            self.held.append(text)
            return False
        self.sent.append(json.loads(text))
        return True

    def rotate(self) -> None:
        self.rotations += 1

    async def run(self) -> None:
        await asyncio.Event().wait()  # the link's reader: runs until the call cancels it

    async def close(self) -> None:
        self.closed = True

    def types(self) -> list[str]:
        return [f["type"] for f in self.sent]


class FakeLifecycle:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.reports: list[CallReport] = []
        self.live: list[CallReport] = []

    async def call_ended(self, report: CallReport) -> None:
        self.reports.append(report)
        self.log.append(("report", report.outcome))

    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        self.live.extend(reports)


class FakeControl:
    def __init__(self, log: Log, fail: bool = False) -> None:
        self.log = log
        self.fail = fail

    async def hang_up(self, tenant_id: str, call_sid: str) -> None:
        self.log.append(("hang_up", call_sid))
        if self.fail:
            raise ConnectionError("Twilio is down")

    async def transfer(self, tenant_id: str, call_sid: str, number: str) -> None:
        self.log.append(("transfer", number))

    async def warm_transfer(self, tenant_id: str, call_sid: str, request: WarmRequest) -> None:
        self.log.append(("warm_transfer", request.number))

    async def set_recording(self, tenant_id: str, call_sid: str, on: bool) -> None:
        self.log.append(("set_recording", on))


async def settle(seconds: float = 0.02) -> None:
    """Let the session's tasks run (they only wait on each other here, never on a network)."""
    await asyncio.sleep(seconds)


class Call:
    """One session with its fakes, begun."""

    def __init__(
        self,
        tenant: TenantConfig = TENANT,
        *,
        attempt: int = 0,
        earlier: Sequence[Turn] = (),
        message_s: float = 0.0,
        config: EngineConfig = CONFIG,
        context: CallerContext = EMPTY_CONTEXT,
        on_file: Mapping[str, str] | None = None,
        verified_calls: set[str] | None = None,
        recording: str | None = None,
    ) -> None:
        self.log = Log()
        self.memory = FakeMemory(
            self.log, earlier, message_s, context, on_file, verified_calls, recording
        )
        self.lifecycle = FakeLifecycle(self.log)
        self.control = FakeControl(self.log)
        self.twilio = FakeTwilio(self.log)
        models: list[FakeModel] = []

        def open_model(
            listener: ModelListener, log_: structlog.typing.FilteringBoundLogger
        ) -> FakeModel:
            models.append(FakeModel(listener, log_))
            return models[-1]

        setup = CallSetup(
            "CA1", tenant, "+15550100", "+15550199", TOKEN, "memory-token", attempt=attempt
        )
        self.session = CallSession(
            config,
            self.memory,
            self.lifecycle,
            self.control,
            MediaAddress("127.0.0.1", 20001),
            setup,
            open_model=open_model,
        )
        self.model = models[0]
        self.session.begin()
        self._stream: asyncio.Task[None] | None = None

    def connect(self) -> None:
        """Twilio opens the media socket (the actor's server hands it to the session)."""
        self._stream = asyncio.get_running_loop().create_task(
            self.session.handle_twilio(self.twilio)
        )

    async def live(self) -> None:
        """Greeting asked for, the stream started: a call in progress."""
        await self.model.open()
        self.connect()
        self.twilio.start()
        await settle()

    async def end(self, timeout: float = 5.0) -> CallReport:
        await self.session.wait_done(timeout)
        assert self.session.done
        if self._stream is not None:
            await asyncio.wait_for(self._stream, timeout)
        assert await self.session.drain()
        return self.lifecycle.reports[-1]
