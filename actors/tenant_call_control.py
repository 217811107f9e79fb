"""A tenant's live calls controlled over the Twilio REST API: hang up, recording on or off,
transfer (cold or warm), a caller back from a failed warm transfer, a declined recording
deleted. Used by the TenantActor (which holds the tenant's Twilio credentials; nothing else
does). I/O: HTTPS to Twilio (actors.twilio_rest) and, for recordings, the call's record in
Postgres through the memory actors (TenantStore).

State it owns: the recording deletions running in the background (a TaskSet). The account is
asked for on every request, so a changed auth token takes effect with the tenant's config.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from actors import twilio_rest
from actors.ports import TenantStore
from actors.twilio_rest import TwilioAccount
from engine import twiml, warm_transfer
from engine.task_set import TaskSet
from engine.warm_transfer import WarmRequest


class TenantCallControl:
    def __init__(
        self,
        *,
        tenant_id: str,
        public_base_url: str,
        store: TenantStore,
        account: Callable[[], Awaitable[TwilioAccount]],
        token: Callable[[str], str],
        log: structlog.typing.FilteringBoundLogger,
    ) -> None:
        self._tenant_id = tenant_id
        self._base = public_base_url
        self._store = store
        self._account = account  # raises CallControlError without tenant or account
        self._token = token  # a memory token for the call
        self._log = log
        self._deletions: TaskSet | None = None  # made on first use

    async def hang_up(self, call_sid: str) -> None:
        await twilio_rest.hang_up(await self._account(), call_sid)
        self._log.info("call_hung_up", call_sid=call_sid)

    async def set_recording(self, call_sid: str, on: bool) -> None:
        """Start the live call's recording (reported to the recording webhook like one TwiML
        started) or stop it. The call's record decides (memory.calls): a start is claimed
        there first, so a recording is started once and never after a decline, whichever actor
        of the call asks; a decline is marked there first, so the stopped recording's callback
        finds it so, and nothing is stopped when nothing had started."""
        account = await self._account()
        token = self._token(call_sid)
        if on:
            if not await self._store.claim_recording(token, call_sid):
                self._log.info("call_recording_not_owed", call_sid=call_sid)
                return
            callback = f"{self._base}/twilio/recording?tenant={self._tenant_id}"
            try:
                await twilio_rest.start_recording(account, call_sid, callback)
            except Exception:
                await self._store.unclaim_recording(token, call_sid)
                raise
        elif await self._store.decline_recording(token, call_sid) in ("not_started", "declined"):
            self._log.info("call_recording_declined_before_start", call_sid=call_sid)
            return
        else:
            await twilio_rest.stop_recording(account, call_sid)
        self._log.info("call_recording_set", call_sid=call_sid, on=on)

    async def transfer(self, call_sid: str, number: str) -> None:
        """Redirect the live call to dial `number`; if the dial fails, the dial-status webhook
        apologises and hangs up."""
        account = await self._account()
        action = f"{self._base}/twilio/dial-status?tenant={self._tenant_id}"
        await twilio_rest.redirect(account, call_sid, twiml.dial(number, action_url=action))
        self._log.info("call_transferred", call_sid=call_sid, pii_to=number)

    async def warm_transfer(self, call_sid: str, request: WarmRequest) -> None:
        """Put the caller on hold in the call's conference and call the target with the
        whisper; the target's progress reaches the warm-transfer webhooks."""
        account = await self._account()
        base, tenant_q = self._base, f"tenant={self._tenant_id}"
        warm = f"{base}/twilio/warm"
        name = warm_transfer.conference_name(call_sid)
        hold = twiml.hold_in_conference(
            name,
            wait_url=f"{warm}/hold?{tenant_q}",
            action_url=f"{base}/twilio/dial-status?{tenant_q}",
        )
        await twilio_rest.redirect(account, call_sid, hold)
        whisper = twiml.whisper(
            request.summary,
            accept_url=f"{warm}/accept?{tenant_q}&call={call_sid}",
            digit=warm_transfer.ACCEPT_DIGIT,
            timeout_s=warm_transfer.GATHER_TIMEOUT_S,
        )
        target_sid = await twilio_rest.place_call(
            account,
            to=request.number,
            from_=request.caller_id,
            twiml=whisper,
            status_callback=f"{warm}/status?{tenant_q}&call={call_sid}",
            timeout_s=warm_transfer.RING_TIMEOUT_S,
        )
        self._log.info(
            "call_warm_transfer", call_sid=call_sid, target_sid=target_sid, pii_to=request.number
        )

    async def return_caller(self, call_sid: str) -> None:
        """A warm transfer failed: the holding caller's call fetches `/twilio/warm/return`,
        which connects it to the agent again."""
        account = await self._account()
        url = f"{self._base}/twilio/warm/return?tenant={self._tenant_id}"
        await twilio_rest.redirect_url(account, call_sid, url)
        self._log.info("call_warm_transfer_returned", call_sid=call_sid)

    def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording at Twilio in the background; returns at once."""
        if self._deletions is None:
            self._deletions = TaskSet("recording-deletions", self._log)
        self._deletions.spawn(self._delete_recording(recording_sid))

    async def _delete_recording(self, recording_sid: str) -> None:
        try:
            await twilio_rest.delete_recording(await self._account(), recording_sid)
        except Exception as exc:
            self._log.error("recording_delete_failed", recording_sid=recording_sid, error=repr(exc))
            return
        self._log.info("recording_deleted", recording_sid=recording_sid)
