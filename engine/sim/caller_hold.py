"""A simulated caller on hold: in a conference (a warm transfer) or in a queue (`<Enqueue>`).

I/O: waits on the REST fake's conference and queue state (`engine.sim.twilio_conference`,
`engine.sim.twilio_queues`) and fetches their wait URLs and actions through the call's signed
webhooks. A REST update of the call (hang-up, new TwiML) takes it off hold at any time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any, Protocol

from engine.sim.caller_result import CallResult
from engine.sim.caller_webhooks import CallWebhooks, WebhookCaller
from engine.sim.twilio_call_script import CallScript
from engine.sim.twilio_queues import FakeQueue
from engine.sim.twiml_verbs import (
    TwimlConference,
    TwimlEnqueue,
    TwimlError,
    TwimlHangup,
    TwimlLeave,
    TwimlPause,
    TwimlSay,
    parse_twiml,
)


class HeldCall(Protocol):
    """What holding needs of the call it holds (a `CallRun`)."""

    script: CallScript
    result: CallResult
    hooks: CallWebhooks
    rest_event: asyncio.Event  # set while a REST update of the call waits to be applied

    @property
    def caller(self) -> WebhookCaller: ...

    def rest_pending(self) -> bool: ...

    async def apply_rest(self) -> str | None:
        """Apply the waiting REST update: the next TwiML document, or None (hung up)."""
        ...

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run a side task (a callback) in the call's task group."""
        ...


async def conference(call: HeldCall, verb: TwimlConference) -> str | None:
    """Wait in the conference (hearing its wait URL) until someone starts it, then stay
    until it ends; a REST update takes the call out of it at any time. A caller out of
    patience (`CallScript.hold_patience_s`) hangs up while still waiting."""
    rest, result = call.caller.rest, call.result
    if rest is None:
        result.violations.append("sim: <Conference> needs the REST fake")
        return None
    room = rest.conferences.join(
        call.caller.account_sid,
        verb.name,
        result.call_sid,
        start_on_enter=verb.start_on_enter,
        end_on_exit=verb.end_on_exit,
        now=time.monotonic(),
    )
    if room.status == "init":
        result.held_at = time.monotonic()
        if verb.wait_url:
            call.spawn(_hold_music(call, call.hooks.absolute(verb.wait_url), room.sid))
    waits = [asyncio.ensure_future(e.wait()) for e in (room.started, call.rest_event)]
    patience = call.script.hold_patience_s
    gave_up = asyncio.ensure_future(asyncio.sleep(86400 if patience is None else patience))
    try:
        await asyncio.wait([*waits, gave_up], return_when=asyncio.FIRST_COMPLETED)
        if room.status == "in-progress" and not call.rest_pending():
            result.joined_at = time.monotonic()
            waits.append(asyncio.ensure_future(room.ended.wait()))
            await asyncio.wait(waits[1:], return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in (*waits, gave_up):
            waiting.cancel()
    rest.conferences.leave(room, result.call_sid)
    result.left_hold_at = time.monotonic()
    if gave_up.done() and not gave_up.cancelled() and result.joined_at is None:
        return None  # hung up on hold
    if call.rest_pending():
        return await call.apply_rest()
    if verb.action is None:
        return None
    params = call.hooks.params("in-progress")
    params.update(DialCallStatus="completed", ConferenceSid=room.sid)
    return await call.hooks.post(call.hooks.absolute(verb.action), params)


async def enqueue(call: HeldCall, verb: TwimlEnqueue) -> str | None:
    """Hold in the queue, running its wait URL's TwiML again each time it ends, until a
    REST dequeue (the call runs the member's URL), `<Leave>` or a queue error (the
    `<Enqueue action>` with `QueueResult`, or the next verb without one: "continue"), a
    REST update of the call, or the caller's patience (`CallScript.queue_patience_s`) runs
    out: they hang up (the action is told `hangup`; the call ends)."""
    rest, result = call.caller.rest, call.result
    if rest is None:
        result.violations.append("sim: <Enqueue> needs the REST fake")
        return None
    now = time.monotonic()
    queue = rest.queues.enter(call.caller.account_sid, verb.name, result.call_sid, now)
    if queue is None:
        return await _queue_action(call, verb, "queue-full", None, now)
    result.queued_at = now
    member = queue.members[result.call_sid]
    patience = call.script.queue_patience_s
    hold = asyncio.ensure_future(_queue_wait_loop(call, verb, queue))
    waits = [
        hold,
        asyncio.ensure_future(member.dequeued.wait()),
        asyncio.ensure_future(call.rest_event.wait()),
        asyncio.ensure_future(asyncio.sleep(patience if patience is not None else 86400)),
    ]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiting in waits:
            waiting.cancel()
    result.left_queue_at = time.monotonic()
    rest.queues.leave(queue, result.call_sid, result.left_queue_at)
    if member.url is not None:
        result.queue_result = "dequeued"
        params = call.hooks.params("in-progress")
        params.update(QueueSid=queue.sid, QueueTime=str(round(result.left_queue_at - now)))
        return await call.hooks.post(call.hooks.absolute(member.url), params)
    if call.rest_pending():
        result.queue_result = "redirected"
        return await call.apply_rest()
    ended = hold.result() if hold.done() and not hold.cancelled() else "hangup"
    if ended == "hangup-verb":  # <Hangup> in the wait TwiML ends the call
        result.queue_result = "hangup"
        return None
    doc = await _queue_action(call, verb, ended, queue.sid, now)
    return None if ended == "hangup" else doc


async def _queue_action(
    call: HeldCall, verb: TwimlEnqueue, outcome: str, queue_sid: str | None, since: float
) -> str | None:
    call.result.queue_result = outcome
    if verb.action is None:
        return "continue"
    params = call.hooks.params("completed" if outcome == "hangup" else "in-progress")
    params.update(QueueResult=outcome, QueueTime=str(round(time.monotonic() - since)))
    if queue_sid is not None:
        params["QueueSid"] = queue_sid
    return await call.hooks.post(call.hooks.absolute(verb.action), params)


async def _queue_wait_loop(call: HeldCall, verb: TwimlEnqueue, queue: FakeQueue) -> str:
    """The wait URL's TwiML, fetched again each time it ends: "leave" or "hangup-verb"."""
    call_sid = call.result.call_sid
    while True:
        if verb.wait_url is None:
            await asyncio.sleep(3600)  # Twilio's default hold music
            continue
        params = call.hooks.params("in-progress")
        params.update(
            QueueSid=queue.sid,
            QueueTime=str(round(time.monotonic() - queue.members[call_sid].joined)),
            QueuePosition=str(queue.position(call_sid)),
            CurrentQueueSize=str(len(queue.members)),
            AvgQueueTime=str(queue.average_wait_s()),
            MaxQueueSize=str(queue.max_size),
        )
        doc = await call.hooks.post(call.hooks.absolute(verb.wait_url), params)
        try:
            verbs = parse_twiml(doc) if doc is not None else []
        except TwimlError as exc:
            call.result.violations.append(f"12100 wait URL: {exc}")
            verbs = []
        if not verbs:
            await asyncio.sleep(1.0)
        for wait_verb in verbs:
            if isinstance(wait_verb, TwimlSay):
                call.result.said.append(wait_verb.text)
            elif isinstance(wait_verb, TwimlPause):
                await asyncio.sleep(wait_verb.seconds)
            elif isinstance(wait_verb, TwimlLeave):
                return "leave"
            elif isinstance(wait_verb, TwimlHangup):
                return "hangup-verb"
            else:
                name = type(wait_verb).__name__.removeprefix("Twiml")
                call.result.violations.append(f"12200 <{name}> not allowed in a wait URL")


async def _hold_music(call: HeldCall, url: str, conference_sid: str) -> None:
    """The conference's wait URL, fetched once (its `<Say>` is what the caller hears)."""
    params = call.hooks.params("in-progress")
    params.update(ConferenceSid=conference_sid, QueuePosition="1", QueueTime="0")
    doc = await call.hooks.post(url, params)
    if doc is None:
        return
    try:
        verbs = parse_twiml(doc)
    except TwimlError as exc:
        call.result.violations.append(f"12100 wait URL: {exc}")
        return
    call.result.said.extend(v.text for v in verbs if isinstance(v, TwimlSay))
