"""Every actor process configures structlog like the driver: JSON when JSON is on, and the
production redaction of `pii_` fields, from the frozen config it is started with."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import structlog

from actors.call_actor import CallActor
from actors.call_pool import CallPool
from actors.memory_actor import MemoryActor
from actors.tenant_actor import TenantActor
from engine.config import EngineConfig
from tests.unit.test_call_pool import FakeFactory

CONFIG = EngineConfig(
    app_database_url="postgresql://nowhere/none",
    jwt_secret="s" * 40,
    log_format="json",
    redact_pii=True,
)

ACTORS: dict[str, Callable[[EngineConfig], Any]] = {
    "call": lambda c: CallActor(c, memory=None),  # type: ignore[arg-type]
    "pool": lambda c: CallPool(c, FakeFactory()),
    "tenant": lambda c: TenantActor(c, "t-1", store=None, claimer=None),  # type: ignore[arg-type]
    "memory": lambda c: MemoryActor(c, 0),
}


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.mark.parametrize("kind", sorted(ACTORS))
def test_actor_logs_are_json_and_redacted(kind: str, capsys: pytest.CaptureFixture[str]) -> None:
    structlog.reset_defaults()  # a fresh worker process: structlog's console default
    ACTORS[kind](CONFIG)
    capsys.readouterr()
    structlog.get_logger("test").info("call_answered", call_sid="CA1", pii_from="+15550100")
    line = json.loads(capsys.readouterr().err)
    assert line["event"] == "call_answered"
    assert line["call_sid"] == "CA1"
    assert line["pii_from"] == "[redacted]"
