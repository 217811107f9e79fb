"""Call templates end to end: an agency switches the ready claim-intake template on through the
admin API (bad input refused, nothing changed), a claim call's post-call job picks it and
extracts its fields through the OpenAI simulator's structured outputs, and the fields are on
the call's detail and in the signed call.analyzed webhook. Real Postgres, the real memory
actor and its drain, a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from typing import Any

import pytest

from actors.memory_actor import MemoryActor
from engine.sim.openai_http import OpenAIHttpSimulator
from memory.call_templates import READY, template_json
from tests.conftest import PgUrls
from tests.integration.admin_harness import API, AdminHarness
from tests.integration.test_outbox import SECRET, add_endpoint, until
from tests.integration.webhook_receiver import WebhookReceiver
from tests.memory_support import SIM_KEY, memory_config, phone, record_call, token, wait_job

CUSTOM: dict[str, Any] = {
    "name": "Roadside help",
    "use_when": "The caller needs a tow or roadside assistance.",
    "fields": [
        {"name": "tow_needed", "type": "yes_no", "description": "Whether a tow is needed"},
        {
            "name": "problem",
            "type": "choice",
            "description": "What went wrong",
            "options": ["flat tire", "battery", "lockout"],
        },
    ],
}


def changed(**change: Any) -> dict[str, Any]:
    body = copy.deepcopy(CUSTOM)
    body.update(change)
    return body


def field(**change: Any) -> dict[str, Any]:
    return changed(fields=[{"name": "x", "type": "text", "description": "X", **change}])


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={SIM_KEY}) as server:
        yield server


async def put(h: AdminHarness, path: str, token_: str, body: Any) -> Any:
    return await h.client.put(API + path, headers=h.auth(token_), json=body)


async def test_an_agency_switches_templates_on_and_off(h: AdminHarness) -> None:
    tenant = await h.tenant()
    other = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    ready = (await h.get("/call-templates/ready", viewer)).json()["items"]
    assert [t["key"] for t in ready] == [
        "claim_intake",
        "certificate_request",
        "payment_question",
        "policy_change",
        "quote_lead",
    ]
    claim = next(t for t in ready if t["key"] == "claim_intake")
    assert {"policy_number", "date_of_loss", "place_of_loss", "vehicle", "injuries"} <= {
        f["name"] for f in claim["fields"]
    }
    assert (await h.post("/call-templates/ready/claim_intake", viewer)).status_code == 403
    on = await h.post("/call-templates/ready/claim_intake", tenant.owner_token)
    assert on.status_code == 200, on.text
    assert (on.json()["enabled"], on.json()["ready"]) == (True, True)
    assert (await h.post("/call-templates/ready/nope", tenant.owner_token)).status_code == 404
    own = await put(h, "/call-templates/roadside", tenant.owner_token, CUSTOM)
    assert own.status_code == 200, own.text
    assert own.json()["ready"] is False
    off = await h.patch("/call-templates/claim_intake", tenant.owner_token, {"enabled": False})
    assert off.json()["enabled"] is False
    listed = (await h.get("/call-templates", viewer)).json()["items"]
    assert [(t["key"], t["enabled"]) for t in listed] == [
        ("claim_intake", False),
        ("roadside", True),
    ]
    # another agency sees none of it and can change none of it
    assert (await h.get("/call-templates", other.owner_token)).json()["items"] == []
    assert (
        await h.patch("/call-templates/roadside", other.owner_token, {"enabled": False})
    ).status_code == 404
    assert (await h.delete("/call-templates/roadside", other.owner_token)).status_code == 404
    assert (await h.delete("/call-templates/roadside", tenant.owner_token)).status_code == 204
    assert (await h.delete("/call-templates/roadside", tenant.owner_token)).status_code == 404


@pytest.mark.parametrize(
    ("key", "body"),
    [
        ("Bad-Key", CUSTOM),
        ("none", CUSTOM),  # reserved: the model's answer when no template fits
        ("roadside", changed(fields=[])),
        ("roadside", changed(name="")),
        ("roadside", changed(use_when="x" * 301)),
        ("roadside", changed(name="Road\x00side")),
        ("roadside", changed(extra=True)),
        ("roadside", changed(fields=[CUSTOM["fields"][0], CUSTOM["fields"][0]])),
        ("roadside", field(name="Bad Name")),
        ("roadside", field(type="picture")),
        ("roadside", field(type="choice")),  # a choice without options
        ("roadside", field(options=["a"])),  # options on a text field
        ("roadside", field(type="choice", options=["a", "A"])),
        ("roadside", field(description="")),
        ("roadside", changed(fields=[{**CUSTOM["fields"][0], "name": f"f{i}"} for i in range(26)])),
        ("roadside", changed(enabled="maybe")),
    ],
)
async def test_bad_templates_are_refused_and_change_nothing(
    h: AdminHarness, key: str, body: dict[str, Any]
) -> None:
    tenant = await h.tenant()
    answer = await put(h, f"/call-templates/{key}", tenant.owner_token, body)
    assert answer.status_code == 422, answer.text
    assert (await h.get("/call-templates", tenant.owner_token)).json()["items"] == []


async def test_bad_switches_are_refused(h: AdminHarness) -> None:
    tenant = await h.tenant()
    await h.post("/call-templates/ready/payment_question", tenant.owner_token)
    for body in ({}, {"enabled": "yes please"}, {"enabled": True, "name": "x"}):
        answer = await h.patch("/call-templates/payment_question", tenant.owner_token, body)
        assert answer.status_code == 422, answer.text
    listed = (await h.get("/call-templates", tenant.owner_token)).json()["items"]
    assert [t["enabled"] for t in listed] == [True]


CLAIM_CALL = [
    ("agent", "Thanks for calling Sunrise Insurance, how can I help?"),
    ("caller", "Hi, I need to report an accident. My policy number is PA-77120."),
    ("caller", "It happened yesterday on Route 9 near the mall, a truck hit my 2021 Toyota Camry."),
    ("caller", "Nobody was injured, thank God. The police came and made a report."),
    ("agent", "I'm sorry to hear that. Could you text us photos of the damage?"),
    ("caller", "Sure, I'll send photos tonight."),
]


async def test_a_claim_call_is_extracted_with_the_claim_intake_template(
    h: AdminHarness, pg_urls: PgUrls, jwt_secret: str, sim: OpenAIHttpSimulator
) -> None:
    tenant = await h.tenant()
    for key in ("claim_intake", "payment_question"):
        assert (await h.post(f"/call-templates/ready/{key}", tenant.owner_token)).status_code == 200
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim, outbox_poll_s=0.05))
    try:
        async with WebhookReceiver(secret=SECRET) as receiver:
            await add_endpoint(
                h.pool, jwt_secret, tenant.tenant_id, receiver.url, ["call.analyzed"]
            )
            tok = token(jwt_secret, tenant.tenant_id)
            caller = phone()
            call_sid = await record_call(actor, tok, caller, CLAIM_CALL)
            await actor.enqueue_post_call(tok, call_sid, caller)
            assert (await wait_job(actor, tok, call_sid)).status == "done"
            await until(lambda: receiver.of_type("call.analyzed"))
            sent = receiver.of_type("call.analyzed")[0]["data"]["template"]
    finally:
        await actor.close()
    # what the model was asked: both templates (and none) as options of a strict schema
    request = next(r for r in sim.requests if r.path == "/v1/chat/completions")
    spec = request.body["response_format"]["json_schema"]
    options = spec["schema"]["properties"]["template"]["anyOf"]
    assert spec["strict"] is True
    assert [o["properties"]["key"]["enum"] for o in options] == [
        ["claim_intake"],
        ["payment_question"],
        ["none"],
    ]
    assert sent["key"] == "claim_intake"
    assert sent["name"] == READY["claim_intake"].name
    fields = sent["fields"]
    assert fields["date_of_loss"] == "yesterday"
    assert fields["place_of_loss"] == "on Route 9"
    assert fields["vehicle"] == "2021 Toyota Camry"
    assert (fields["injuries"], fields["police_report"], fields["photos_requested"]) == (
        False,
        True,
        True,
    )
    assert fields["policy_number"]
    assert "77120" not in fields["policy_number"]  # redacted, as every stored call text
    detail = (await h.get(f"/calls/{call_sid}", tenant.owner_token)).json()
    assert detail["summary"]["template"] == "claim_intake"
    assert detail["summary"]["template_fields"] == fields


async def test_without_templates_the_analysis_is_as_before(
    h: AdminHarness, pg_urls: PgUrls, jwt_secret: str, sim: OpenAIHttpSimulator
) -> None:
    tenant = await h.tenant()
    await h.post("/call-templates/ready/claim_intake", tenant.owner_token)
    await h.patch("/call-templates/claim_intake", tenant.owner_token, {"enabled": False})
    actor = MemoryActor(memory_config(pg_urls.app, jwt_secret, sim))
    try:
        tok = token(jwt_secret, tenant.tenant_id)
        caller = phone()
        call_sid = await record_call(actor, tok, caller, CLAIM_CALL)
        await actor.enqueue_post_call(tok, call_sid, caller)
        assert (await wait_job(actor, tok, call_sid)).status == "done"
    finally:
        await actor.close()
    request = next(r for r in sim.requests if r.path == "/v1/chat/completions")
    assert "template" not in request.body["response_format"]["json_schema"]["schema"]["properties"]
    summary = (await h.get(f"/calls/{call_sid}", tenant.owner_token)).json()["summary"]
    assert (summary["template"], summary["template_fields"]) == (None, {})
    assert template_json(READY["claim_intake"])["name"] == READY["claim_intake"].name
