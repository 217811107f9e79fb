"""cluster.yaml, checked the way `ray up` checks it (Ray's own defaults and schema), and
against what the engine needs from it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from ray.autoscaler._private.util import prepare_config, validate_config

from actors import ray_runtime

ROOT = Path(__file__).resolve().parents[2]


def _config() -> dict[str, Any]:
    raw: dict[str, Any] = yaml.safe_load((ROOT / "cluster.yaml").read_text())
    config: dict[str, Any] = prepare_config(raw)
    validate_config(config)
    return config


def test_ray_accepts_the_cluster_config() -> None:
    config = _config()
    assert config["cluster_name"] == "neurosphere-voice"
    assert all(isinstance(c, str) for c in config["worker_start_ray_commands"])


def test_it_names_the_image_and_starts_the_engine_on_the_head() -> None:
    config = _config()
    image = config["docker"]["image"]
    registry, _, name = image.rpartition("/")
    assert registry, image  # pullable: registry/name:tag
    assert ":" in name, image
    head = " ".join(config["head_start_ray_commands"])
    assert "ray start --head" in head
    assert "neurosphere serve" in head
    assert "RAY_ADDRESS=auto" in head


def test_only_workers_carry_calls() -> None:
    types = _config()["available_node_types"]
    assert types["head"]["resources"]["call_slot"] == 0
    assert types["calls"]["resources"]["call_slot"] > 0
    assert types["calls"]["max_workers"] > types["calls"]["min_workers"]  # room to scale


def test_workers_get_the_auth_token_and_the_env() -> None:
    config = _config()
    mounts = config["file_mounts"]
    assert mounts["~/.ray/auth_token"] == "~/.ray/auth_token"
    assert "~/neurosphere.env" in mounts
    for command in config["worker_start_ray_commands"][1:]:
        assert "RAY_AUTH_MODE=token" in command
        assert ". ~/neurosphere.env" in command
    for source in mounts.values():  # what the repository ships exists
        if source.startswith("./deploy/") and not source.endswith(".env"):
            assert (ROOT / source).is_file(), source


def test_only_https_faces_the_internet() -> None:
    group = _config()["provider"]["security_group"]
    public = {
        (rule["FromPort"], rule["ToPort"])
        for rule in group["IpPermissions"]
        if any(r["CidrIp"] == "0.0.0.0/0" for r in rule.get("IpRanges", []))
    }
    assert public == {(443, 443), (80, 80)}


def test_the_head_runs_serves_controller_loop_at_the_engines_period() -> None:
    """The Serve controller lives on the head and reads its loop period from the environment
    `ray start` gave it (the local Ray gets the same from actors.ray_runtime)."""
    head = [c for c in _config()["head_start_ray_commands"] if "ray start --head" in c]
    assert len(head) == 1
    setting = f"RAY_SERVE_CONTROL_LOOP_INTERVAL_S={ray_runtime.SERVE_CONTROL_LOOP_S}"
    assert setting in head[0].split("ray start")[0]


def test_every_node_runs_ray_without_its_event_loop_timing() -> None:
    """Ray's per-handler event timing is off on every node, as in the local Ray
    (actors.ray_runtime): each Ray process paid for it on every wake-up of its event loops."""
    config = _config()
    starts = [
        c
        for c in config["head_start_ray_commands"] + config["worker_start_ray_commands"]
        if "ray start" in c
    ]
    assert len(starts) == 2
    for command in starts:
        assert f"RAY_event_stats={ray_runtime.EVENT_STATS}" in command.split("ray start")[0]
