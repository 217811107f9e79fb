"""What one call session is made of, wired together when the call is taken on: the turn writer,
the model link, the task set, the metrics, what the model is told (actors/model_brief.py), the
tool runner (actors/tool_calls.py), the tenant's voice (actors/voice_relay.py) and what finishing
the call touches (actors/call_finish.py); and the background work a call begins with.

No I/O here: the parts do theirs in the tasks `start` spawns, each in the call's one TaskSet.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from actors import call_effects, call_timers
from actors.call_finish import CallEnding
from actors.call_sockets import MediaSocket, ModelChannel, ModelListener
from actors.call_tools import ToolContext
from actors.model_brief import ModelBrief
from actors.model_link import ModelLink
from actors.ports import CallControl, CallLifecycle, CallSetup, MemoryClient
from actors.tool_calls import ToolCalls
from actors.turn_writer import TurnWriter
from actors.voice_relay import VoiceRelay
from engine import call_events as ev
from engine import realtime_codec as rt
from engine import twilio_codec as tw
from engine.call_metrics import CallMetrics
from engine.call_state import CallState
from engine.config import EngineConfig
from engine.speech_meter import SpeechMeter
from engine.task_set import TaskSet
from memory.call_records import Turn

Log = structlog.typing.FilteringBoundLogger
OpenModel = Callable[[ModelListener, Log], ModelChannel]
Apply = Callable[[ev.CallEvent, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class CallParts:
    """One call's parts, as its session holds them."""

    config: EngineConfig
    setup: CallSetup
    memory: MemoryClient
    control: CallControl | None
    log: Log
    turns: TurnWriter
    model: ModelChannel
    tasks: TaskSet
    metrics: CallMetrics
    brief: ModelBrief
    tools: ToolCalls
    voice: VoiceRelay
    meter: SpeechMeter  # armed while the caller talks over the agent
    ending: CallEnding

    def start(
        self, state: Callable[[], CallState], apply: call_timers.Apply, rotate: Callable[[], None]
    ) -> None:
        """Begin the call's background work: the caller's look-up, the call's row, the model
        link, the voice's warm-up, the turn writer, the stream watchdog and the tick."""
        memory, setup, turns, tasks, log = self.memory, self.setup, self.turns, self.tasks, self.log
        self.metrics.prepared_at = time.monotonic()
        self.brief.look_up_caller(tasks)
        tasks.spawn(call_effects.record_start(memory, setup, turns, log, state()))
        tasks.spawn(self.model.run())
        self.voice.warm()
        tasks.spawn(turns.run())
        tasks.spawn(call_timers.stream_watchdog(apply))
        tasks.spawn(call_timers.tick(state, apply, rotate))

    async def run_tool(
        self, call: rt.FunctionCall, received_ns: int, apply: call_timers.Apply
    ) -> None:
        """Run the model's tool call (actors/tool_calls.py) and step its result; a caller it
        verified has their facts disclosed to the model first."""
        brief = self.brief
        result = await self.tools.run(
            call, brief.offered.get(call.name), received_ns, on_slow=apply
        )
        if result.verified and not brief.verified:  # before the model answers the result
            self.model.send(await brief.disclosure())
        await apply(result)

    def stream_started(self, start: tw.Start, now: float) -> None:
        """The stream is live: note when, and count it on the call's row."""
        self.metrics.stream_started_at = now
        self.metrics.mark("stream_start", now)
        memory, setup, turns, log = self.memory, self.setup, self.turns, self.log
        self.tasks.spawn(call_effects.stream_connected(memory, setup, turns, start, log))


def assemble(
    config: EngineConfig,
    memory: MemoryClient,
    lifecycle: CallLifecycle | None,
    control: CallControl | None,
    setup: CallSetup,
    log_: Log,
    listener: ModelListener,
    apply: Apply,
    take_stream: Callable[[], MediaSocket | None],
    open_model: OpenModel | None = None,
) -> CallParts:
    """Wire one call's parts, logging to `log_`. `listener` hears the model link, `apply`
    steps the call's state machine, `take_stream` lets go of the session's Twilio socket;
    `open_model` makes the model link (a ModelLink by default; a fake in unit tests)."""
    tasks = TaskSet("call", log_)

    def consolidate(turns: list[Turn]) -> None:
        tasks.spawn(call_effects.consolidate(memory, setup, turns, log_))

    turns = TurnWriter(
        memory,
        setup.memory_token,
        setup.call_sid,
        on_consolidate=consolidate,
        redact=setup.tenant.pii_redaction,
    )
    opener = open_model or (lambda listener, log_: ModelLink(config, listener, log_))
    model = opener(listener, log_)
    metrics = CallMetrics(prepared_at=time.monotonic())
    context = ToolContext(
        setup.tenant, setup.call_sid, setup.from_number, memory, setup.memory_token
    )
    return CallParts(
        config=config,
        setup=setup,
        memory=memory,
        control=control,
        log=log_,
        turns=turns,
        model=model,
        tasks=tasks,
        metrics=metrics,
        brief=ModelBrief(memory, setup, turns, metrics, log_),
        tools=ToolCalls(context, turns, tasks, metrics, log_),
        # an ElevenLabs voice speaking the model's text, when the tenant has chosen one
        voice=VoiceRelay(config, setup.tenant, apply, model.send, turns, metrics, log_),
        meter=SpeechMeter(),
        ending=CallEnding(
            setup, memory, lifecycle, turns, model, metrics, tasks, log_, take_stream
        ),
    )
