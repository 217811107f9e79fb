"""The guides in docs/ point nowhere outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


@pytest.mark.parametrize("name", ["operators.md", "developers.md"])
def test_guide_links_stay_inside_the_repository(name: str) -> None:
    text = (DOCS / name).read_text()
    assert re.findall(r"https?://[^\s)`]+", text) == []
    for target in re.findall(r"\]\(([^)]+)\)", text):
        assert (DOCS / target).exists(), target
