"""The TLS proxy configurations in deploy/ forward no operator-only path (/metrics, the API
docs) to the engine, before any rule that would."""

from __future__ import annotations

from pathlib import Path

import pytest

from admin_api.internal_only import INTERNAL_PATHS, INTERNAL_PREFIXES

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


@pytest.mark.parametrize("name", ["Caddyfile", "Caddyfile.cluster"])
def test_the_proxy_answers_internal_paths_itself(name: str) -> None:
    text = (DEPLOY / name).read_text()
    internal = next(line for line in text.splitlines() if line.strip().startswith("@internal"))
    paths = internal.split()[2:]
    for path in (*INTERNAL_PATHS, *INTERNAL_PREFIXES):
        assert path in paths, path
    assert "/api/v1/docs/*" in paths
    assert text.index("handle @internal") < text.index("handle @engine")
    block = text[text.index("handle @internal") :].split("}", 1)[0]
    assert "respond 404" in block
    assert "reverse_proxy" not in block
