"""Identity before disclosure: until the caller is verified, the model's instructions carry
no stored fact about them - at most the first name, when the tenant allows it."""

from __future__ import annotations

from datetime import UTC, datetime

from engine.config import TenantConfig
from engine.session_prompt import session_prompt
from engine.verification import VerificationPolicy
from prompts.context import CallerContext, CallerProfile, CallSummary, KnowledgeItem, MemoryItem

NOW = datetime(2026, 12, 4, 15, 0, tzinfo=UTC)
TENANT = TenantConfig(tenant_id="t1", name="Acme Insurance")
FACTS = ("Whitfield", "Civic", "CLM-20931", "rear-ended", "Jordan", "frustrated")
CONTEXT = CallerContext(
    profile=CallerProfile(
        phone="+15550100001",
        preferred_name="Dana Whitfield",
        total_calls=4,
        first_call_at=datetime(2025, 1, 2, tzinfo=UTC),
        last_call_at=datetime(2026, 11, 30, tzinfo=UTC),
    ),
    personality={"frustration": 90.0},
    summaries=(
        CallSummary(
            at=datetime(2026, 11, 30, tzinfo=UTC),
            summary="Opened claim CLM-20931: her Civic was rear-ended.",
            sentiment="anxious",
            resolution="open",
        ),
    ),
    memories=(MemoryItem("person", "spouse", "Jordan", 0.9),),
    knowledge=(KnowledgeItem("fact", "Office hours", "Weekdays 9 to 5.", 0.8),),
)


def _prompt(
    tenant: TenantConfig = TENANT, *, verified: bool = False, can_verify: bool = True
) -> str:
    made = session_prompt(
        tenant,
        caller_number="+15550100001",
        context=CONTEXT,
        tools=("end_call",),
        now=NOW,
        verified=verified,
        can_verify=can_verify,
    )
    return made.instructions + "\n" + made.greeting


def test_an_unverified_caller_gets_no_stored_fact_only_the_first_name() -> None:
    text = _prompt()
    assert [fact for fact in FACTS if fact in text] == []
    assert "Dana" in text
    assert "verify_caller" in text
    assert "Weekdays 9 to 5." in text  # agency knowledge is not about the caller
    assert "new caller" not in text


def test_a_verified_caller_gets_everything() -> None:
    text = _prompt(verified=True)
    assert [fact for fact in FACTS if fact not in text] == []
    assert "is verified" in text


def test_a_tenant_may_forbid_even_the_first_name() -> None:
    tenant = TenantConfig(
        tenant_id="t1", name="Acme", verification=VerificationPolicy(greet_by_name=False)
    )
    assert "Dana" not in _prompt(tenant)


def test_a_new_caller_is_not_asked_to_verify() -> None:
    made = session_prompt(
        TENANT,
        caller_number="+15550100002",
        context=CallerContext(None, {}, (), (), ()),
        tools=("end_call",),
        now=NOW,
    )
    assert not made.needs_verification
    assert "verify_caller" not in made.instructions


def test_a_profile_with_no_identifiers_offers_a_callback_instead() -> None:
    text = _prompt(can_verify=False)
    assert "cannot be verified" in text
    assert "call verify_caller" not in text
    assert [fact for fact in FACTS if fact in text] == []


def test_a_tenant_that_does_not_require_verification_keeps_the_old_behaviour() -> None:
    tenant = TenantConfig(
        tenant_id="t1", name="Acme", verification=VerificationPolicy(required=False)
    )
    text = _prompt(tenant)
    assert [fact for fact in FACTS if fact not in text] == []
