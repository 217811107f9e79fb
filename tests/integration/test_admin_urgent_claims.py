"""/agent/urgent-claims: an agency lists what makes a claim urgent and the number urgent claims
go to after hours; bad input is refused and changes nothing; the next call's tenant sees it."""

from __future__ import annotations

from typing import Any

import pytest

from memory import tenants
from tests.integration.admin_harness import API, AdminHarness

PATH = "/agent/urgent-claims"
GOOD = {
    "conditions": ["someone was injured", "the home cannot be lived in"],
    "number": "+15550001111",
}


async def put(h: AdminHarness, token: str, body: Any) -> Any:
    return await h.client.put(API + PATH, headers=h.auth(token), json=body)


async def test_an_agency_sets_its_urgent_claims(h: AdminHarness) -> None:
    tenant = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    defaults = (await h.get(PATH, viewer)).json()
    assert defaults == {
        "conditions": [
            "someone was injured",
            "a vehicle cannot be driven",
            "the home cannot be lived in",
        ],
        "number": None,
    }
    assert (await put(h, viewer, GOOD)).status_code == 403
    saved = await put(h, tenant.owner_token, GOOD)
    assert saved.status_code == 200, saved.text
    assert (await h.get(PATH, viewer)).json() == GOOD
    config = await tenants.load_config(h.pool, tenant.tenant_id)
    assert config is not None
    assert config.urgent.number == "+15550001111"
    assert config.urgent.conditions == tuple(GOOD["conditions"])
    off = await put(h, tenant.owner_token, {"conditions": []})
    assert off.json() == {"conditions": [], "number": None}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"conditions": "someone was injured"},
        {"conditions": ["ok"]},  # too short to mean anything
        {"conditions": ["x" * 121]},
        {"conditions": ["a fire\x00"]},
        {"conditions": ["a fire", "A fire"]},
        {"conditions": [f"condition {i}" for i in range(11)]},
        {"conditions": ["a fire"], "number": "555-0100"},
        {"conditions": ["a fire"], "number": "+0123"},
        {"conditions": ["a fire"], "extra": 1},
    ],
)
async def test_bad_urgent_claims_are_refused_and_change_nothing(
    h: AdminHarness, body: dict[str, Any]
) -> None:
    tenant = await h.tenant()
    assert (await put(h, tenant.owner_token, GOOD)).status_code == 200
    answer = await put(h, tenant.owner_token, body)
    assert answer.status_code == 422, answer.text
    assert (await h.get(PATH, tenant.owner_token)).json() == GOOD
