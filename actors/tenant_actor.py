"""TenantActor: one per tenant, named `tenant:<uuid>`.

State it owns: the tenant's config snapshot (loaded from Postgres through the memory pool),
the set of calls it has admitted and not yet seen end (its concurrent-call cap), the callers
holding in its Twilio queue when the node was full (actors.call_queue), and the key ring it
mints the per-call tokens with. The Twilio auth token is checked here, so webhook
replicas never hold tenant secrets; REST requests with it (hang-up, transfer, recording
downloads) are made here too (actors.tenant_call_control). Recording downloads run as
tracked background tasks with their own small DB pool and HTTP client, made on first use
(actors.recording_downloads).

Idempotent methods: `admit` for a CallSid it already admitted returns the same admission, and
`resume` for the resume it already granted (the same `attempt`) too; `release`, `reload`,
`validate`, `fetch_recordings`, `reconcile_calls`, `check_health`. Resumes are granted by the
webhook from a count kept in Postgres (memory.calls.claim_resume), never from this actor's
memory, and a resumed call counts against the cap like a new one.

When it dies: Ray restarts it; the config is reloaded from Postgres on first use
(actors.tenant_snapshot: one load at a time, at most CONFIG_TTL_S old). The set of
active calls starts empty, so for the remaining length of calls already running the cap may be
exceeded; calls themselves are unaffected. Downloads in flight stop with their rows still
`pending`; a recording callback of the tenant's, once they have been pending for five minutes,
starts them again.

At engine start `reconcile_calls` closes the tenant's calls a crash left open, from what Twilio
says of each (actors.call_reconcile), with a pool of its own closed afterwards.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime
from typing import TYPE_CHECKING

import structlog
from twilio.request_validator import RequestValidator

from actors.call_queue import CallQueue
from actors.ports import (
    Admission,
    AdmitRequest,
    CallClaimer,
    CallSetup,
    NodeFull,
    TenantStore,
)
from actors.ray_runtime import Shown
from actors.tenant_call_control import TenantCallControl
from actors.tenant_cap import LiveCalls
from actors.tenant_snapshot import TenantSnapshot
from actors.twilio_rest import CallControlError, TwilioAccount
from engine.config import EngineConfig, TenantConfig
from engine.logs import configure_actor
from engine.recording_consent import initial_recording
from engine.warm_transfer import WarmRequest

if TYPE_CHECKING:
    from actors.recording_downloads import RecordingDownloads
    from engine.tokens import KeyRing

log = structlog.get_logger(__name__)

TEST_CALLER = "+15550000000"  # the caller of a console test call (555-0000: never real)
CALL_TOKEN_TTL_S = 3 * 3600


class TenantActor:
    def __init__(
        self, config: EngineConfig, tenant_id: str, store: TenantStore, claimer: CallClaimer
    ) -> None:
        self._config = config
        self._tenant_id = tenant_id
        configure_actor(config)
        self._store = store
        self._claimer = claimer
        self._ring: KeyRing | None = None
        self._snapshot = TenantSnapshot(  # one load at a time (actors.tenant_snapshot)
            lambda: self._store.load_tenant_config(self._token("tenant-actor")),
            on_loaded=lambda tenant: self._shown.only(f"tenant {tenant.name}"),
        )
        self._active = LiveCalls()  # what the cap counts (actors.tenant_cap)
        self._log = log.bind(tenant_id=tenant_id)
        self._shown = Shown("serving")  # the tenant's name, as a running task in Ray
        self._queue = CallQueue(  # callers held in Twilio's queue (engine.overflow)
            tenant_id=tenant_id,
            public_base_url=config.public_base_url,
            room=lambda: self._claimer.room(),
            account=self._recording_account,
            log=self._log,
        )
        self._calls = TenantCallControl(
            tenant_id=tenant_id,
            public_base_url=config.public_base_url,
            store=store,
            account=self._live_account,
            token=self._token,
            log=self._log,
        )

    def __repr__(self) -> str:
        """What Ray shows for the actor (recorded once, at creation, before its name is known):
        the tenant's name is its running `serving` task's name, once its config is loaded."""
        return f"TenantActor({self._tenant_id})"

    async def serving(self, token: str) -> None:
        """Runs while this actor serves the tenant its name shows (ray_runtime.Shown)."""
        await self._shown.hold(token)

    def _token(self, subject: str) -> str:
        # Imported here: call actors import this module for their handles to tenant actors, and
        # pyjwt with its crypto backend is ~9 MB a call actor does not need.
        from engine.tokens import MEMORY_AUDIENCE, KeyRing, mint

        if self._ring is None:
            self._ring = KeyRing.single(self._config.jwt_secret)
        return mint(
            self._ring,
            tenant_id=self._tenant_id,
            subject=subject,
            audience=MEMORY_AUDIENCE,
            ttl_s=CALL_TOKEN_TTL_S,
        )

    async def _tenant(self) -> TenantConfig | None:
        return await self._snapshot.get()

    async def reload(self) -> int | None:
        """Drop the snapshot; the next call sees the admin's change. Returns the new version."""
        tenant = await self._snapshot.reload()
        return tenant.version if tenant else None

    def _auth_token(self, tenant: TenantConfig) -> str | None:
        return tenant.twilio_auth_token or self._config.twilio_auth_token

    async def validate(self, url: str, params: dict[str, str], signature: str) -> bool:
        """Check an X-Twilio-Signature with this tenant's auth token."""
        tenant = await self._tenant()
        token = self._auth_token(tenant) if tenant else None
        return bool(
            token and signature and RequestValidator(token).validate(url, params, signature)
        )

    async def admit(self, request: AdmitRequest) -> Admission:
        tenant = await self._tenant()
        if tenant is None:
            return Admission("unknown", reason="tenant missing or suspended")
        token = self._auth_token(tenant)
        if not (
            token
            and request.signature
            and RequestValidator(token).validate(request.url, request.params, request.signature)
        ):
            return Admission("forbidden", reason="bad signature")
        existing = self._active.get(request.call_sid)
        if existing is not None:
            return existing.admission
        if self._active.full(tenant.max_concurrent_calls):
            self._log.warning("call_refused_over_cap", cap=tenant.max_concurrent_calls)
            return Admission("refused", reason="over concurrent call cap")
        return await self._claim(tenant, request, attempt=0)

    async def admit_test(self, call_sid: str) -> Admission:
        """A test call from the console (the admin API checked who asks): a call like any
        other, from TEST_CALLER and not recorded, within the tenant's cap, with the signature
        the ingress needs to open its media stream as Twilio would."""
        tenant = await self._tenant()
        if tenant is None:
            return Admission("unknown", reason="tenant missing or suspended")
        token = self._auth_token(tenant)
        if not token:
            return Admission("forbidden", reason="no Twilio auth token to sign the stream with")
        existing = self._active.get(call_sid)
        if existing is not None:
            return existing.admission
        if self._active.full(tenant.max_concurrent_calls):
            return Admission("refused", reason="over concurrent call cap")
        request = AdmitRequest(call_sid, TEST_CALLER, TEST_CALLER, url="", params={}, signature="")
        admission = await self._claim(tenant, request, attempt=0)
        if admission.kind != "admitted":
            return admission
        signature = RequestValidator(token).compute_signature(admission.media_url, {})
        return replace(admission, record_calls=False, handshake_signature=signature)

    async def resume(self, request: AdmitRequest) -> Admission:
        """The call's actor was lost mid-call (the webhook checked the signature and was granted
        resume number `request.attempt` by Postgres): claim a fresh actor that resumes from
        Postgres, within the tenant's cap."""
        tenant = await self._tenant()
        if tenant is None:
            return Admission("unknown", reason="tenant missing or suspended")
        if request.attempt < 1:
            return Admission("unavailable", reason="no resume granted")
        previous = self._active.get(request.call_sid)
        if previous is not None and previous.attempt == request.attempt:
            return previous.admission
        self._active.drop(request.call_sid)  # its previous actor is lost
        if self._active.full(tenant.max_concurrent_calls):
            self._log.warning("call_resume_refused_over_cap", cap=tenant.max_concurrent_calls)
            return Admission("refused", reason="over concurrent call cap")
        return await self._claim(tenant, request, attempt=request.attempt)

    async def _claim(self, tenant: TenantConfig, request: AdmitRequest, attempt: int) -> Admission:
        media_token = secrets.token_urlsafe(24)
        setup = CallSetup(
            call_sid=request.call_sid,
            tenant=tenant,
            from_number=request.from_number,
            to_number=request.to_number,
            media_token=media_token,
            memory_token=self._token(request.call_sid),
            attempt=attempt,
        )
        placeholder = self._active.hold(request.call_sid, attempt)  # counts while claiming
        self._queue.gone(request.call_sid)  # a queued caller is off the queue now
        try:
            media_url = await self._claimer.claim(setup)
        except NodeFull as exc:  # the node protects its live calls: this one overflows
            self._active.drop(request.call_sid)
            self._log.warning("call_overflowed", call_sid=request.call_sid, reason=str(exc))
            return Admission(
                "full",
                reason=str(exc),
                overflow_to=tenant.fallback_number,
                overflow=tenant.overflow.action(tenant.fallback_number),
                queue_max_wait_s=tenant.overflow.queue_max_wait_s,
            )
        except Exception as exc:
            self._active.drop(request.call_sid)
            self._log.error("call_claim_failed", call_sid=request.call_sid, error=repr(exc))
            return Admission("unavailable", reason="no call capacity")
        admission = Admission(
            "admitted",
            media_url=media_url,
            media_token=media_token,
            record_calls=initial_recording(
                record_calls=tenant.record_calls,
                rule=tenant.recording_notice,
                caller_number=request.from_number,
                jurisdiction=tenant.jurisdiction,
                attempt=attempt,
            )
            == "from_start",  # else the engine starts it once the notice has played
        )
        placeholder.admission = admission
        self._log.info(
            "call_admitted", call_sid=request.call_sid, attempt=attempt, active=len(self._active)
        )
        return admission

    def _account(self, tenant: TenantConfig) -> TwilioAccount:
        sid = tenant.twilio_account_sid or self._config.twilio_account_sid
        token = self._auth_token(tenant)
        if not sid or not token:
            raise CallControlError("no Twilio account for this tenant", retryable=False)
        return TwilioAccount(sid, token, self._config.twilio_api_base_url)

    async def _live_account(self) -> TwilioAccount:
        """The account a live call is controlled with, as of the current config."""
        tenant = await self._tenant()
        if tenant is None:
            raise CallControlError("tenant missing or suspended", retryable=False)
        return self._account(tenant)

    # --- live calls over the REST API (actors.tenant_call_control) -------------------------------

    async def hang_up(self, call_sid: str) -> None:
        """End the live call through the REST API."""
        await self._calls.hang_up(call_sid)

    async def set_recording(self, call_sid: str, on: bool) -> None:
        """Start or stop the live call's recording, once (TenantCallControl.set_recording)."""
        await self._calls.set_recording(call_sid, on)

    async def transfer(self, call_sid: str, number: str) -> None:
        """Redirect the live call to dial `number` (TenantCallControl.transfer)."""
        await self._calls.transfer(call_sid, number)

    async def warm_transfer(self, call_sid: str, request: WarmRequest) -> None:
        """Hold the caller and call the target (TenantCallControl.warm_transfer)."""
        await self._calls.warm_transfer(call_sid, request)

    async def return_caller(self, call_sid: str) -> None:
        """Connect a caller back from a failed warm transfer (TenantCallControl)."""
        await self._calls.return_caller(call_sid)

    async def reconcile_calls(
        self, held: Sequence[str], started_before: datetime
    ) -> dict[str, int]:
        """Close the tenant's calls left open by a crash that started before
        ``started_before`` and that no live call actor holds (``held``, and this actor's own)."""
        from actors.call_reconcile import reconcile_with_own_pool

        tenant = await self._tenant()
        if tenant is None:
            return {}
        try:
            account = self._account(tenant)
        except CallControlError:
            self._log.warning("call_reconcile_skipped", reason="no Twilio account")
            return {}
        done = await reconcile_with_own_pool(
            self._config.app_database_url,
            self._tenant_id,
            account,
            held={*held, *self._active},
            started_before=started_before,
            max_call_s=float(tenant.max_call_seconds),
            post_call_queue=self._config.post_call_queue,
            outbox_queue=self._config.outbox_queue_name(),
            log=self._log,
        )
        return asdict(done)

    async def release(self, call_sid: str) -> None:
        self._active.drop(call_sid)
        self._queue.gone(call_sid)

    async def queue_wait(self, call_sid: str, queue_sid: str, since: int) -> None:
        """Twilio asked for a queued caller's wait TwiML (the webhook checked the signature):
        they hold in `queue_sid` since `since` (epoch seconds) until dequeued."""
        self._queue.waiting(call_sid, queue_sid, since)

    async def queue_left(self, call_sid: str) -> None:
        """The caller left the queue without being dequeued (hung up, or the max wait)."""
        self._queue.gone(call_sid)

    async def check_health(self) -> dict[str, object]:
        tenant = await self._tenant()
        return {
            "tenant_id": self._tenant_id,
            "loaded": tenant is not None,
            "version": tenant.version if tenant else None,
            "active_calls": len(self._active),
            "queued_calls": len(self._queue),
        }

    # --- recording downloads ---------------------------------------------------------------------

    _recordings: RecordingDownloads | None = None  # made on first use: most tenants never need it

    async def fetch_recordings(self, recording_sids: list[str]) -> None:
        """Download these registered recordings in the background, and restart the tenant's
        downloads left pending for minutes. Returns at once; a recording already downloading
        or stored is not fetched again."""
        if self._recordings is None:
            from actors.recording_downloads import RecordingDownloads

            self._recordings = RecordingDownloads(
                self._config, self._tenant_id, self._recording_account
            )
        self._recordings.request(recording_sids)

    async def delete_recording(self, recording_sid: str) -> None:
        """Delete a recording at Twilio in the background (its caller declined it; it is never
        downloaded). Returns at once: the recording webhook waits on this."""
        self._calls.delete_recording(recording_sid)

    async def _recording_account(self) -> TwilioAccount | None:
        """The account downloads (and dequeues) use, as of the current config: the tenant's own
        or the platform's; None when there is neither (or the tenant is gone)."""
        tenant = await self._tenant()
        if tenant is None:
            return None
        try:
            return self._account(tenant)
        except CallControlError:
            return None

    async def recordings_in_flight(self) -> int:
        """Downloads (and stale sweeps) running now."""
        return self._recordings.running if self._recordings is not None else 0

    async def close(self) -> None:
        """Stop the downloads (their rows stay pending) and release their pool and client, and
        the queue's task."""
        await self._queue.close()
        if self._recordings is not None:
            await self._recordings.close()
            self._recordings = None
