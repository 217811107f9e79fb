"""podman helpers of the container tests (test_image, test_compose): the engine image built
the documented way (deploy/build-image.sh, reusing its base and layers when present), podman
called with the repository's containers.conf, and small scripts run inside the engine's
container (what the offline simulator should answer, the transcript in Postgres)."""

from __future__ import annotations

import json
import os
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "neurosphere-voice:test"
PODMAN = shutil.which("podman") or "podman"

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


def run(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`argv` with the repository's containers.conf (and `env`) added to this environment."""
    full = {**os.environ, "CONTAINERS_CONF": str(ROOT / "deploy/podman/containers.conf")}
    return subprocess.run(  # noqa: S603 - fixed argv: podman and the repository's own scripts
        argv, capture_output=True, text=True, timeout=timeout, env=full | (env or {}), check=False
    )


def podman(*args: str, timeout: float = 120) -> str:
    done = run([PODMAN, *args], timeout)
    if done.returncode != 0:
        raise AssertionError(f"podman {args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return done.stdout


def build_image(tag: str = IMAGE) -> str:
    """deploy/build-image.sh: the base is made only when missing, unchanged layers are reused.
    Returns its summary line (build time and size)."""
    if shutil.which(PODMAN) is None:
        pytest.fail("podman is not installed (.ci/run installs it: buildah podman mmdebstrap ...)")
    began = time.monotonic()
    build = run([str(ROOT / "deploy/build-image.sh"), tag], 1500)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    summary = build.stdout.strip().splitlines()[-1]
    print(f"image built in {time.monotonic() - began:.0f} s: {summary}")
    return summary


def register_lines(
    container: str, caller: str, lines: tuple[str, ...], replies: tuple[str, ...]
) -> None:
    """Tell the container's offline realtime simulator what `caller` says and hears."""
    podman(
        "exec", "--workdir", "/var/lib/neurosphere", container, "python3", "-c", REGISTER,
        caller, json.dumps(lines), json.dumps(replies),
    )  # fmt: skip


def wait_for_turns(
    container: str, number: str, call_sid: str, wanted: list[list[str]]
) -> list[list[str]]:
    """The call's turns as the container's engine reads them from its Postgres, once all of
    `wanted` are there (turns are written through in batches, off the audio path) or 30 s."""
    turns: list[list[str]] = []
    for _ in range(30):
        out = podman("exec", container, "python3", "-c", TURNS, number, call_sid)
        turns = json.loads(out.strip().splitlines()[-1])  # after the engine's log lines
        if all(turn in turns for turn in wanted):
            break
        time.sleep(1)
    return turns


def wait_healthy(
    url: str, timeout: float, context: ssl.SSLContext | None = None
) -> dict[str, object]:
    """/healthz's body once it answers 200 at `url` (through a published port)."""
    deadline = time.monotonic() + timeout
    last = "no answer"
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=5, context=context) as answer:  # noqa: S310 - a fixed loopback URL
                body: dict[str, object] = json.loads(answer.read())
                return body
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        time.sleep(2)
    raise AssertionError(f"{url} never answered 200: {last}")
