"""A tool an agency defined, run as a call runs it (actors.call_tools.run_tool) against the
agency-server simulator on 127.0.0.1: the signed request, the answer handed to the model, and
every way the agency's server can fail - each one a polite "couldn't look that up" within the
tool's timeout, never an exception and never a hang. Also the engine's overhead per round trip
(its time beyond the server's own)."""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import time
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest

from actors.call_tools import ToolContext, ToolRun, run_tool
from actors.ports import MemoryClient
from engine import agency_tools
from engine.config import AgencyTool, TenantConfig
from engine.signing import SIGNATURE_HEADER, verify
from engine.sim.agency_server import AgencyServer, Behaviour, refused_url
from engine.tools import tool_specs

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"policy_number": {"type": "string", "pattern": "^P-[0-9]{4}$"}},
    "required": ["policy_number"],
    "additionalProperties": False,
}
ARGS = '{"policy_number": "P-1234"}'
TIMEOUT_S = 1.0


@pytest.fixture
async def server() -> AsyncIterator[AgencyServer]:
    async with AgencyServer() as running:
        yield running


def tenant(url: str, secret: str, *, timeout_s: float = TIMEOUT_S) -> TenantConfig:
    tool = AgencyTool("policy_status", "Look up a policy.", SCHEMA, url, secret, timeout_s)
    return TenantConfig(tenant_id="t", name="Agency", agency_tools=(tool,))


async def run(config: TenantConfig, arguments: str = ARGS) -> tuple[ToolRun, dict[str, Any], float]:
    spec = tool_specs(config)["policy_status"]
    context = ToolContext(config, "CA" + "1" * 32, "+15550001111", cast(MemoryClient, None), "")
    started = time.perf_counter()
    ran = await run_tool(spec, "call_1", "policy_status", arguments, context)
    return ran, json.loads(ran.result.output), time.perf_counter() - started


async def test_the_arguments_go_signed_and_the_answer_reaches_the_model(
    server: AgencyServer,
) -> None:
    server.behaviours["policy_status"] = Behaviour(answer={"status": "active", "premium": 812})
    ran, output, _ = await run(tenant(server.url("policy_status"), server.secret))
    assert ran.status == "ok"
    assert output == {"ok": True, "result": {"status": "active", "premium": 812}}
    (request,) = server.requests
    assert request.body["arguments"] == {"policy_number": "P-1234"}
    assert request.body["tool"] == "policy_status"
    assert request.body["call_sid"] == "CA" + "1" * 32
    assert request.headers["Idempotency-Key"] == "call_1"
    raw = json.dumps(request.body, separators=(",", ":")).encode()
    verify(server.secret, raw, request.headers[SIGNATURE_HEADER], time.time())
    assert server.bad_signatures == 0


async def test_arguments_outside_the_schema_never_reach_the_agency(server: AgencyServer) -> None:
    ran, output, _ = await run(
        tenant(server.url("policy_status"), server.secret), '{"policy_number": "1234"}'
    )
    assert ran.status == "error"
    assert output["ok"] is False
    assert "policy_number" in output["error"]
    assert server.requests == []


def polite(output: dict[str, Any]) -> None:
    assert output == agency_tools.UNAVAILABLE
    assert "couldn't look that up" in output["next"]


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        (Behaviour(raw=b"<html>oops</html>"), "not JSON"),
        (Behaviour(raw=b"[1, 2, 3]"), "a list, not an object"),
        (Behaviour(raw=b'{"x": "' + b"a" * 20_000 + b'"}'), "over 16 KiB"),
        (Behaviour(status=500), "500"),
        (Behaviour(status=503), "503"),
        (Behaviour(status=404), "404"),
        (Behaviour(status=302), "a redirect (not followed)"),
    ],
)
async def test_bad_answers_become_a_polite_failure(
    server: AgencyServer, behaviour: Behaviour, reason: str
) -> None:
    server.behaviours["policy_status"] = behaviour
    ran, output, _ = await run(tenant(server.url("policy_status"), server.secret))
    assert ran.status == "error", reason
    polite(output)
    assert len(server.requests) == 1


async def test_a_wrong_secret_is_refused_by_the_agency_and_said_politely(
    server: AgencyServer,
) -> None:
    ran, output, _ = await run(tenant(server.url("policy_status"), "not-the-agency-secret"))
    assert ran.status == "error"
    polite(output)
    assert server.bad_signatures == 1


async def test_a_slow_agency_times_out_within_the_tools_timeout(server: AgencyServer) -> None:
    server.behaviours["policy_status"] = Behaviour(delay_s=2.0)
    ran, output, elapsed = await run(tenant(server.url("policy_status"), server.secret))
    assert ran.status == "timeout"
    polite(output)
    assert TIMEOUT_S * 0.9 < elapsed < TIMEOUT_S + 0.5


async def test_a_server_that_accepts_and_never_answers_does_not_hang_the_call() -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # the kernel accepts; nobody ever reads or answers
    try:
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/tools/policy_status"
        ran, output, elapsed = await run(tenant(url, "agency-tool-secret-0001"))
    finally:
        listener.close()
    assert ran.status == "timeout"
    polite(output)
    assert elapsed < TIMEOUT_S + 0.5


async def test_connection_refused_is_said_politely() -> None:
    ran, output, elapsed = await run(tenant(refused_url(), "agency-tool-secret-0001"))
    assert ran.status == "error"
    polite(output)
    assert elapsed < TIMEOUT_S


async def test_a_slow_dripping_answer_is_cut_off_at_the_timeout() -> None:
    async def drip(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
        writer.write(b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            for _ in range(100):  # a byte every 100 ms: each read is quick, the whole is not
                writer.write(b"1\r\n \r\n")
                await writer.drain()
                await asyncio.sleep(0.1)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(drip, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}/tools/policy_status"
        ran, output, elapsed = await run(tenant(url, "agency-tool-secret-0001"))
    finally:
        server.close()
    assert ran.status == "timeout"
    polite(output)
    assert elapsed < TIMEOUT_S + 0.5


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def test_round_trip_overhead_beyond_the_agencys_own_time(server: AgencyServer) -> None:
    """Engine time per call (validate, sign, post, read, parse) minus the handler's own."""
    server.behaviours["policy_status"] = Behaviour(answer={"status": "active"}, delay_s=0.02)
    config = tenant(server.url("policy_status"), server.secret)
    await agency_tools.warm()  # as a call whose agency has tools does when it starts
    _, _, first = await run(config)  # a new connection
    print(f"first agency tool call: {first * 1000 - server.requests[-1].handler_ms:.2f} ms")
    for _ in range(10):  # warm the connection pool
        await run(config)
    server.requests.clear()
    overheads = []
    for _ in range(200):
        ran, _, elapsed = await run(config)
        assert ran.status == "ok"
        overheads.append(elapsed * 1000 - server.requests[-1].handler_ms)
    p50, p99 = statistics.median(overheads), percentile(overheads, 0.99)
    print(f"agency tool overhead beyond the server's time: p50 {p50:.2f} ms, p99 {p99:.2f} ms")
    assert p50 < 20
