"""/webhook-endpoints and /deliveries: an agency adds its receiver (the secret shown once is the
one that signs), bad URLs are refused, the delivery log shows each attempt, and a dead-lettered
delivery is replayed. Real Postgres, the real outbox drain, a real receiver."""

from __future__ import annotations

import uuid

import pytest

from engine.webhook_sender import WebhookSender
from memory import messages
from memory.call_records import NewMessage
from memory.outbox_drain import OutboxDrain, OutboxPolicy, TwilioDefaults
from tests.integration.admin_harness import API, AdminHarness
from tests.integration.webhook_receiver import WebhookReceiver
from tests.memory_support import count


def call_sid() -> str:
    return "CA" + uuid.uuid4().hex


def queue(h: AdminHarness) -> str:
    """The harness engine's outbox queue (the one its admin API replays to)."""
    return h.config.outbox_queue_name()


async def drain_all(h: AdminHarness) -> None:
    twilio = TwilioDefaults(api_base_url=h.config.twilio_api_base_url)  # the harness's fake
    drain = OutboxDrain(
        h.pool,
        h.config.jwt_secret,
        h.config.outbox_queue_name(),
        OutboxPolicy(),
        WebhookSender(timeout_s=5),
        twilio,
    )
    try:
        await drain.run_until_idle()
    finally:
        await drain.aclose()


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://example.com/hooks"},  # plain http off this machine
        {"url": "ftp://127.0.0.1/hooks"},
        {"url": "https://user:pw@example.com/hooks"},
        {"url": "https://example.com/hooks#x"},
        {"url": "/hooks"},
        {"url": "https://example.com/hooks", "events": ["call.exploded"]},
        {"url": "https://example.com/hooks", "secret": "mine"},
    ],
)
async def test_bad_endpoints_are_refused(h: AdminHarness, body: dict[str, object]) -> None:
    tenant = await h.tenant()
    answer = await h.post("/webhook-endpoints", tenant.owner_token, body)
    assert answer.status_code == 422, answer.text
    assert (await h.get("/webhook-endpoints", tenant.owner_token)).json()["items"] == []


async def test_endpoints_and_the_delivery_log(h: AdminHarness) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    async with WebhookReceiver() as receiver:
        body = {"url": receiver.url, "events": ["message.taken"]}
        assert (await h.post("/webhook-endpoints", viewer, body)).status_code == 403
        made = await h.post("/webhook-endpoints", tenant.owner_token, body)
        assert made.status_code == 201, made.text
        endpoint = made.json()
        assert endpoint["secret"].startswith("whsec_")
        listed = (await h.get("/webhook-endpoints", tenant.owner_token)).json()["items"]
        assert [e["endpoint_id"] for e in listed] == [endpoint["endpoint_id"]]
        assert "secret" not in listed[0]
        gone = await h.delete(f"/webhook-endpoints/{endpoint['endpoint_id']}", other.owner_token)
        assert gone.status_code == 404

        receiver.secret = endpoint["secret"]
        receiver.answer = 410  # the agency's server refuses: dead-lettered, not retried
        note = NewMessage(call_sid(), "+15550101010", "Windshield claim", "Ana")
        await messages.take_message(h.pool, tenant.tenant_id, note, outbox_queue=queue(h))
        await drain_all(h)
        log = (await h.get("/deliveries", viewer, params={"status": "dead"})).json()
        (dead,) = log["items"]
        assert (dead["event_type"], dead["attempts"], dead["last_status"]) == (
            "message.taken",
            1,
            410,
        )
        assert (
            await h.get(f"/deliveries/{dead['delivery_id']}", other.owner_token)
        ).status_code == 404
        path = f"/deliveries/{dead['delivery_id']}/replay"
        assert (await h.post(path, viewer)).status_code == 403
        receiver.answer = 200
        replayed = await h.post(path, tenant.owner_token)
        assert replayed.status_code == 202, replayed.text
        assert replayed.json()["status"] == "pending"
        assert (await h.post(path, tenant.owner_token)).status_code == 409  # on its way
        missing = await h.post(f"/deliveries/{uuid.uuid4()}/replay", tenant.owner_token)
        assert missing.status_code == 404
        await drain_all(h)
        detail = (await h.get(f"/deliveries/{dead['delivery_id']}", viewer)).json()
        assert detail["status"] == "delivered"
        assert [a["status_code"] for a in detail["history"]] == [410, 200]
        assert receiver.bad_signatures == 0  # signed with the secret shown at creation
        assert list(receiver.applied) == [dead["event_id"]]
        assert '"Windshield claim"' in detail["payload"]
        assert (await h.get("/deliveries", other.owner_token)).json()["items"] == []


async def test_staff_texts_and_opt_outs(h: AdminHarness) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    staff = "+15550123456"
    assert (await h.post("/staff-texts", viewer, {"number": staff})).status_code == 403
    for bad in ({"number": "555-0123"}, {"number": staff, "events": ["call.started"]}, {}):
        assert (await h.post("/staff-texts", tenant.owner_token, bad)).status_code == 422
    made = await h.post("/staff-texts", tenant.owner_token, {"number": staff})
    assert made.status_code == 200, made.text
    assert made.json()["events"] == ["message.taken"]
    both = {"number": staff, "events": ["call.analyzed", "message.taken"]}
    assert (await h.post("/staff-texts", tenant.owner_token, both)).status_code == 200
    listed = (await h.get("/staff-texts", viewer)).json()["items"]
    assert [(r["number"], r["events"]) for r in listed] == [
        (staff, ["call.analyzed", "message.taken"])
    ]
    assert (await h.get("/staff-texts", other.owner_token)).json()["items"] == []
    assert (await h.delete(f"/staff-texts/{staff}", other.owner_token)).status_code == 404
    await messages.take_message(
        h.pool, tenant.tenant_id, NewMessage(call_sid(), staff, "Hi"), outbox_queue=queue(h)
    )
    log = (await h.get("/deliveries", viewer)).json()["items"]
    assert [d["destination"] for d in log] == [f"sms:{staff}"]
    # Twilio said the number replied STOP: recorded, shown, and an admin can clear it.
    h.rest.opted_out.add(staff)
    await drain_all(h)
    opt_outs = (await h.get("/staff-texts/opt-outs", viewer)).json()["items"]
    assert [o["number"] for o in opt_outs] == [staff]
    assert (await h.delete(f"/staff-texts/opt-outs/{staff}", viewer)).status_code == 403
    cleared = await h.delete(f"/staff-texts/opt-outs/{staff}", tenant.owner_token)
    assert cleared.status_code == 204
    assert (await h.get("/staff-texts/opt-outs", viewer)).json()["items"] == []
    assert (await h.delete(f"/staff-texts/{staff}", tenant.owner_token)).status_code == 204
    assert (await h.get("/staff-texts", viewer)).json()["items"] == []


async def test_linking_notion(h: AdminHarness) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    ids = [str(uuid.uuid4()) for _ in range(4)]
    body = {
        "token": "secret_" + "x" * 40,
        "callers_database_id": ids[0],
        "calls_database_id": ids[1],
        "messages_database_id": ids[2],
        "tasks_database_id": ids[3].replace("-", ""),
    }
    assert (await h.get("/notion", tenant.owner_token)).status_code == 404
    url, owner = API + "/notion", h.auth(tenant.owner_token)
    assert (await h.client.put(url, headers=h.auth(viewer), json=body)).status_code == 403
    bad_bodies = (
        {**body, "calls_database_id": "../x"},
        {**body, "token": "short"},
        {"token": body["token"]},
    )
    for bad in bad_bodies:
        assert (await h.client.put(url, headers=owner, json=bad)).status_code == 422, bad
    linked = await h.client.put(url, headers=owner, json=body)
    assert linked.status_code == 200, linked.text
    shown = (await h.get("/notion", viewer)).json()
    assert shown["calls_database_id"] == ids[1]
    assert "token" not in shown
    assert body["token"] not in linked.text
    assert (await h.get("/notion", other.owner_token)).status_code == 404
    plaintext = "SELECT count(*) FROM notion_links WHERE position($1::bytea in token_box) > 0"
    stored = await count(h.pool, tenant.tenant_id, plaintext, body["token"].encode())
    assert stored == 0  # sealed, not in plaintext
    assert (await h.delete("/notion", tenant.owner_token)).status_code == 204
    assert (await h.delete("/notion", tenant.owner_token)).status_code == 404
