"""Start-up reconciliation of calls a crash left open (actors.call_reconcile through the tenant
actor), against real Postgres and the Twilio REST simulator: ended calls get Twilio's final
status, end time and duration and their post-call job; a call still live at Twilio is left to
resume unless it is past the call length limit (then hung up); a call Twilio does not know is
closed; a call a live actor holds is not touched; a second run changes nothing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from actors.memory_actor import MemoryActor
from actors.tenant_actor import TenantActor
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.openai_http import OpenAIHttpSimulator
from engine.sim.twilio_rest import TwilioRestFake
from memory import tenants
from memory.call_records import CallStart
from memory.db import tenant_tx
from tests.conftest import PgUrls
from tests.memory_support import SIM_KEY, memory_config, phone, sid, token

ACCOUNT = "AC" + "5" * 32
AUTH = "reconcile-auth-token"


async def _row(pool: asyncpg.Pool, tenant_id: str, call_sid: str) -> asyncpg.Record:
    async with tenant_tx(pool, tenant_id) as conn:
        row = await conn.fetchrow(
            "SELECT c.*, j.queue AS job_queue FROM calls c LEFT JOIN post_call_jobs j"
            " USING (tenant_id, call_sid) WHERE c.tenant_id = $1 AND c.call_sid = $2",
            uuid.UUID(tenant_id),
            call_sid,
        )
    assert row is not None
    return row


async def test_calls_left_open_by_a_crash_are_reconciled_with_twilio(
    app_pool: asyncpg.Pool, pg_urls: PgUrls, jwt_secret: str
) -> None:
    async with (
        OpenAIHttpSimulator(api_keys={SIM_KEY}) as llm,
        TwilioRestFake(accounts={ACCOUNT: AUTH}) as rest,
    ):
        config = memory_config(pg_urls.app, jwt_secret, llm, twilio_api_base_url=rest.base_url)
        number = phone()
        tenant_id = await tenants.create_tenant(
            app_pool,
            tenants.NewTenant(
                name="Crash Agency",
                numbers=(number,),
                twilio_account_sid=ACCOUNT,
                twilio_auth_token=AUTH,
            ),
            tokens=SecretBox(jwt_secret, TWILIO_LABEL),
        )
        memory = MemoryActor(config)
        tenant = TenantActor(config, tenant_id, memory, claimer=None)  # type: ignore[arg-type]
        tok = token(jwt_secret, tenant_id)
        ended, live, stale, unknown, held, anonymous = (sid() for _ in range(6))
        callers = {s: phone() for s in (ended, live, stale, unknown, held)}
        callers[anonymous] = "anonymous"
        try:
            for call_sid, caller in callers.items():
                await memory.start_call(tok, CallStart(call_sid, caller, number))
                if call_sid != unknown:
                    rest.add_call(
                        call_sid, account_sid=ACCOUNT, from_number=caller, to_number=number
                    )
            rest.call_ended(ended, duration_s=42)
            rest.call_ended(held, duration_s=5)
            rest.call_ended(anonymous, duration_s=7, status="canceled")
            async with tenant_tx(app_pool, tenant_id) as conn:
                await conn.execute(
                    "UPDATE calls SET started_at = now() - interval '3 hours'"
                    " WHERE tenant_id = $1 AND call_sid = $2",
                    uuid.UUID(tenant_id),
                    stale,
                )
            started = datetime.now(UTC) + timedelta(seconds=1)

            done = await tenant.reconcile_calls([held], started)

            assert done == {"closed": 3, "hung_up": 1, "live": 1, "failed": 0}
            row = await _row(app_pool, tenant_id, ended)
            assert row["outcome"] == "twilio_completed"
            assert row["twilio_status"] == "completed"
            assert (row["billed_seconds"], row["duration_ms"]) == (42, 42_000)
            assert row["ended_at"] == rest.calls[ended].ended.replace(microsecond=0)  # type: ignore[union-attr]
            assert row["job_queue"] == config.post_call_queue
            row = await _row(app_pool, tenant_id, anonymous)
            assert (row["outcome"], row["job_queue"]) == ("twilio_canceled", None)
            row = await _row(app_pool, tenant_id, unknown)
            assert (row["outcome"], row["job_queue"]) == ("engine_crash", config.post_call_queue)
            assert row["ended_at"] is not None
            row = await _row(app_pool, tenant_id, stale)
            assert row["outcome"] == "engine_crash"
            assert row["ended_at"] is not None
            assert rest.calls[stale].status == "completed"  # hung up through the REST API
            hang_ups = [r for r in rest.requests if r.method == "POST" and stale in r.path]
            assert [r.params.get("Status") for r in hang_ups] == ["completed"]
            for untouched in (live, held):
                row = await _row(app_pool, tenant_id, untouched)
                assert (row["ended_at"], row["outcome"], row["job_queue"]) == (None, None, None)
            assert rest.calls[live].status == "in-progress"

            again = await tenant.reconcile_calls([held], started)
            assert again == {"closed": 0, "hung_up": 0, "live": 1, "failed": 0}
        finally:
            await memory.close()


async def test_a_call_twilio_cannot_be_asked_about_stays_open(
    app_pool: asyncpg.Pool, pg_urls: PgUrls, jwt_secret: str
) -> None:
    async with (
        OpenAIHttpSimulator(api_keys={SIM_KEY}) as llm,
        TwilioRestFake(accounts={ACCOUNT: "another-token"}) as rest,  # refuses our credentials
    ):
        config = memory_config(pg_urls.app, jwt_secret, llm, twilio_api_base_url=rest.base_url)
        number = phone()
        tenant_id = await tenants.create_tenant(
            app_pool,
            tenants.NewTenant(
                name="Crash Agency",
                numbers=(number,),
                twilio_account_sid=ACCOUNT,
                twilio_auth_token=AUTH,
            ),
            tokens=SecretBox(jwt_secret, TWILIO_LABEL),
        )
        memory = MemoryActor(config)
        tenant = TenantActor(config, tenant_id, memory, claimer=None)  # type: ignore[arg-type]
        call_sid = sid()
        try:
            await memory.start_call(
                token(jwt_secret, tenant_id), CallStart(call_sid, phone(), number)
            )
            done = await tenant.reconcile_calls([], datetime.now(UTC) + timedelta(seconds=1))
            assert done == {"closed": 0, "hung_up": 0, "live": 0, "failed": 1}
            row = await _row(app_pool, tenant_id, call_sid)
            assert row["ended_at"] is None
        finally:
            await memory.close()
