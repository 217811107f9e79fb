"""Simulated Twilio callers for load: many calls, one asyncio process, every frame recorded.

`LoadGenerator` places calls at a rate (`grow`), hangs the oldest up and replaces them (`cycle`,
a soak's churn), hangs all up, and hands over what every call recorded (`records`). Each call is
a `bench.caller.SimulatedCall`: a person on the phone who waits for the greeting, then talks in
turns and sometimes barges in on the answer, until the driver hangs up all calls. Pure parts
come from the engine's own simulators: TwiML parsing (`engine.sim.twiml_verbs.parse_twiml`)
and Twilio's playback buffer with its mark bookkeeping (`engine.sim.twilio_playback.Playback`).

I/O: signed webhook POSTs (one shared aiohttp session, `bench.caller_webhooks`) to the target,
one WebSocket client per call (`bench.caller`), pickle files on `dump`, the command channel.

Run alone: `python -m bench.loadgen` and send it `configure`, `grow`, `cycle`, `dump`,
`hangup`, `quit` commands (`bench.control`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pickle
import random
import time
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench import control, lag
from bench.caller import SimulatedCall
from bench.caller_webhooks import WebhookClient
from bench.load_spec import BARGE_LINE, LINES, Behaviour, GrowResult, TargetSpec, utterance
from bench.records import CallerDump, LagRecord
from bench.tags import MAX_STREAM
from engine.task_set import TaskSet


class LoadGenerator:
    """Places and runs simulated calls against one target; see the module docstring."""

    def __init__(self, target: TargetSpec, behaviour: Behaviour, seed: int = 1) -> None:
        self.target = target
        self.behaviour = behaviour
        self.seed = seed
        self.client = WebhookClient(target)
        self.calls: list[SimulatedCall] = []
        self.tasks = TaskSet("caller")
        self.lag = LagRecord(role="callers")
        rng = random.Random(seed)
        self.utterances = tuple(
            utterance(line, int(rng.uniform(*behaviour.speak_ms))) for line in LINES
        )
        self.barge_utterance = utterance(BARGE_LINE, behaviour.barge_ms)
        self._probe: asyncio.Task[None] | None = None

    def active(self) -> int:
        return sum(1 for c in self.calls if c.active)

    def _place(self) -> SimulatedCall:
        if self._probe is None:
            self._probe = asyncio.get_running_loop().create_task(lag.probe(self.lag))
        index = len(self.calls) + 1
        numbers = self.target.to_numbers
        call = SimulatedCall(
            self.client,
            self.behaviour,
            self.utterances,
            self.barge_utterance,
            self.seed,
            index,
            numbers[index % len(numbers)],
        )
        self.calls.append(call)
        call.task = self.tasks.spawn(call.run())
        return call

    async def grow(self, target: int, rate: float, settle_timeout: float = 60.0) -> GrowResult:
        """Place `rate` calls per second, as many as `target` less those active now; return once
        every new call is live, refused or failed. A refused call is not placed again: a full
        node refusing calls is measured, not worked around."""
        wanted = target - self.active()
        if wanted > MAX_STREAM - len(self.calls):
            raise ValueError("too many calls for the 16-bit stream tag")
        began = time.monotonic()
        new: list[SimulatedCall] = []
        while len(new) < wanted:
            due = began + len(new) / rate
            delay = due - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            new.append(self._place())
        if new:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    asyncio.gather(*(c.settled.wait() for c in new)), settle_timeout
                )
        result = GrowResult(
            placed=len(new),
            live=sum(1 for c in new if c.rec.outcome == "live"),
            failed=sum(1 for c in new if c.rec.outcome in ("failed", "placed", "ended", "dropped")),
            refused=sum(1 for c in new if c.rec.outcome == "refused"),
            active=self.active(),
            first_placed_at=new[0].rec.placed_at if new else began,
            last_live_at=max((c.rec.started_at or 0.0 for c in new), default=began),
            errors=sorted({c.rec.error for c in new if c.rec.error})[:10],
        )
        return result

    async def cycle(self, count: int, rate: float, timeout: float = 30.0) -> dict[str, Any]:
        """The `count` oldest active calls hang up and as many new ones are placed (a soak's
        churn); returns how many ended within `timeout` and the new calls' GrowResult."""
        target = self.active()
        old = [c for c in self.calls if c.active][:count]
        for call in old:
            call.hangup.set()
        running = [c.task for c in old if c.task is not None]
        if running:
            await asyncio.wait(running, timeout=timeout)
        ended = sum(1 for c in old if not c.active)
        grown = await self.grow(target, rate, timeout)
        return {"hung_up": len(old), "ended": ended, **asdict(grown)}

    async def hangup_all(self, timeout: float = 30.0) -> int:
        """Every live call hangs up; returns how many calls were still running after it."""
        for call in self.calls:
            call.hangup.set()
        return await self.tasks.wait(timeout)

    def records(self, since: float = 0.0) -> CallerDump:
        return CallerDump(
            streams=[c.rec.window(since) for c in self.calls],
            lag=self.lag.window(since),
            pid=os.getpid(),
        )

    async def close(self) -> None:
        await self.hangup_all(5.0)
        await self.tasks.close(5)
        if self._probe is not None:
            self._probe.cancel()
        await self.client.close()


async def _run() -> None:
    gen: LoadGenerator | None = None

    async def handle(command: dict[str, Any]) -> dict[str, Any]:
        nonlocal gen
        op = command.get("op")
        if op == "configure":
            target = command["target"]
            target["to_numbers"] = tuple(target["to_numbers"])
            behaviour: dict[str, Any] = {
                k: tuple(v) if isinstance(v, list) else v
                for k, v in command.get("behaviour", {}).items()
            }
            gen = LoadGenerator(
                TargetSpec(**target), Behaviour(**behaviour), int(command.get("seed", 1))
            )
            return {"ok": True, "pid": os.getpid()}
        if gen is None:
            return {"ok": False, "error": "configure first"}
        if op == "grow":
            result = await gen.grow(
                int(command["target"]),
                float(command["rate"]),
                float(command.get("settle_timeout", 60.0)),
            )
            return {"ok": True, **asdict(result)}
        if op == "dump":
            dump = gen.records(float(command.get("since", 0.0)))
            data = pickle.dumps(dump, protocol=5)
            await asyncio.to_thread(Path(command["path"]).write_bytes, data)
            return {"ok": True, "streams": len(dump.streams)}
        if op == "cycle":
            done = await gen.cycle(
                int(command["count"]), float(command["rate"]), float(command.get("timeout", 30.0))
            )
            return {"ok": True, **done}
        if op == "hangup":
            left = await gen.hangup_all(float(command.get("timeout", 30.0)))
            return {"ok": True, "still_running": left}
        if op == "quit":
            await gen.close()
            return {"ok": True}
        return {"ok": False, "error": f"unknown op {op!r}"}

    await control.serve_commands(handle)
    if gen is not None:
        await gen.close()


def main(argv: Sequence[str] | None = None) -> int:
    control.quiet_logs()
    loop = control.install_uvloop()
    control.reply({"ok": True, "pid": os.getpid(), "loop": loop})
    asyncio.run(_run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
