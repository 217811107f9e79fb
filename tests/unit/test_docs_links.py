"""The README and every page in docs/ link only to files in the repository: each link, inline,
reference-style or an autolink, names a file that exists and lies inside it. The guides in docs/
name no web address at all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]

INLINE = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
AUTOLINK = re.compile(r"<((?:https?|ftp|mailto):[^>\s]+)>")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def links(text: str) -> list[str]:
    prose = FENCE.sub("", text)  # a code sample is not a link
    prose = re.sub(r"`[^`\n]*`", "", prose)
    return INLINE.findall(prose) + REFERENCE.findall(prose) + AUTOLINK.findall(prose)


def broken(where: Path, text: str) -> list[str]:
    """The links of `text`, a page in folder `where`, that point outside or to nothing."""
    bad = []
    for target in links(text):
        path = target.split("#", 1)[0]
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.IGNORECASE) or target.startswith("//"):
            bad.append(f"{target} (outside the repository)")
        elif path:
            resolved = (where / path).resolve()
            if not resolved.is_relative_to(ROOT):
                bad.append(f"{target} (outside the repository)")
            elif not resolved.exists():
                bad.append(f"{target} (no such file)")
    return bad


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_resolves_inside_the_repository(page: Path) -> None:
    assert broken(page.parent, page.read_text()) == []


@pytest.mark.parametrize("name", ["operators.md", "developers.md"])
def test_the_guides_name_no_web_address(name: str) -> None:
    assert re.findall(r"https?://[^\s)`]+", (DOCS / name).read_text()) == []


def test_a_link_out_or_to_nothing_is_found() -> None:
    text = (
        "[a](https://example.com) [b](../../etc/passwd) [c](missing.md) <https://x.org>\n"
        "[d]: http://example.org\n[e](operators.md#deploy) `[f](https://code.only)`\n"
        "```\n[g](https://fenced.example)\n```\n"
    )
    assert broken(DOCS, text) == [
        "https://example.com (outside the repository)",
        "../../etc/passwd (outside the repository)",
        "missing.md (no such file)",
        "http://example.org (outside the repository)",
        "https://x.org (outside the repository)",
    ]
