"""A function call from the model, run inside a call: written to the transcript, run off the
audio path (the session goes on relaying audio meanwhile), a spoken filler asked for when it
takes longer than FILLER_AFTER_S, and its latency counted by tool and status (the call's
metrics, exported at /metrics by the pool). A tool the call does not offer is counted as
`unknown`: a name the model makes up never becomes a label; an agency's own tool is counted as
`custom`, so agencies' names never do either.

I/O: the tool implementations (actors.call_tools, which bound each tool by its timeout) and the
session's `on_slow` callback; the turn goes to the call's TurnWriter.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from actors.call_tools import ToolContext, run_tool
from actors.turn_writer import TurnWriter
from engine import agency_tools
from engine import realtime_codec as rt
from engine.call_events import ToolResult, ToolSlow
from engine.call_metrics import CallMetrics
from engine.task_set import TaskSet
from engine.tools import FILLER_AFTER_S, ToolSpec, transcript_line

UNKNOWN_TOOL = "unknown"  # the label of a call to a tool that is not on offer
CUSTOM_TOOL = "custom"  # the label of a call to an agency's own tool


class ToolCalls:
    """Runs a call's tool calls; owns nothing but what it is given."""

    def __init__(
        self,
        context: ToolContext,
        turns: TurnWriter,
        tasks: TaskSet,
        metrics: CallMetrics,
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._context = context
        self._turns = turns
        self._tasks = tasks
        self._metrics = metrics
        self._log = log
        if context.tenant.agency_tools:  # the agency's lookups: ready before the first one
            tasks.spawn(agency_tools.warm())

    async def run(
        self,
        call: rt.FunctionCall,
        spec: ToolSpec | None,
        received_ns: int,
        on_slow: Callable[[ToolSlow], Awaitable[None]],
    ) -> ToolResult:
        """Run `call` (`spec` is None for a tool not on offer); `received_ns` is when its frame
        arrived. `on_slow` is awaited once the tool has run FILLER_AFTER_S without an answer."""
        label = UNKNOWN_TOOL if spec is None else CUSTOM_TOOL if spec.agency else call.name
        said = transcript_line(call.name, call.arguments)
        self._turns.add("tool", said, {"call_id": call.call_id, "name": call.name})
        task = self._tasks.spawn(
            run_tool(spec, call.call_id, call.name, call.arguments, self._context)
        )
        done, _ = await asyncio.wait({task}, timeout=FILLER_AFTER_S)
        if not done:
            await on_slow(ToolSlow(label))
        ran = await task
        tool_ms = (time.perf_counter_ns() - received_ns) / 1e6
        self._metrics.tool_ran(label, ran.status, tool_ms)
        self._log.info("tool_ran", tool=label, status=ran.status, tool_ms=round(tool_ms, 2))
        return ran.result
