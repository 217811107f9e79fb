"""/agent/overflow: an agency chooses what a caller gets when the node has no room (the polite
message, a transfer to the fallback number, Twilio's queue with a max wait); bad input is
refused with a clear error and changes nothing; the next call's tenant sees the choice."""

from __future__ import annotations

from typing import Any

import pytest

from memory import tenants
from tests.integration.admin_harness import API, AdminHarness

PATH = "/agent/overflow"
QUEUE = {"choice": "queue", "queue_max_wait_s": 300}


async def put(h: AdminHarness, token: str, body: Any) -> Any:
    return await h.client.put(API + PATH, headers=h.auth(token), json=body)


async def test_an_agency_chooses_its_overflow(h: AdminHarness) -> None:
    tenant = await h.tenant()
    viewer = await h.token_for(await h.user(tenant.tenant_id, "viewer"))
    assert (await h.get(PATH, viewer)).json() == {"choice": None, "queue_max_wait_s": 120}
    assert (await put(h, viewer, QUEUE)).status_code == 403
    saved = await put(h, tenant.owner_token, QUEUE)
    assert saved.status_code == 200, saved.text
    assert (await h.get(PATH, viewer)).json() == QUEUE
    config = await tenants.load_config(h.pool, tenant.tenant_id)
    assert config is not None
    assert config.overflow.choice == "queue"
    assert config.overflow.queue_max_wait_s == 300
    assert config.overflow.action(None) == "queue"
    message = await put(h, tenant.owner_token, {"choice": "message"})
    assert message.json() == {"choice": "message", "queue_max_wait_s": 120}
    config = await tenants.load_config(h.pool, tenant.tenant_id)
    assert config is not None
    assert config.overflow.action("+15550001111") == "message"


async def test_a_transfer_needs_the_fallback_number(h: AdminHarness) -> None:
    tenant = await h.tenant()
    refused = await put(h, tenant.owner_token, {"choice": "transfer"})
    assert refused.status_code == 422
    assert "fallback_number" in refused.text
    assert (await h.get(PATH, tenant.owner_token)).json()["choice"] is None
    patched = await h.client.patch(
        API + "/agent",
        headers=h.auth(tenant.owner_token),
        json={"fallback_number": "+15550002222"},
    )
    assert patched.status_code == 200, patched.text
    ok = await put(h, tenant.owner_token, {"choice": "transfer"})
    assert ok.status_code == 200, ok.text
    config = await tenants.load_config(h.pool, tenant.tenant_id)
    assert config is not None
    assert config.overflow.action(config.fallback_number) == "transfer"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"choice": "hold"},
        {"choice": "queue", "queue_max_wait_s": 14},
        {"choice": "queue", "queue_max_wait_s": 1801},
        {"choice": "queue", "queue_max_wait_s": "long"},
        {"choice": "queue", "queue_max_wait_s": 60.5},
        {"choice": "queue", "extra": 1},
        ["queue"],
    ],
)
async def test_bad_overflow_is_refused_and_changes_nothing(h: AdminHarness, body: Any) -> None:
    tenant = await h.tenant()
    assert (await put(h, tenant.owner_token, QUEUE)).status_code == 200
    answer = await put(h, tenant.owner_token, body)
    assert answer.status_code == 422, answer.text
    assert (await h.get(PATH, tenant.owner_token)).json() == QUEUE
