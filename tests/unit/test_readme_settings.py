"""The README's environment table lists every variable the settings read, and nothing else."""

from __future__ import annotations

import re
from pathlib import Path

from engine.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting() -> None:
    rows = re.findall(r"^\| `([A-Z][A-Z0-9_]+)` \|", README.read_text(), flags=re.MULTILINE)
    aliases = [field.alias for field in Settings.model_fields.values()]
    assert len(rows) == len(set(rows)), "a variable is listed twice"
    assert sorted(rows) == sorted(str(a) for a in aliases)
