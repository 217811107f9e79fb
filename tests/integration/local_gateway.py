"""TenantGateway over TenantActor objects living in this process (what the Serve ingress reaches
through Ray), shared by the integration harnesses: the whole engine, the admin API and the
webhooks alone. Records reloads; with the local pool's report totals, /metrics exports its
calls' measurements as the call pool's would."""

from __future__ import annotations

from typing import Any

from actors.call_pool import CLAIM_BUCKETS_MS
from actors.ports import Admission, AdmitRequest, CallClaimer, TenantStore
from actors.report_totals import ReportTotals
from actors.tenant_actor import TenantActor
from engine.config import EngineConfig
from engine.histogram import Histogram
from engine.warm_transfer import WarmRequest


class LocalGateway:
    def __init__(
        self,
        config: EngineConfig,
        memory: TenantStore,
        claimer: CallClaimer,
        active: Any = None,
        reported: ReportTotals | None = None,
    ) -> None:
        """`active()`, when given, is the live-call count `pool_stats` reports."""
        self._config = config
        self._memory = memory
        self._claimer = claimer
        self._active = active
        self._reported = reported
        self.actors: dict[str, TenantActor] = {}
        self.reloads: list[str] = []

    def actor(self, tenant_id: str) -> TenantActor:
        if tenant_id not in self.actors:
            self.actors[tenant_id] = TenantActor(
                self._config, tenant_id, self._memory, self._claimer
            )
        return self.actors[tenant_id]

    async def admit(self, tenant_id: str, request: AdmitRequest) -> Admission:
        return await self.actor(tenant_id).admit(request)

    async def admit_test(self, tenant_id: str, call_sid: str) -> Admission:
        return await self.actor(tenant_id).admit_test(call_sid)

    async def resume(self, tenant_id: str, request: AdmitRequest) -> Admission:
        return await self.actor(tenant_id).resume(request)

    async def hang_up(self, tenant_id: str, call_sid: str) -> None:
        await self.actor(tenant_id).hang_up(call_sid)

    async def set_recording(self, tenant_id: str, call_sid: str, on: bool) -> None:
        await self.actor(tenant_id).set_recording(call_sid, on)

    async def transfer(self, tenant_id: str, call_sid: str, number: str) -> None:
        await self.actor(tenant_id).transfer(call_sid, number)

    async def warm_transfer(self, tenant_id: str, call_sid: str, request: WarmRequest) -> None:
        await self.actor(tenant_id).warm_transfer(call_sid, request)

    async def return_caller(self, tenant_id: str, call_sid: str) -> None:
        await self.actor(tenant_id).return_caller(call_sid)

    async def validate(
        self, tenant_id: str, url: str, params: dict[str, str], signature: str
    ) -> bool:
        return await self.actor(tenant_id).validate(url, params, signature)

    async def release(self, tenant_id: str, call_sid: str) -> None:
        await self.actor(tenant_id).release(call_sid)

    async def queue_wait(self, tenant_id: str, call_sid: str, queue_sid: str, since: int) -> None:
        await self.actor(tenant_id).queue_wait(call_sid, queue_sid, since)

    async def queue_left(self, tenant_id: str, call_sid: str) -> None:
        await self.actor(tenant_id).queue_left(call_sid)

    async def reload(self, tenant_id: str) -> None:
        self.reloads.append(tenant_id)
        await self.actor(tenant_id).reload()

    async def fetch_recordings(self, tenant_id: str, recording_sids: list[str]) -> None:
        await self.actor(tenant_id).fetch_recordings(recording_sids)

    async def delete_recording(self, tenant_id: str, recording_sid: str) -> None:
        await self.actor(tenant_id).delete_recording(recording_sid)

    async def pool_stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = {
            "warm": 0,
            "active": self._active() if self._active is not None else 0,
        }
        if self._reported is not None:  # the calls' measurements, for /metrics
            claims = Histogram.with_bounds(CLAIM_BUCKETS_MS)
            stats["claim_ms"] = (claims.bounds, claims.counts, claims.sum)
            stats.update(self._reported.stats())
        return stats

    async def close(self) -> None:
        for actor in self.actors.values():
            await actor.close()
