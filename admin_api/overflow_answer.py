"""The answer to a call the node has no room for: the tenant's overflow (engine.overflow), as
TwiML. Pure apart from reading the request's query and the clock.

For a queue it is `<Enqueue>` into the tenant's queue, whose wait URL carries when the caller
first entered (`since`, epoch seconds) and the max wait (`max`); Twilio signs over the whole
URL, so both are the engine's own (admin_api.routers.queue_webhooks serves it). A caller the
engine dequeued comes back to `/twilio/voice?since=`: if the node filled up again meanwhile,
they are queued again with the time they first entered, while their max wait lasts.
"""

from __future__ import annotations

import time
from urllib.parse import quote

from fastapi import HTTPException, Request

from actors.ports import Admission
from engine import twiml
from engine.overflow import QUEUE_WAIT_MAX_S, queue_name, wait_left_s

SINCE_PAST_S = 2 * QUEUE_WAIT_MAX_S  # an older `since` is not one of ours


def queue_since(request: Request, *, required: bool) -> int | None:
    """The `since` of the request's query (None when absent and not required); 400 when it
    is malformed or not a recent time."""
    raw = request.query_params.get("since")
    if raw is None and not required:
        return None
    now = time.time()
    if raw is None or not raw.isdigit() or not now - SINCE_PAST_S <= int(raw) <= now + 60:
        raise HTTPException(400, "since missing or malformed")
    return int(raw)


def overflow_answer(base: str, tenant_id: str, admission: Admission, request: Request) -> str:
    """The TwiML for a call the node has no room for: the tenant's overflow. A caller the
    engine dequeued (`since` in the URL) who finds the node full again is queued again, with
    the time they first entered, while their max wait lasts."""
    tenant_q = f"?tenant={quote(tenant_id)}"
    if admission.overflow == "transfer":
        return twiml.overflow(
            admission.overflow_to, action_url=f"{base}/twilio/dial-status{tenant_q}"
        )
    if admission.overflow != "queue":
        return twiml.overflow(None, action_url="")
    now = time.time()
    try:
        since = queue_since(request, required=False) or int(now)
    except HTTPException:  # not one of ours: the caller still gets an answer, from now
        since = int(now)
    if wait_left_s(since, admission.queue_max_wait_s, now) <= 0:
        return twiml.say_and_hang_up(twiml.QUEUE_GAVE_UP)
    wait = f"{base}/twilio/queue-wait{tenant_q}&since={since}&max={admission.queue_max_wait_s}"
    return twiml.enqueue(
        queue_name(tenant_id), wait_url=wait, action_url=f"{base}/twilio/queue-left{tenant_q}"
    )
