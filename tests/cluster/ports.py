"""The fixed loopback ports of the cluster and container tests, in one place so that no two
overlap: a call actor binds a random free port of its engine's media range, so an engine that
lives the whole session (conftest's) must never share a port with what another test binds or
publishes (test_port_ranges checks it)."""

from __future__ import annotations

SESSION_ENGINE_MEDIA = (24000, 24399)
IMAGE_HTTP = (24480, 24480)
IMAGE_MEDIA = (24490, 24499)
LOOPBACK_MEDIA = (24600, 24639)
COMPOSE_HTTPS = (24643, 24643)
COMPOSE_HTTP = (24680, 24680)
MULTINODE_MEDIA = (24700, 24799)
AUTOSCALING_MEDIA = (24800, 24899)

RANGES = {name: value for name, value in globals().items() if name.isupper() and name != "RANGES"}


def env_range(ports: tuple[int, int]) -> str:
    """NEUROSPHERE_MEDIA_PORTS's form of `ports`."""
    return f"{ports[0]}-{ports[1]}"
