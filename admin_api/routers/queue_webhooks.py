"""Twilio webhooks of the overflow queue (engine.overflow "queue"), each signature-checked with
the tenant's auth token like every webhook (admin_api.webhooks):

- `/twilio/voice` answers a call the node has no room for with the tenant's overflow
  (admin_api.overflow_answer): for a queue, `<Enqueue>` into the tenant's queue.
- `POST /twilio/queue-wait?tenant=&since=&max=`: the queue's wait URL, asked for on entering
  and each time its TwiML ends: the hold message and a pause of at most the wait left, and
  the tenant's actor told who waits (it dequeues them onto `/twilio/voice?since=` when a call
  slot frees: actors.call_queue); once the max wait has passed, `<Leave>`.
- `POST /twilio/queue-left?tenant=`: the `<Enqueue action>`, asked for when the caller leaves
  the queue other than by a dequeue: hung up (`QueueResult=hangup`: nothing to say), gave up at
  the max wait (`leave`) or a queue error: the polite message. The tenant's actor forgets them.

A malformed `since`, `max` or `QueueSid` is a 400 and changes nothing.
"""

from __future__ import annotations

import math
import re
import time

import structlog
from fastapi import APIRouter, HTTPException, Request, Response

from admin_api.overflow_answer import queue_since
from admin_api.webhooks import TWIML, Ctx, Form, _call_sid, _tenant_checked
from engine import twiml
from engine.overflow import QUEUE_WAIT_MAX_S, QUEUE_WAIT_MIN_S, wait_left_s

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"], include_in_schema=False)

QUEUE_SID = re.compile(r"^QU[0-9a-f]{32}$")
HOLD_PAUSE_S = 10  # the longest pause between two wait-URL requests
LEFT_RESULTS = frozenset({"hangup", "leave", "queue-full", "error", "system-error"})


def _xml(body: str) -> Response:
    return Response(content=body, media_type=TWIML)


def _max_wait(request: Request) -> int:
    raw = request.query_params.get("max", "")
    if not raw.isdigit() or not QUEUE_WAIT_MIN_S <= int(raw) <= QUEUE_WAIT_MAX_S:
        raise HTTPException(400, "max missing or malformed")
    return int(raw)


@router.post("/queue-wait")
async def queue_wait(request: Request, ctx: Ctx, form: Form) -> Response:
    """The wait URL: hold on (the tenant's actor notes the caller) or, past the max, leave."""
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    since = queue_since(request, required=True)
    assert since is not None
    left = wait_left_s(since, _max_wait(request), time.time())
    if left <= 0:
        log.info("call_queue_wait_over", call_sid=call_sid, tenant_id=tenant_id)
        return _xml(twiml.leave_queue())
    queue_sid = form.get("QueueSid", "")
    if not QUEUE_SID.match(queue_sid):
        raise HTTPException(400, "QueueSid missing or malformed")
    await ctx.gateway.queue_wait(tenant_id, call_sid, queue_sid, since)
    return _xml(twiml.queue_hold(pause_s=min(HOLD_PAUSE_S, math.ceil(left))))


@router.post("/queue-left")
async def queue_left(request: Request, ctx: Ctx, form: Form) -> Response:
    """The `<Enqueue action>`: the caller left the queue without being dequeued."""
    call_sid = _call_sid(form)
    tenant_id = await _tenant_checked(ctx, request, form)
    result = form.get("QueueResult", "")
    await ctx.gateway.queue_left(tenant_id, call_sid)
    ctx.metrics.call_setups.labels(f"queue_{result if result in LEFT_RESULTS else 'other'}").inc()
    log.info("call_queue_left", call_sid=call_sid, tenant_id=tenant_id, result=result)
    if result in ("hangup", "bridged", "redirected"):
        return _xml(twiml.hang_up())
    if result == "leave":
        return _xml(twiml.say_and_hang_up(twiml.QUEUE_GAVE_UP))
    return _xml(twiml.say_and_hang_up(twiml.BUSY))
