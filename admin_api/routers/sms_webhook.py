"""POST /twilio/sms: a text to one of an agency's numbers (Twilio's incoming message webhook).

Signature-checked with the tenant's auth token like every webhook (admin_api.webhooks; the
tenant is the one owning `To`). A message that is a STOP, START or HELP keyword
(engine.sms_keywords) is recorded and applied once per MessageSid in one small write
(memory.sms_consent): after a STOP the engine queues and sends no text to that number for this
agency - staff notifications and caller confirmations alike - until a START. Any other text is
not kept. The answer is an empty TwiML response: Twilio sends the standard keyword replies
itself, so the texter gets exactly one. When the database cannot take the keyword the answer is
503 (Twilio shows the failure in its console); Twilio blocks texts to a STOPped number anyway,
and the outbox records that block (error 21610) on the next send.
"""

from __future__ import annotations

import re
import time

import structlog
from fastapi import APIRouter, HTTPException, Request, Response

from admin_api.webhooks import Ctx, Form, _tenant_checked
from engine import twiml
from engine.sms_keywords import keyword
from memory import sms_consent
from memory.errors import DATABASE_DOWN

log = structlog.get_logger(__name__)

router = APIRouter(prefix="/twilio", tags=["twilio"])

MESSAGE_SID = re.compile(r"^(SM|MM)[0-9a-f]{32}$")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


@router.post("/sms", include_in_schema=False)
async def sms(request: Request, ctx: Ctx, form: Form) -> Response:
    began = time.perf_counter()
    try:
        return await _sms(request, ctx, form)
    finally:
        ctx.metrics.webhook_seconds.labels("sms").observe(time.perf_counter() - began)


async def _sms(request: Request, ctx: Ctx, form: dict[str, str]) -> Response:
    message_sid = form.get("MessageSid", "")
    if not MESSAGE_SID.match(message_sid):
        raise HTTPException(400, "MessageSid missing or malformed")
    tenant_id = await _tenant_checked(ctx, request, form)
    number = form.get("From", "")
    if not E164.match(number):
        raise HTTPException(400, "From is not an E.164 number")
    word = keyword(form.get("Body", ""), form.get("OptOutType", ""))
    if word is not None:
        try:
            new = await sms_consent.apply_keyword(
                await ctx.db(), tenant_id, message_sid, number, word
            )
        except DATABASE_DOWN as exc:
            log.warning("sms_keyword_not_stored", keyword=word, error=repr(exc))
            raise HTTPException(503, "the keyword could not be recorded") from None
        log.info("sms_keyword", tenant_id=tenant_id, keyword=word, new=new, pii_number=number)
    return Response(content=twiml.no_reply(), media_type="application/xml")
