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
import secrets
import time
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from engine.cli.scenario import caller_steps
from engine.sim.twilio_caller import CallScript, TwilioCaller
from tests.cluster.podman_support import (
    IMAGE,
    PODMAN,
    build_image,
    podman,
    register_lines,
    run,
    wait_for_turns,
    wait_healthy,
)
from tests.cluster.ports import IMAGE_HTTP, IMAGE_MEDIA

# Ports published on the host's loopback only, away from the ranges other tests use.
HTTP_PORT = IMAGE_HTTP[0]
NUMBER = "+15550142000"
CALLER = "+15550142001"
LINES = ("Hi, I'd like to check when my auto policy renews.",)
REPLIES = ("Your auto policy renews on the first of next month.",)

pytestmark = pytest.mark.timeout(1800)


@pytest.fixture(scope="module")
def container() -> Iterator[str]:
    build_image(IMAGE)
    name = f"neurosphere-test-{uuid.uuid4().hex[:8]}"
    low, high = IMAGE_MEDIA
    podman(
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
        logs = run([PODMAN, "logs", "--tail", "40", name], 30)
        print(logs.stdout[-3000:], logs.stderr[-3000:])
        run([PODMAN, "rm", "--force", "--volumes", name], 60)


def test_a_call_through_the_image(container: str) -> None:
    began = time.monotonic()
    health = wait_healthy(f"http://127.0.0.1:{HTTP_PORT}/healthz", 300)
    print(f"container healthy {time.monotonic() - began:.0f} s after start: {health}")
    podman("healthcheck", "run", container)  # the image's own HEALTHCHECK passes
    inspect = json.loads(podman("image", "inspect", IMAGE))[0]
    assert "/var/lib/neurosphere" in (inspect["Config"].get("Volumes") or {})
    assert inspect["Config"]["User"] == "neurosphere"
    assert "NEUROSPHERE_ENV=production" in inspect["Config"]["Env"]

    token = secrets.token_hex(16)
    podman(
        "exec", container, "neurosphere", "tenant", "add", "--name", "Image Test Agency",
        "--number", NUMBER, "--twilio-auth-token", token,
    )  # fmt: skip
    register_lines(container, CALLER, LINES, REPLIES)

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
    assert IMAGE_MEDIA[0] <= media.port <= IMAGE_MEDIA[1], media
    assert result.heard_ms > 500, "the caller heard no agent audio"
    assert not result.violations, result.violations

    turns = wait_for_turns(
        container, NUMBER, result.call_sid, [["caller", LINES[0]], ["agent", REPLIES[0]]]
    )
    assert ["caller", LINES[0]] in turns, turns
    assert ["agent", REPLIES[0]] in turns, turns
