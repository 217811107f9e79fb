"""The engine image, built the documented way (deploy/build-image.sh: podman/buildah, no
registry) and run with `podman run` with its own defaults: a simulated caller on the host
places a call through the published ports (webhook -> TwiML -> media stream), and the
transcript is read back from the container's Postgres.

Slow on a cold machine (the base root filesystem and the dependency layer: about 4 minutes
here); with the layers cached a rebuild after a source edit takes well under a minute.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from engine.cli.scenario import caller_steps
from engine.sim.twilio_caller import CallScript, TwilioCaller

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "neurosphere-voice:test"
# Ports published on the host's loopback only, away from the ranges other tests use.
HTTP_PORT = 24480
MEDIA_PORTS = (24490, 24499)
NUMBER = "+15550142000"
CALLER = "+15550142001"
LINES = ("Hi, I'd like to check when my auto policy renews.",)
REPLIES = ("Your auto policy renews on the first of next month.",)

pytestmark = pytest.mark.timeout(1800)

REGISTER = """
import asyncio, json, sys
from engine.cli.scenario import register_lines
runtime = json.load(open("runtime.json"))
lines, replies = json.loads(sys.argv[2]), json.loads(sys.argv[3])
asyncio.run(register_lines(runtime["realtime_base_url"], sys.argv[1], tuple(lines), tuple(replies)))
"""

TURNS = """
import asyncio, json, sys
from engine.cli.runtime import prepare_database
from engine.settings import Settings
from memory import calls, tenants
from memory.db import create_pool

async def main() -> None:
    database = await prepare_database(Settings.model_validate({}))
    pool = await create_pool(database.app_url, min_size=1, max_size=1)
    tenant_id = await tenants.resolve_number(pool, sys.argv[1])
    turns = await calls.load_turns(pool, tenant_id, sys.argv[2])
    print(json.dumps([[t.role, t.text] for t in turns]))

asyncio.run(main())
"""


PODMAN = shutil.which("podman") or "podman"


def _run(argv: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - fixed argv: podman and the repository's own script
        argv, capture_output=True, text=True, timeout=timeout, env=_env(), check=False
    )


def _podman(*args: str, timeout: float = 120) -> str:
    done = _run([PODMAN, *args], timeout)
    if done.returncode != 0:
        raise AssertionError(f"podman {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def _env() -> dict[str, str]:
    return {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy/podman/containers.conf")}


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    if shutil.which(PODMAN) is None:
        pytest.fail("podman is not installed (.ci/run installs it: buildah podman mmdebstrap ...)")
    began = time.monotonic()
    build = _run([str(ROOT / "deploy/build-image.sh"), IMAGE], 1500)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    summary = build.stdout.strip().splitlines()[-1]
    print(f"image built in {time.monotonic() - began:.0f} s: {summary}")
    name = f"neurosphere-test-{uuid.uuid4().hex[:8]}"
    low, high = MEDIA_PORTS
    _podman(
        "run",
        "--detach",
        "--name",
        name,
        "--publish",
        f"127.0.0.1:{HTTP_PORT}:8000",
        "--publish",
        f"127.0.0.1:{low}-{high}:{low}-{high}",
        # the image runs in production mode, which needs a real model; this call talks to
        # the built-in offline simulator, which only dev mode allows
        "--env",
        "NEUROSPHERE_ENV=dev",
        "--env",
        f"NEUROSPHERE_JWT_SECRET={secrets.token_urlsafe(48)}",
        "--env",
        f"NEUROSPHERE_MEDIA_PORTS={low}-{high}",
        "--env",
        f"PUBLIC_BASE_URL=http://127.0.0.1:{HTTP_PORT}",
        "--env",
        "MEDIA_PUBLIC_URL=ws://127.0.0.1:{port}/stream/{call_sid}",
        "--env",
        "NEUROSPHERE_WARM_CALLS=1",
        "--env",
        "NEUROSPHERE_MEMORY_ACTORS=1",
        "--shm-size=512m",
        IMAGE,
    )
    try:
        yield name
    finally:
        logs = _run([PODMAN, "logs", "--tail", "40", name], 30)
        print(logs.stdout[-3000:], logs.stderr[-3000:])
        _run([PODMAN, "rm", "--force", "--volumes", name], 60)


def _wait_healthy(timeout: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/healthz", timeout=5) as r:
                body: dict[str, object] = json.loads(r.read())
                return body
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        time.sleep(2)
    raise AssertionError(f"/healthz never answered 200 through the published port: {last}")


def test_a_call_through_the_image(container: str) -> None:
    began = time.monotonic()
    health = _wait_healthy(300)
    print(f"container healthy {time.monotonic() - began:.0f} s after start: {health}")
    _podman("healthcheck", "run", container)  # the image's own HEALTHCHECK passes
    inspect = json.loads(_podman("image", "inspect", IMAGE))[0]
    assert "/var/lib/neurosphere" in (inspect["Config"].get("Volumes") or {})
    assert inspect["Config"]["User"] == "neurosphere"
    assert "NEUROSPHERE_ENV=production" in inspect["Config"]["Env"]

    token = secrets.token_hex(16)
    _podman(
        "exec", container, "neurosphere", "tenant", "add", "--name", "Image Test Agency",
        "--number", NUMBER, "--twilio-auth-token", token,
    )  # fmt: skip
    _podman(
        "exec", "--workdir", "/var/lib/neurosphere", container, "python3", "-c", REGISTER,
        CALLER, json.dumps(LINES), json.dumps(REPLIES),
    )  # fmt: skip

    caller = TwilioCaller(
        webhook_base=f"http://127.0.0.1:{HTTP_PORT}",
        public_base_url=f"http://127.0.0.1:{HTTP_PORT}",
        auth_token=token,
    )
    script = CallScript(steps=caller_steps(LINES), from_number=CALLER, to_number=NUMBER)
    result = asyncio.run(caller.place_call(script, timeout=90))
    assert result.webhook_status == 200, result.twiml
    assert result.refused_say is None, result.refused_say
    assert result.streams, "Twilio never connected to the media URL the engine handed out"
    media = urlsplit(result.streams[0].url)
    assert media.hostname == "127.0.0.1", media
    assert media.port is not None
    assert MEDIA_PORTS[0] <= media.port <= MEDIA_PORTS[1], media
    assert result.heard_ms > 500, "the caller heard no agent audio"
    assert not result.violations, result.violations

    turns: list[list[str]] = []
    for _ in range(30):  # turns are written through in batches, off the audio path
        out = _podman("exec", container, "python3", "-c", TURNS, NUMBER, result.call_sid)
        turns = json.loads(out.strip().splitlines()[-1])  # after the engine's log lines
        if ["caller", LINES[0]] in turns and ["agent", REPLIES[0]] in turns:
            break
        time.sleep(1)
    assert ["caller", LINES[0]] in turns, turns
    assert ["agent", REPLIES[0]] in turns, turns
