"""Guard-rails an agency's insurer expects, whatever prompt blocks the agency picks: no coverage
advice, quotes or binding (a licensed person instead), 911 first in an emergency, and transfers
only to the tenant's configured targets whatever the caller or a tool argument says."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.config import TenantConfig
from engine.session_prompt import session_prompt
from prompts.blocks import BLOCK_PRESETS
from prompts.context import CallerContext
from tests.unit.test_call_tools import TENANT, run

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("safety", sorted(BLOCK_PRESETS["safety_boundaries"]))
def test_every_safety_choice_keeps_the_fixed_rules(safety: str) -> None:
    tenant = TenantConfig(
        tenant_id="t1",
        name="Acme",
        blocks=(("safety_boundaries", safety), ("system_role", "friendly_advisor")),
    )
    text = session_prompt(
        tenant,
        caller_number="+15550100001",
        context=CallerContext(None, {}, (), (), ()),
        tools=("transfer_call",),
        now=NOW,
    ).instructions
    assert "never quote a price" in text
    assert "never bind, change or cancel coverage" in text
    assert "licensed agent" in text
    assert "hang up and call 911" in text


@pytest.mark.parametrize(
    "raw",
    [
        '{"target": "+15559990000"}',  # a number the caller dictated
        '{"target": "my brother"}',
        '{"target": "claims", "number": "+15559990000"}',  # an extra argument
        '{"target": "CLAIMS; +15559990000"}',
    ],
)
async def test_a_transfer_goes_only_to_a_configured_target(raw: str) -> None:
    result = await run("transfer_call", raw)
    assert result.close is None
    assert not result.target
    assert '"ok":false' in result.output
    assert TENANT.transfer_rules  # the tenant does have targets: these were refused
