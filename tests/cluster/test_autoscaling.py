"""The Ray autoscaler adds a node when calls need `call_slot`s and removes it once idle, on this
machine with Ray's fake multi-node provider, every node at 127.0.0.1.

The head (`ray start --head --autoscaling-config`, token auth, no call slots) runs the
autoscaler; its node type `call` carries 4 call slots, none running at first. `neurosphere
serve` connects to it (RAY_ADDRESS): its pool's warm actors ask for call slots, the autoscaler
starts a `call` node, the actors start there and the engine answers. When the engine stops, its
actors go, the node is idle and the autoscaler removes it.

Ray on Linux turns 127.0.0.1 into the machine's routable address (`ray start --node-ip-address`,
and the fake provider's nodes, which take the address the autoscaler's process guesses) unless
told the cluster is one machine's: `RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0` in the head's
environment (the autoscaler and its nodes inherit it) keeps every node at 127.0.0.1. The same
variable makes `ray start --address` (joining a worker by hand) refuse, which the fake provider
does not use. Nodes are counted by their raylet processes (the kernel's view, no Ray client in
this process). About 60-90 s here.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psutil
import pytest

from tests.cluster.ports import AUTOSCALING_MEDIA, env_range
from tests.conftest import PgUrls

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(600)]

RAY = shutil.which("ray", path=str(Path(sys.executable).parent)) or "ray"
NEUROSPHERE = shutil.which("neurosphere", path=str(Path(sys.executable).parent)) or "neurosphere"
SLOTS = 4
IDLE_TIMEOUT_MIN = 0.1  # the autoscaler removes a node idle this long (6 s)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _config(gcs_port: int) -> dict[str, object]:
    """An autoscaling config for Ray's fake multi-node provider (the launcher's keys, empty)."""
    return {
        "cluster_name": "neurosphere-fake",
        "max_workers": 2,
        "provider": {
            "type": "fake_multinode",
            "use_node_id_as_ip": True,
            "disable_node_updaters": True,
            "disable_launch_config_check": True,
            "gcs_address": f"127.0.0.1:{gcs_port}",
        },
        "available_node_types": {
            "ray.head.default": {
                "resources": {"CPU": 1, "call_slot": 0},
                "node_config": {},
                "max_workers": 0,
            },
            "call": {
                "resources": {"CPU": 1, "call_slot": SLOTS},
                "node_config": {},
                "min_workers": 0,
                "max_workers": 2,
            },
        },
        "head_node_type": "ray.head.default",
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": IDLE_TIMEOUT_MIN,
        "auth": {},
        "docker": {},
        "file_mounts": {},
        "cluster_synced_files": [],
        "file_mounts_sync_continuously": False,
        "rsync_exclude": [],
        "rsync_filter": [],
        "initialization_commands": [],
        "setup_commands": [],
        "head_setup_commands": [],
        "worker_setup_commands": [],
        "head_start_ray_commands": [],
        "worker_start_ray_commands": [],
    }


@dataclass
class FakeCluster:
    temp: Path
    gcs: str
    env: dict[str, str]

    def raylets(self) -> list[tuple[str, float]]:
        """(node address, start time) of each running raylet of this cluster, oldest first."""
        found = []
        for proc in psutil.process_iter(["cmdline", "status"]):
            cmd = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or not cmd:
                continue
            if not cmd[0].endswith("/raylet") or not any(str(self.temp) in a for a in cmd):
                continue
            address = re.search(r"--node_ip_address=(\S+)", " ".join(cmd))
            with contextlib.suppress(psutil.Error):
                found.append((address.group(1) if address else "?", proc.create_time()))
        return sorted(found, key=lambda node: node[1])

    def pool_started(self) -> float | None:
        """When the engine's call pool actor's process started (it asks for call slots at
        once), from the processes under the head's raylet."""
        for proc in psutil.process_iter(["cmdline"]):
            cmd = proc.info["cmdline"] or []
            if cmd and cmd[0].startswith("ray::CallPool"):
                with contextlib.suppress(psutil.Error):
                    if any(str(self.temp) in a for p in proc.parents() for a in p.cmdline()):
                        return float(proc.create_time())
        return None

    def listeners(self) -> list[tuple[str, int, str]]:
        """Every listening socket of this cluster's processes."""
        pids = {}
        for proc in psutil.process_iter(["cmdline"]):
            if any(str(self.temp) in a for a in proc.info["cmdline"] or []):
                pids[proc.pid] = proc
                with contextlib.suppress(psutil.Error):
                    pids |= {c.pid: c for c in proc.children(recursive=True)}
        found = []
        for conn in psutil.net_connections("tcp"):
            if conn.pid in pids and conn.status == psutil.CONN_LISTEN and conn.laddr:
                with contextlib.suppress(psutil.Error):
                    found.append((conn.laddr.ip, conn.laddr.port, pids[conn.pid].name()))
        return found


def _loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback


def _end_processes_under(temp: Path) -> None:
    """Kill this cluster's processes (never `ray stop`, which ends every Ray on the machine)."""
    mine = []
    for proc in psutil.process_iter(["cmdline"]):
        if any(str(temp) in arg for arg in proc.info["cmdline"] or []):
            mine.append(proc)
            with contextlib.suppress(psutil.Error):
                mine += proc.children(recursive=True)
    for proc in mine:
        with contextlib.suppress(psutil.Error):
            proc.kill()
    psutil.wait_procs(mine, timeout=10)


@pytest.fixture
def fake_cluster() -> Iterator[FakeCluster]:
    temp = Path(tempfile.mkdtemp(prefix="nsas-", dir="/tmp"))
    (temp / "ray").mkdir()
    port = _free_port()
    config = temp / "autoscaling.json"
    config.write_text(json.dumps(_config(port)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_worker_niceness": "0",
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN": secrets.token_hex(32),
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",  # one machine: every node at 127.0.0.1
        "RAY_TMPDIR": str(temp),  # Ray's address file, away from /tmp/ray
    }
    head_env = env | {"RAY_FAKE_CLUSTER": "1", "AUTOSCALER_UPDATE_INTERVAL_S": "1"}
    try:
        subprocess.run(  # noqa: S603 - Ray's own command
            [
                RAY, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}",
                f"--autoscaling-config={config}", "--num-cpus=1",
                '--resources={"call_slot": 0}', f"--temp-dir={temp}",
                "--include-dashboard=false", "--disable-usage-stats",
            ],
            env=head_env, check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        yield FakeCluster(temp, f"127.0.0.1:{port}", env)
    finally:
        _end_processes_under(temp)


def test_calls_needing_call_slots_add_a_node_and_an_idle_one_goes(
    fake_cluster: FakeCluster, pg_urls: PgUrls, tmp_path: Path
) -> None:
    assert [address for address, _ in fake_cluster.raylets()] == ["127.0.0.1"]  # the head
    http_port = _free_port()
    engine_env = fake_cluster.env | {
        "RAY_ADDRESS": fake_cluster.gcs,
        "DATABASE_URL": pg_urls.owner,
        "NEUROSPHERE_APP_DATABASE_URL": pg_urls.app,
        "NEUROSPHERE_DATA_DIR": str(tmp_path / "engine"),
        "NEUROSPHERE_HTTP_PORT": str(http_port),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{http_port}",
        "MEDIA_PUBLIC_URL": "ws://{host}:{port}/stream/{call_sid}",
        "NEUROSPHERE_MEDIA_PORTS": env_range(AUTOSCALING_MEDIA),
        "NEUROSPHERE_WARM_CALLS": "2",
        "NEUROSPHERE_CALLS_PER_ACTOR": "1",  # the node type has 4 call slots
        "NEUROSPHERE_MEMORY_ACTORS": "1",
    }
    log = (tmp_path / "engine.log").open("wb")
    began = time.monotonic()
    engine = subprocess.Popen(  # noqa: S603 - the engine's own command
        [NEUROSPHERE, "serve", "--no-dashboard"], env=engine_env, stdout=log, stderr=log
    )
    added_s: float | None = None
    try:
        runtime = tmp_path / "engine" / "runtime.json"  # written once `serve` is all up
        while added_s is None or not runtime.exists():
            assert engine.poll() is None, (tmp_path / "engine.log").read_text()[-4000:]
            assert time.monotonic() - began < 240, (tmp_path / "engine.log").read_text()[-4000:]
            nodes = fake_cluster.raylets()
            asked = fake_cluster.pool_started()
            if added_s is None and len(nodes) == 2 and asked is not None:
                added_s = nodes[1][1] - asked  # the call node's raylet, after the pool asked
            time.sleep(0.5)
        nodes = fake_cluster.raylets()
        assert [address for address, _ in nodes] == ["127.0.0.1", "127.0.0.1"], nodes
        health = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=10).json()
        assert health["status"] == "ok", health
        assert "warm=2" in str(health["checks"]["call_pool"]), health  # on the added node
        exposed = [entry for entry in fake_cluster.listeners() if not _loopback(entry[0])]
        assert exposed == [], exposed
    finally:
        engine.send_signal(signal.SIGINT)
        try:
            engine.wait(60)
        except subprocess.TimeoutExpired:
            engine.kill()
        log.close()
    stopped = time.monotonic()
    while len(fake_cluster.raylets()) > 1:  # the call node idles once the engine's actors go
        assert time.monotonic() - stopped < 120, fake_cluster.raylets()
        time.sleep(0.5)
    removed_s = time.monotonic() - stopped
    print(
        f"autoscaler: call node started {added_s:.1f} s after the call pool (asking for call "
        f"slots) did; removed {removed_s:.1f} s after the engine stopped "
        f"(idle timeout {IDLE_TIMEOUT_MIN * 60:.0f} s)"
    )
