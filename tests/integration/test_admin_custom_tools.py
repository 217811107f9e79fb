"""/custom-tools: an agency defines its own tools. Good ones are stored with the secret sealed
and never shown; bad input is refused with a 422 (or 409) and changes nothing; viewers read,
and another tenant sees none of it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from engine.secret_box import TOOL_LABEL, SecretBox
from memory import tenants
from memory.db import tenant_tx
from memory.tenant_tools import MAX_TOOLS
from tests.integration.admin_harness import AdminHarness
from tests.memory_support import count

SECRET = "s3cret-agency-tool-key-0001"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"policy_number": {"type": "string"}},
    "required": ["policy_number"],
}


def tool(**change: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "policy_status",
        "description": "Look up whether a policy is active.",
        "parameters": SCHEMA,
        "url": "https://agency.example/tools/policy",
        "secret": SECRET,
    }
    return {k: v for k, v in (body | change).items() if v is not None}


async def test_a_tool_is_stored_sealed_shown_without_its_secret_and_offered_to_calls(
    h: AdminHarness,
) -> None:
    tenant = await h.tenant()
    created = await h.post("/custom-tools", tenant.owner_token, tool(timeout_ms=3000))
    assert created.status_code == 201, created.text
    shown = created.json()
    assert shown["name"] == "policy_status"
    assert shown["timeout_ms"] == 3000
    assert "secret" not in shown
    listed = (await h.get("/custom-tools", tenant.owner_token)).json()["items"]
    assert [t["tool_id"] for t in listed] == [shown["tool_id"]]
    assert SECRET not in str(listed)
    async with tenant_tx(h.pool, tenant.tenant_id) as conn:
        sealed = await conn.fetchval("SELECT secret_box FROM tenant_tools")
    assert SECRET.encode() not in sealed
    box = SecretBox(h.config.jwt_secret, TOOL_LABEL)
    assert box.open(sealed) == SECRET
    config = await tenants.load_config(h.pool, tenant.tenant_id, tool_secrets=box)
    assert config is not None
    (agency,) = config.agency_tools
    assert (agency.name, agency.url, agency.secret, agency.timeout_s) == (
        "policy_status",
        "https://agency.example/tools/policy",
        SECRET,
        3.0,
    )
    # A change without a secret keeps it; disabling takes it off calls; deleting removes it.
    path = f"/custom-tools/{shown['tool_id']}"
    changed = await h.patch(path, tenant.owner_token, {"description": "Policy status."})
    assert changed.status_code == 200, changed.text
    config = await tenants.load_config(h.pool, tenant.tenant_id, tool_secrets=box)
    assert config is not None
    assert config.agency_tools[0].secret == SECRET
    assert (await h.patch(path, tenant.owner_token, {"enabled": False})).status_code == 200
    config = await tenants.load_config(h.pool, tenant.tenant_id, tool_secrets=box)
    assert config is not None
    assert config.agency_tools == ()
    assert (await h.delete(path, tenant.owner_token)).status_code == 204
    assert (await h.get(path, tenant.owner_token)).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        tool(name="Policy Status"),  # the name pattern
        tool(name="x"),
        tool(name="a" * 49),
        tool(name="take_message"),  # a built-in tool's name
        tool(name="verify_caller"),
        tool(description=""),
        tool(description="x" * 1001),
        tool(parameters={"type": "string"}),  # the arguments are an object
        tool(parameters={"type": "object", "properties": {"a": {"type": "nonsense"}}}),
        tool(parameters={"type": "object", "required": "policy_number"}),
        tool(parameters={"type": "object", "description": "x" * 9000}),  # too big
        tool(parameters="not a schema"),
        tool(url="http://agency.example/tools"),  # plain http off this machine
        tool(url="ftp://127.0.0.1/tools"),
        tool(url="https://user:pw@agency.example/tools"),
        tool(url="/tools/policy"),
        tool(secret="short"),
        tool(secret=None),  # a secret is required
        tool(timeout_ms=100),
        tool(timeout_ms=60_000),
        tool(extra="field"),
    ],
)
async def test_bad_tools_are_refused_and_nothing_is_stored(
    h: AdminHarness, body: dict[str, Any]
) -> None:
    tenant = await h.tenant()
    answer = await h.post("/custom-tools", tenant.owner_token, body)
    assert answer.status_code == 422, answer.text
    assert (await h.get("/custom-tools", tenant.owner_token)).json()["items"] == []


async def test_bad_changes_are_refused_and_the_tool_is_unchanged(h: AdminHarness) -> None:
    tenant = await h.tenant()
    shown = (await h.post("/custom-tools", tenant.owner_token, tool())).json()
    path = f"/custom-tools/{shown['tool_id']}"
    for change in (
        {"name": "end_call"},
        {"parameters": {"type": "array"}},
        {"url": "http://agency.example/x"},
        {"secret": "short"},
    ):
        assert (await h.patch(path, tenant.owner_token, change)).status_code == 422, change
    assert (await h.get(path, tenant.owner_token)).json() == shown
    other = await h.tenant()
    assert (await h.get(path, other.owner_token)).status_code == 404
    assert (await h.patch(path, other.owner_token, {"enabled": False})).status_code == 404
    assert (await h.delete(path, other.owner_token)).status_code == 404
    assert (await h.get(path, tenant.owner_token)).json() == shown


async def test_names_are_unique_and_the_count_is_limited(h: AdminHarness) -> None:
    tenant = await h.tenant()
    assert (await h.post("/custom-tools", tenant.owner_token, tool())).status_code == 201
    again = await h.post("/custom-tools", tenant.owner_token, tool())
    assert again.status_code == 409
    for n in range(1, MAX_TOOLS):
        made = await h.post("/custom-tools", tenant.owner_token, tool(name=f"tool_{n}"))
        assert made.status_code == 201, made.text
    over = await h.post("/custom-tools", tenant.owner_token, tool(name="one_too_many"))
    assert over.status_code == 409
    assert len((await h.get("/custom-tools", tenant.owner_token)).json()["items"]) == MAX_TOOLS
    assert await count(h.pool, tenant.tenant_id, "SELECT count(*) FROM tenant_tools") == MAX_TOOLS


async def test_production_takes_only_https(h: AdminHarness) -> None:
    tenant = await h.tenant()
    local = tool(url="http://127.0.0.1:9/tools/policy")
    dev = await h.post("/custom-tools", tenant.owner_token, local)
    assert dev.status_code == 201, dev.text
    h.admin.config = replace(h.admin.config, plain_http_tools=False)
    refused = await h.post("/custom-tools", tenant.owner_token, local | {"name": "second"})
    assert refused.status_code == 422
    path = f"/custom-tools/{dev.json()['tool_id']}"
    assert (await h.patch(path, tenant.owner_token, {"enabled": False})).status_code == 422
    https = await h.post("/custom-tools", tenant.owner_token, tool(name="third"))
    assert https.status_code == 201


async def test_viewers_read_but_do_not_change(h: AdminHarness) -> None:
    tenant = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    assert (await h.post("/custom-tools", viewer, tool())).status_code == 403
    shown = (await h.post("/custom-tools", tenant.owner_token, tool())).json()
    assert len((await h.get("/custom-tools", viewer)).json()["items"]) == 1
    path = f"/custom-tools/{shown['tool_id']}"
    assert (await h.patch(path, viewer, {"enabled": False})).status_code == 403
    assert (await h.delete(path, viewer)).status_code == 403
