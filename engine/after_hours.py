"""A call taken while the agency's office is closed (engine.business_hours): the tenant as that
call sees it. Pure."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from engine.business_hours import closed_at
from engine.config import TenantConfig


def for_call(tenant: TenantConfig, now: datetime) -> TenantConfig:
    """The tenant as a call starting at ``now`` sees it: unchanged while the office is open;
    otherwise marked closed, with no transfer target and no transferring key. (The fallback
    number, for a call the engine cannot serve, stays: it is the agency's choice for failures,
    often an answering service.)"""
    closed = closed_at(tenant.hours, tenant.time_zone, now)
    if closed is None:
        return tenant
    return replace(
        tenant,
        closed=closed,
        transfer_rules=(),
        dtmf_actions=tuple((k, a) for k, a in tenant.dtmf_actions if a.action != "transfer"),
    )
