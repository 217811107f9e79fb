"""The admin API's resources against real Postgres: tenants, users and roles, the agent's
settings and preview, calls, callers and memories, knowledge, messages, the audit log; tenant
isolation on every route with an id; and bad input of every kind."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg

from admin_api.schemas.agent import AgentConfigUpdate
from engine.secret_box import TWILIO_LABEL, SecretBox
from memory import caller_memory, calls, messages, profiles, tenants
from memory.call_records import CallEnd, CallStart, NewMessage, Turn
from memory.caller_records import CallFacts, MemoryWrite
from memory.db import tenant_tx
from prompts.persona import PRESETS, slider_instruction
from tests.integration.admin_harness import (
    API,
    PASSWORD,
    AdminHarness,
    Tenant,
    new_email,
    new_number,
)
from tests.memory_support import UNDRAINED

STRONG = "a perfectly fine passphrase 9"


@dataclass
class Seeded:
    call_sid: str
    caller: str
    memory_ids: list[str]
    message_id: str


async def seed_call(
    pool: asyncpg.Pool,
    tenant: Tenant,
    caller: str,
    *,
    outcome: str = "caller_hung_up",
    transferred_to: str | None = None,
    started_at: datetime | None = None,
    memories: bool = True,
) -> Seeded:
    call_sid = "CA" + uuid.uuid4().hex
    await calls.start_call(
        pool, tenant.tenant_id, CallStart(call_sid, caller, tenant.number), outbox_queue=UNDRAINED
    )
    at = datetime.now(UTC)
    if started_at is not None:
        async with tenant_tx(pool, tenant.tenant_id) as conn:
            await conn.execute(
                "UPDATE calls SET started_at = $2 WHERE call_sid = $1", call_sid, started_at
            )
    await calls.append_turns(
        pool,
        tenant.tenant_id,
        call_sid,
        [
            Turn(0, "agent", "Good morning! This is Ava.", at),
            Turn(1, "caller", "Please take a message.", at + timedelta(seconds=2)),
            Turn(
                2,
                "tool",
                'take_message({"reason": "callback"})',
                at + timedelta(seconds=3),
                {"call_id": "call_1", "name": "take_message"},
            ),
            Turn(
                3,
                "agent",
                "Done, they will call you.",
                at + timedelta(seconds=4),
                {"latency_ms": 420.5},
            ),
        ],
    )
    await calls.finish_call(
        pool,
        tenant.tenant_id,
        call_sid,
        CallEnd(
            outcome,
            duration_ms=61_000,
            greeting_ms=80.0,
            transferred_to=transferred_to,
            recording="after_notice",
        ),
        outbox_queue=UNDRAINED,
    )
    memory_ids: list[str] = []
    async with tenant_tx(pool, tenant.tenant_id) as conn:
        facts = CallFacts(call_sid, started_at or at, 61_000)
        await profiles.save_summary(
            conn,
            tenant.tenant_id,
            caller,
            facts,
            summary="Caller asked for a callback about the auto policy.",
            key_topics=["auto", "callback"],
            key_variables={"policy": "auto"},
            sentiment="positive",
            resolution_status="resolved",
            embedding=None,
        )
        await profiles.save_personality(
            conn, tenant.tenant_id, caller, facts, {"openness": 70.0, "frustration": 20.0}
        )
        await profiles.count_call(
            conn, tenant.tenant_id, caller, facts.started_at, preferred_name="Dana", preferences={}
        )
        if memories:
            await caller_memory.upsert(
                conn,
                tenant.tenant_id,
                caller,
                call_sid,
                [
                    MemoryWrite("person", "spouse", {"name": "Jo"}, "Spouse is Jo"),
                    MemoryWrite("vehicle", "car", {"make": "Subaru"}, "Drives a Subaru"),
                ],
                [None, None],
            )
    if memories:
        memory_ids = [
            m.memory_id for m in await caller_memory.list_memories(pool, tenant.tenant_id, caller)
        ]
    message_id = await messages.take_message(
        pool,
        tenant.tenant_id,
        NewMessage(call_sid, caller, f"Call back about {call_sid[-6:]}"),
        outbox_queue=UNDRAINED,
    )
    return Seeded(call_sid, caller, memory_ids, message_id)


# --- tenants ---------------------------------------------------------------------------------


async def test_platform_admin_manages_tenants(h: AdminHarness) -> None:
    number = new_number()
    token_value = "twilio-secret-token-abcdef123456"
    created = await h.post(
        "/tenants",
        h.platform_token,
        {
            "name": "Evergreen Insurance",
            "phone_numbers": [number],
            "time_zone": "America/Chicago",
            "max_concurrent_calls": 5,
            "business_hours": {"monday": [{"open": "09:00", "close": "17:00"}]},
            "twilio_account_sid": "AC" + "a" * 32,
            "twilio_auth_token": token_value,
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    tenant_id = body["tenant_id"]
    assert body["twilio_auth_token_set"] is True
    assert token_value not in created.text  # write-only
    assert body["business_hours"] == {"monday": [{"open": "09:00", "close": "17:00"}]}
    assert await tenants.resolve_number(h.pool, number) == tenant_id
    stored = await tenants.load_config(
        h.pool, tenant_id, tokens=SecretBox(h.config.jwt_secret, TWILIO_LABEL)
    )
    assert stored is not None
    assert stored.twilio_auth_token == token_value  # sealed by the API, opened with the key
    assert stored.time_zone == "America/Chicago"

    taken = await h.post("/tenants", h.platform_token, {"name": "Copy", "phone_numbers": [number]})
    assert taken.status_code == 409
    malformed = await h.post(
        "/tenants", h.platform_token, {"name": "Bad", "phone_numbers": ["555-0100"]}
    )
    assert malformed.status_code == 422
    assert "phone_numbers" in malformed.json()["detail"]

    other = new_number()
    h.gateway.reloads.clear()
    changed = await h.patch(
        f"/tenants/{tenant_id}",
        h.platform_token,
        {"name": "Evergreen Mutual", "phone_numbers": [other], "twilio_auth_token": None},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["phone_numbers"] == [other]
    assert changed.json()["twilio_auth_token_set"] is False
    assert changed.json()["time_zone"] == "America/Chicago"
    assert h.gateway.reloads == [tenant_id]
    assert await tenants.resolve_number(h.pool, number) is None
    assert await tenants.resolve_number(h.pool, other) == tenant_id
    null_name = await h.patch(f"/tenants/{tenant_id}", h.platform_token, {"name": None})
    assert null_name.status_code == 422

    suspended = await h.post(f"/tenants/{tenant_id}/suspend", h.platform_token)
    assert suspended.json()["status"] == "suspended"
    assert await tenants.resolve_number(h.pool, other) is None
    assert (await h.post(f"/tenants/{tenant_id}/activate", h.platform_token)).status_code == 200
    assert await tenants.resolve_number(h.pool, other) == tenant_id

    seen: list[str] = []
    cursor = None
    for _ in range(100):
        page = await h.get(
            "/tenants",
            h.platform_token,
            params={"limit": 2, **({"cursor": cursor} if cursor else {})},
        )
        assert page.status_code == 200
        seen += [t["tenant_id"] for t in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert tenant_id in seen
    assert len(seen) == len(set(seen))
    assert (await h.get(f"/tenants/{uuid.uuid4()}", h.platform_token)).status_code == 404
    audit = (await h.get(f"/tenants/{tenant_id}/audit", h.platform_token)).json()["items"]
    actions = [e["action"] for e in audit]
    assert {"tenant.created", "tenant.updated", "tenant.suspended"} <= set(actions)
    updated = next(e for e in audit if e["action"] == "tenant.updated")
    assert updated["changes"]["twilio_auth_token"] == "(cleared)"


async def test_tenant_users_cannot_manage_tenants(h: AdminHarness) -> None:
    tenant = await h.tenant()
    assert (await h.get("/tenants", tenant.owner_token)).status_code == 403
    created = await h.post("/tenants", tenant.owner_token, {"name": "Mine"})
    assert created.status_code == 403
    # Their own tenant they may read (tests/integration/test_admin_api_walkthrough.py).
    assert (await h.get(f"/tenants/{tenant.tenant_id}", tenant.owner_token)).status_code == 200


# --- users and roles -------------------------------------------------------------------------


async def test_users_and_roles(h: AdminHarness) -> None:
    tenant = await h.tenant()
    # A platform admin gives a new tenant its first owner.
    first = await h.post(
        f"/tenants/{tenant.tenant_id}/users",
        h.platform_token,
        {"email": new_email("boss"), "password": STRONG, "role": "owner"},
    )
    assert first.status_code == 201, first.text
    admin_email = new_email("admin")
    made = await h.post(
        "/users", tenant.owner_token, {"email": admin_email, "password": STRONG, "role": "admin"}
    )
    assert made.status_code == 201
    assert made.json()["role"] == "admin"
    assert "password" not in made.text
    admin_token = (await h.login(admin_email, STRONG)).json()["access_token"]
    no_owner = await h.post(
        "/users", admin_token, {"email": new_email(), "password": STRONG, "role": "owner"}
    )
    assert no_owner.status_code == 403
    change_owner = await h.patch(f"/users/{tenant.owner.user_id}", admin_token, {"role": "viewer"})
    assert change_owner.status_code == 403
    viewer = await h.post(
        "/users", admin_token, {"email": new_email(), "password": STRONG, "role": "viewer"}
    )
    assert viewer.status_code == 201
    duplicate = await h.post(
        "/users", tenant.owner_token, {"email": admin_email, "password": STRONG, "role": "viewer"}
    )
    assert duplicate.status_code == 409
    weak = await h.post(
        "/users",
        tenant.owner_token,
        {"email": new_email(), "password": "password1234", "role": "viewer"},
    )
    assert weak.status_code == 422
    assert "too common" in weak.json()["detail"]
    self_demote = await h.patch(
        f"/users/{tenant.owner.user_id}", tenant.owner_token, {"role": "viewer"}
    )
    assert self_demote.status_code == 403
    listed = (await h.get("/users", tenant.owner_token)).json()["items"]
    assert {u["role"] for u in listed} == {"owner", "admin", "viewer"}
    assert len(listed) == 4


WRITES = [
    ("PATCH", "/agent", {"agent_name": "Zed"}),
    ("POST", "/agent/persona-preset", {"preset": "friendly"}),
    ("POST", "/users", {"email": "x@y.example", "password": STRONG, "role": "viewer"}),
    ("POST", "/knowledge", {"kind": "fact", "title": "Hours", "body": "9 to 5"}),
    ("PATCH", "/messages/{message_id}", {"status": "done"}),
    ("PATCH", "/callers/{caller}/memories/{memory_id}", {"value": "x", "content": "x"}),
    ("DELETE", "/callers/{caller}/memories/{memory_id}", None),
    ("DELETE", "/callers/{caller}", None),
]


async def test_viewer_reads_but_cannot_write(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550300001")
    viewer = await h.user(tenant.tenant_id, "viewer")
    token = await h.token_for(viewer)
    for path in (
        "/agent",
        "/agent/preview",
        "/calls",
        f"/calls/{seeded.call_sid}",
        "/callers",
        "/knowledge",
        "/messages",
        "/users",
    ):
        assert (await h.get(path, token)).status_code == 200, path
    ids = {
        "message_id": seeded.message_id,
        "caller": seeded.caller,
        "memory_id": seeded.memory_ids[0],
    }
    for method, path, body in WRITES:
        response = await h.client.request(
            method, API + path.format(**ids), headers=h.auth(token), json=body
        )
        assert response.status_code == 403, (method, path, response.text)
        assert "viewer" in response.json()["detail"]
    assert (await h.get("/audit", token)).status_code == 403
    # Nothing changed.
    assert len(await caller_memory.list_memories(h.pool, tenant.tenant_id, seeded.caller)) == 2


# --- the agent ---------------------------------------------------------------------------------


async def test_agent_settings_change_validate_and_reload(h: AdminHarness) -> None:
    tenant = await h.tenant()
    before = (await h.get("/agent", tenant.owner_token)).json()
    h.gateway.reloads.clear()
    changed = await h.patch(
        "/agent",
        tenant.owner_token,
        {
            "agent_name": "Riley",
            "voice": "cedar",
            "greeting_new": "{time_greeting}, {agent_name} at your service.",
            "vad": {
                "type": "semantic_vad",
                "eagerness": "low",
                "noise_reduction": "far_field",
                "min_interrupt_ms": 600,
            },
            "sliders": {"warmth": 85, "humor": 10},
            "blocks": {
                "emotional_tone": "direct_efficient",
                "safety_boundaries": "custom:Be kind.",
            },
            "transfer_rules": [{"keyword": "claims", "number": "+15550001234", "mode": "warm"}],
            "dtmf_actions": {"1": {"action": "transfer", "target": "claims"}},
            "max_call_seconds": 600,
            "silence_timeout_s": 20,
            "record_calls": True,
            "recording_consent": "This call is recorded.",
            "pii_redaction": True,
            "retention_days": 90,
            "spanish": True,
        },
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["version"] == before["version"] + 1
    assert body["sliders"]["warmth"] == 85
    assert body["sliders"]["formality"] == 50
    assert body["vad"]["type"] == "semantic_vad"
    assert body["vad"]["silence_duration_ms"] == 800
    assert h.gateway.reloads == [tenant.tenant_id]
    snapshot = await tenants.load_config(h.pool, tenant.tenant_id)
    assert snapshot is not None
    assert (snapshot.agent_name, snapshot.voice, snapshot.record_calls) == ("Riley", "cedar", True)
    assert snapshot.vad.type == "semantic_vad"
    assert (snapshot.vad.noise_reduction, snapshot.vad.min_interrupt_ms) == ("far_field", 600)
    assert snapshot.transfer_rules[0].keyword == "claims"
    assert snapshot.transfer_rules[0].mode == "warm"
    assert dict(snapshot.dtmf_actions)["1"].target == "claims"
    assert snapshot.max_call_seconds == 600
    assert snapshot.spanish
    assert (await h.get("/agent", tenant.owner_token)).json() == body

    for patch, message in [
        ({"greeting_new": "Hi {user_name}"}, "cannot use {user_name}"),
        ({"greeting_returning": "Hi {nickname}"}, "unknown placeholder"),
        ({"sliders": {"warmth": 150}}, "less than or equal to 100"),
        ({"sliders": {"sparkle": 50}}, "unknown persona slider"),
        ({"blocks": {"system_role": "astronaut"}}, "unknown preset"),
        ({"dtmf_actions": {"2": {"action": "transfer", "target": "nobody"}}}, "not the keyword"),
        ({"voice": "robot"}, "voice"),
        (
            {"transfer_rules": [{"keyword": "x", "number": "+15550001234", "mode": "hot"}]},
            "'cold' or 'warm'",
        ),
    ]:
        refused = await h.patch("/agent", tenant.owner_token, patch)
        assert refused.status_code == 422, (patch, refused.text)
        assert message in refused.json()["detail"], refused.json()
    assert (await h.get("/agent", tenant.owner_token)).json()["version"] == body["version"]

    preset = await h.post("/agent/persona-preset", tenant.owner_token, {"preset": "empathetic"})
    assert preset.status_code == 200
    assert preset.json()["sliders"] == dict(PRESETS["empathetic"])
    presets = (await h.get("/agent/presets", tenant.owner_token)).json()
    assert len(presets["slider_keys"]) == 30
    assert set(presets["block_presets"]) == {
        "system_role",
        "emotional_tone",
        "conversational_style",
        "knowledge_context",
        "safety_boundaries",
    }
    assert "cedar" in presets["voices"]
    # The schema of PATCH /agent's body, for forms built from it: every setting GET shows.
    schema = presets["update_schema"]
    assert set(schema["properties"]) == set(AgentConfigUpdate.model_fields)
    assert set(body) - {"version", "updated_at"} <= set(schema["properties"])
    assert schema["$defs"]["VadSettings"]["properties"]["silence_duration_ms"]["minimum"] == 200
    assert presets["clearable"] == ["fallback_number"]
    log = (await h.get("/audit", tenant.owner_token)).json()["items"]
    update = next(e for e in log if e["action"] == "agent.updated")
    assert update["actor_id"] == tenant.owner.user_id
    assert update["changes"]["voice"] == "cedar"
    assert update["changes"]["greeting_new"] == "(changed)"
    assert log[0]["action"] == "agent.preset_applied"


async def test_preview_is_deterministic_and_follows_settings(h: AdminHarness) -> None:
    tenant = await h.tenant(time_zone="America/Denver")
    await h.patch("/agent", tenant.owner_token, {"agent_name": "Quinn", "sliders": {"humor": 95}})
    at = "2026-03-02T15:30:00+00:00"
    first = await h.get("/agent/preview", tenant.owner_token, params={"at": at})
    second = await h.get("/agent/preview", tenant.owner_token, params={"at": at})
    assert first.status_code == 200
    assert first.json() == second.json()
    preview = first.json()
    assert preview["greeting"] == "Good morning! This is Quinn. How can I help you?"
    assert "You are Quinn" in preview["instructions"]
    assert "Monday, March 2, 2026, 8:30 AM" in preview["instructions"]
    humor = slider_instruction("humor", 95)
    assert humor is not None
    assert humor in preview["instructions"]
    assert preview["voice"] == "marin"
    returning = await h.get(
        "/agent/preview", tenant.owner_token, params={"at": at, "caller_name": "Dana"}
    )
    assert returning.json()["greeting"] == "Hi, this is Quinn. Is this Dana?"
    naive = await h.get("/agent/preview", tenant.owner_token, params={"at": "2026-03-02T15:30:00"})
    assert naive.status_code == 422


# --- calls -----------------------------------------------------------------------------------


async def test_calls_list_filters_pages_and_detail(h: AdminHarness) -> None:
    tenant = await h.tenant()
    base = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
    made = []
    for i in range(7):
        made.append(
            await seed_call(
                h.pool,
                tenant,
                "+15550400001" if i % 2 else "+15550400002",
                outcome="transferred" if i == 3 else "caller_hung_up",
                transferred_to="+15550001234" if i == 3 else None,
                started_at=base + timedelta(minutes=i),
                memories=False,
            )
        )
    everything = (await h.get("/calls", tenant.owner_token, params={"limit": 200})).json()
    assert [c["call_sid"] for c in everything["items"]] == [s.call_sid for s in reversed(made)]

    paged: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = (await h.get("/calls", tenant.owner_token, params=params)).json()
        paged += [c["call_sid"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [s.call_sid for s in reversed(made)]

    async def sids(**params: str | int | bool) -> list[str]:
        response = await h.get("/calls", tenant.owner_token, params=params)
        assert response.status_code == 200, response.text
        return [c["call_sid"] for c in response.json()["items"]]

    assert await sids(caller="+15550400001") == [made[i].call_sid for i in (5, 3, 1)]
    assert await sids(transferred="true") == [made[3].call_sid]
    assert await sids(outcome="transferred") == [made[3].call_sid]
    assert len(await sids(transferred="false")) == 6
    window = await sids(
        since=(base + timedelta(minutes=2)).isoformat(),
        until=(base + timedelta(minutes=4)).isoformat(),
    )
    assert window == [made[3].call_sid, made[2].call_sid]

    detail = await h.get(f"/calls/{made[3].call_sid}", tenant.owner_token)
    assert detail.status_code == 200
    call = detail.json()
    assert [t["seq"] for t in call["transcript"]] == [0, 1, 2, 3]
    assert call["transcript"][0]["text"] == "Good morning! This is Ava."
    assert call["tool_calls"] == [
        {
            "seq": 2,
            "name": "take_message",
            "call_id": "call_1",
            "text": 'take_message({"reason": "callback"})',
            "at": call["transcript"][2]["at"],
        }
    ]
    assert call["timings"]["greeting_ms"] == 80.0
    assert call["timings"]["duration_ms"] == 61_000
    assert call["timings"]["agent_latency_ms"] == [420.5]
    assert call["summary"]["key_topics"] == ["auto", "callback"]
    assert call["sentiment"] == "positive"
    assert call["personality"] == {"openness": 70.0, "frustration": 20.0}
    assert call["transferred_to"] == "+15550001234"
    assert call["recording"] == "after_notice"  # what happened to its recording
    assert call["recordings"] == []
    assert (await h.get(f"/calls/CA{uuid.uuid4().hex}", tenant.owner_token)).status_code == 404


# --- callers, memories, knowledge, messages ------------------------------------------------------


async def test_callers_and_memory_corrections(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = await seed_call(h.pool, tenant, "+15550500001")
    listed = (await h.get("/callers", tenant.owner_token)).json()["items"]
    assert [c["caller_number"] for c in listed] == [seeded.caller]
    assert listed[0]["preferred_name"] == "Dana"
    caller = (await h.get(f"/callers/{seeded.caller}", tenant.owner_token)).json()
    assert caller["total_calls"] == 1
    assert caller["memories"] == 2
    assert caller["summaries"][0]["sentiment"] == "positive"
    assert caller["personality"]["averages"]["openness"] == 70.0
    memories = (await h.get(f"/callers/{seeded.caller}/memories", tenant.owner_token)).json()[
        "items"
    ]
    spouse = next(m for m in memories if m["key"] == "spouse")
    fixed = await h.patch(
        f"/callers/{seeded.caller}/memories/{spouse['memory_id']}",
        tenant.owner_token,
        {"value": {"name": "Joanna"}, "content": "Spouse is Joanna"},
    )
    assert fixed.status_code == 200, fixed.text
    assert fixed.json()["value"] == {"name": "Joanna"}
    assert fixed.json()["version"] == spouse["version"] + 1
    history = await caller_memory.history(
        h.pool, tenant.tenant_id, seeded.caller, "person", "spouse"
    )
    assert [v.value for v in history] == [{"name": "Jo"}]
    gone = await h.delete(
        f"/callers/{seeded.caller}/memories/{spouse['memory_id']}", tenant.owner_token
    )
    assert gone.status_code == 204
    again = await h.delete(
        f"/callers/{seeded.caller}/memories/{spouse['memory_id']}", tenant.owner_token
    )
    assert again.status_code == 404
    left = (await h.get(f"/callers/{seeded.caller}/memories", tenant.owner_token)).json()["items"]
    assert [m["key"] for m in left] == ["car"]
    assert (await h.get("/callers/+15559999999", tenant.owner_token)).status_code == 404


async def test_knowledge_crud(h: AdminHarness) -> None:
    tenant = await h.tenant()
    made = await h.post(
        "/knowledge",
        tenant.owner_token,
        {"kind": "procedure", "title": "Report a claim", "body": "Take the policy number first."},
    )
    assert made.status_code == 201
    entry = made.json()
    duplicate = await h.post(
        "/knowledge",
        tenant.owner_token,
        {"kind": "procedure", "title": "Report a claim", "body": "x"},
    )
    assert duplicate.status_code == 409
    await h.post(
        "/knowledge", tenant.owner_token, {"kind": "fact", "title": "Hours", "body": "9-5"}
    )
    assert len((await h.get("/knowledge", tenant.owner_token)).json()["items"]) == 2
    only = (await h.get("/knowledge", tenant.owner_token, params={"kind": "fact"})).json()["items"]
    assert [e["title"] for e in only] == ["Hours"]
    edited = await h.patch(
        f"/knowledge/{entry['entry_id']}",
        tenant.owner_token,
        {"body": "Ask for the policy number."},
    )
    assert edited.json()["body"] == "Ask for the policy number."
    assert edited.json()["title"] == "Report a claim"
    fetched = await h.get(f"/knowledge/{entry['entry_id']}", tenant.owner_token)
    assert fetched.json() == edited.json()
    assert (
        await h.delete(f"/knowledge/{entry['entry_id']}", tenant.owner_token)
    ).status_code == 204
    assert (await h.get(f"/knowledge/{entry['entry_id']}", tenant.owner_token)).status_code == 404


async def test_messages_list_and_mark_done(h: AdminHarness) -> None:
    tenant = await h.tenant()
    seeded = [await seed_call(h.pool, tenant, f"+1555060000{i}", memories=False) for i in range(3)]
    listed = (await h.get("/messages", tenant.owner_token, params={"status": "open"})).json()
    assert [m["message_id"] for m in listed["items"]] == [s.message_id for s in reversed(seeded)]
    page = (await h.get("/messages", tenant.owner_token, params={"limit": 2})).json()
    rest = (
        await h.get(
            "/messages", tenant.owner_token, params={"limit": 2, "cursor": page["next_cursor"]}
        )
    ).json()
    assert [m["message_id"] for m in page["items"] + rest["items"]] == [
        s.message_id for s in reversed(seeded)
    ]
    done = await h.patch(
        f"/messages/{seeded[0].message_id}", tenant.owner_token, {"status": "done"}
    )
    assert done.status_code == 200
    assert done.json()["status"] == "done"
    assert done.json()["done_at"] is not None
    still_open = (await h.get("/messages", tenant.owner_token, params={"status": "open"})).json()
    assert seeded[0].message_id not in [m["message_id"] for m in still_open["items"]]
    wrong = await h.patch(f"/messages/{uuid.uuid4()}", tenant.owner_token, {"status": "done"})
    assert wrong.status_code == 404


async def test_an_urgent_claims_message_shows_its_condition(h: AdminHarness) -> None:
    tenant = await h.tenant()
    plain = await seed_call(h.pool, tenant, "+15550600010", memories=False)
    claim = await seed_call(h.pool, tenant, "+15550600011", memories=False)
    urgent = NewMessage(claim.call_sid, claim.caller, "Son hurt", urgent="someone was injured")
    urgent_id = await messages.take_message(
        h.pool, tenant.tenant_id, urgent, outbox_queue=UNDRAINED
    )
    listed = (await h.get("/messages", tenant.owner_token)).json()["items"]
    urgency = {m["message_id"]: m["urgent"] for m in listed}
    assert urgency == {
        urgent_id: "someone was injured",
        plain.message_id: None,
        claim.message_id: None,
    }
    done = await h.patch(f"/messages/{urgent_id}", tenant.owner_token, {"status": "done"})
    assert done.json()["urgent"] == "someone was injured"


# --- isolation ---------------------------------------------------------------------------------


async def test_every_route_refuses_another_tenants_ids(h: AdminHarness) -> None:
    mine = await h.tenant()
    theirs = await h.tenant()
    their = await seed_call(h.pool, theirs, "+15550700001")
    their_user = await h.user(theirs.tenant_id, "viewer")
    entry = (
        await h.post(
            "/knowledge", theirs.owner_token, {"kind": "fact", "title": "Secret", "body": "x"}
        )
    ).json()
    async with tenant_tx(h.pool, theirs.tenant_id) as conn:
        await conn.execute(
            "INSERT INTO recordings (tenant_id, recording_sid, call_sid, status, file_name) "
            "VALUES ($1, $2, $3, 'stored', $4)",
            uuid.UUID(theirs.tenant_id),
            "RE" + their.call_sid[2:],
            their.call_sid,
            f"{theirs.tenant_id}/RE{their.call_sid[2:]}.wav",
        )
    rec = "RE" + their.call_sid[2:]
    attempts = [
        ("GET", f"/users/{their_user.user_id}", None),
        ("PATCH", f"/users/{their_user.user_id}", {"display_name": "Mallory"}),
        ("GET", f"/calls/{their.call_sid}", None),
        ("GET", f"/recordings/{rec}", None),
        ("GET", f"/recordings/{rec}/audio", None),
        ("GET", f"/callers/{their.caller}", None),
        (
            "PATCH",
            f"/callers/{their.caller}/memories/{their.memory_ids[0]}",
            {"value": "x", "content": "x"},
        ),
        ("DELETE", f"/callers/{their.caller}/memories/{their.memory_ids[0]}", None),
        ("DELETE", f"/callers/{their.caller}", None),
        ("GET", f"/knowledge/{entry['entry_id']}", None),
        ("PATCH", f"/knowledge/{entry['entry_id']}", {"body": "mine now"}),
        ("DELETE", f"/knowledge/{entry['entry_id']}", None),
        ("PATCH", f"/messages/{their.message_id}", {"status": "done"}),
    ]
    for method, path, body in attempts:
        response = await h.client.request(
            method, API + path, headers=h.auth(mine.owner_token), json=body
        )
        assert response.status_code == 404, (method, path, response.status_code, response.text)
    assert (await h.get(f"/callers/{their.caller}/memories", mine.owner_token)).json()[
        "items"
    ] == []
    assert (await h.get("/calls", mine.owner_token)).json()["items"] == []
    assert (await h.get("/messages", mine.owner_token)).json()["items"] == []
    # Theirs is untouched.
    assert len(await caller_memory.list_memories(h.pool, theirs.tenant_id, their.caller)) == 2
    their_entry = await h.get(f"/knowledge/{entry['entry_id']}", theirs.owner_token)
    assert their_entry.json()["body"] == "x"
    assert (await h.get(f"/calls/{their.call_sid}", theirs.owner_token)).status_code == 200


# --- bad input -------------------------------------------------------------------------------


async def test_bad_input_is_4xx_with_a_clear_message(h: AdminHarness) -> None:
    tenant = await h.tenant()
    token = tenant.owner_token
    headers = {**h.auth(token), "content-type": "application/json"}
    bad_json = await h.client.patch(f"{API}/agent", content=b'{"voice": "cedar"', headers=headers)
    assert bad_json.status_code == 400
    assert bad_json.json()["detail"] == "request body is not valid JSON"
    wrong_type = await h.patch("/agent", token, {"max_call_seconds": "600"})
    assert wrong_type.status_code == 422
    assert "max_call_seconds" in wrong_type.json()["detail"]
    not_object = await h.patch("/agent", token, ["voice", "cedar"])
    assert not_object.status_code == 422
    out_of_range = await h.patch("/agent", token, {"sliders": {"warmth": -5}})
    assert out_of_range.status_code == 422
    assert "sliders.warmth" in out_of_range.json()["detail"]
    oversize = await h.client.post(
        f"{API}/knowledge",
        content=b'{"kind": "fact", "title": "big", "body": "' + b"x" * 70_000 + b'"}',
        headers=headers,
    )
    assert oversize.status_code == 413
    nul = await h.post("/knowledge", token, {"kind": "fact", "title": "a\u0000b", "body": "x"})
    assert nul.status_code == 422
    assert "NUL" in nul.json()["detail"]
    assert (await h.get("/calls", token, params={"cursor": "bm9wZQ"})).status_code == 400
    assert (await h.get("/calls", token, params={"limit": 100000})).status_code == 422
    assert (await h.get("/calls", token, params={"since": "yesterday"})).status_code == 422
    assert (await h.get("/calls/CA123", token)).status_code == 422
    assert (await h.get("/users/not-a-uuid", token)).status_code == 422
    assert (await h.get("/recordings/RE123/audio", token)).status_code == 422
    unknown_field = await h.patch("/agent", token, {"voice": "cedar", "colour": "blue"})
    assert unknown_field.status_code == 422
    assert "colour" in unknown_field.json()["detail"]
    assert (await h.get("/agent", token)).json()["voice"] == "marin"  # nothing was applied


async def test_login_password_is_never_echoed(h: AdminHarness) -> None:
    secret = "my-secret-password-" + "x" * 600
    response = await h.client.post(
        f"{API}/auth/login", json={"email": "someone@agency.example", "password": secret}
    )
    assert response.status_code == 422
    assert secret not in response.text
    assert PASSWORD not in response.text
