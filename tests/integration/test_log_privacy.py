"""A full simulated call in which the caller speaks PII, with the engine's production logging
(JSON, `pii_` fields redacted): no log line of the run - the webhook, the tenant, call and
memory actors, the post-call job - holds the caller's number or any of the words and numbers
they said."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import structlog

from engine.logs import configure
from engine.sim.realtime_script import Reply, Script
from engine.sim.twilio_caller import CallScript, HangUp, Speak, WaitForAgent
from tests.conftest import PgUrls
from tests.integration.engine_harness import Engine, running_engine

CALLER = "+15558675309"
CARD = "4111 1111 1111 1111"
SSN = "123-45-6789"
FIRST = f"Hi, this is Dana Whitfield. My card is {CARD} and my social security number is {SSN}."
SECOND = "My date of birth is March 4, 1980 and my policy number is PA-2093177."
SPOKEN = ("Whitfield", "4111", "1111 1111", SSN, "123456789", "March 4, 1980", "PA-2093177")
NUMBER_FORMS = (CALLER, CALLER[1:], "8675309", "867-5309")


@pytest.fixture
def production_logging() -> Iterator[None]:
    saved = structlog.get_config()
    configure("json", redact=True, level=logging.DEBUG)
    yield
    structlog.configure(**saved)


@pytest.fixture
async def engine(
    pg_urls: PgUrls, app_pool: asyncpg.Pool, jwt_secret: str, production_logging: None
) -> AsyncIterator[Engine]:
    async with running_engine(pg_urls.app, jwt_secret, app_pool) as running:
        yield running


async def test_no_log_line_of_a_call_holds_the_callers_number_or_words(
    engine: Engine, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    _tenant_id, number = await engine.new_tenant(agent_name="Ava", record_calls=True)
    engine.sim.add_script(
        CALLER,
        Script(
            transcripts=(FIRST, SECOND),
            replies=(
                Reply(text="Thanks Dana Whitfield, I have your card ending 1111."),
                Reply(
                    function="take_message",
                    arguments=json.dumps(
                        {"reason": "Dana Whitfield, policy PA-2093177, born March 4, 1980"}
                    ),
                ),
                Reply(text="I've passed that on."),
            ),
        ),
    )
    script = CallScript(
        from_number=CALLER,
        to_number=number,
        steps=(
            WaitForAgent(timeout=15),
            Speak(FIRST),
            WaitForAgent(timeout=15),
            Speak(SECOND),
            WaitForAgent(timeout=15),
            HangUp(),
        ),
    )
    result = await engine.caller().place_call(script, timeout=90)
    assert result.violations == []
    setup = engine.pool.setups[-1]
    for _ in range(200):  # the post-call job runs too, and logs
        status = await engine.pool.memory.post_call_status(setup.memory_token, result.call_sid)
        if status is not None and status.status == "done":
            break
        await asyncio.sleep(0.1)
    captured = capsys.readouterr()
    lines = [*captured.err.splitlines(), *captured.out.splitlines()]
    lines += [record.getMessage() for record in caplog.records]
    assert len(lines) > 10, "the run logged almost nothing: the capture is broken"
    assert any(result.call_sid in line for line in lines)
    leaks = [
        (value, line)
        for line in lines
        for value in (*SPOKEN, *NUMBER_FORMS)
        if value.lower() in line.lower()
    ]
    assert leaks == []
