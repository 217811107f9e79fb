"""Loading of the packaged template files under ``prompts/templates/``.

The only I/O in the ``prompts`` package: each file is read once through
``importlib.resources`` and cached for the life of the process.

Sectioned files hold several named texts. A section starts with a header line
``=== name ===`` and runs until the next header; leading and trailing blank lines of a
section are dropped. Lines before the first header are a comment for the human reader.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from importlib import resources
from types import MappingProxyType

_HEADER = re.compile(r"^=== (?P<name>[A-Za-z0-9_.]+) ===$")


@functools.cache
def template_text(filename: str) -> str:
    """Return the text of ``prompts/templates/<filename>``, read once."""
    return resources.files("prompts").joinpath("templates", filename).read_text(encoding="utf-8")


@functools.cache
def template_sections(filename: str) -> Mapping[str, str]:
    """Return the named sections of a sectioned template file, in file order."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in template_text(filename).splitlines():
        match = _HEADER.match(line.rstrip())
        if match is not None:
            name = match.group("name")
            if name in sections:
                raise RuntimeError(f"template {filename}: duplicate section {name!r}")
            current = sections[name] = []
        elif current is not None:
            current.append(line.rstrip())
    return MappingProxyType(
        {name: "\n".join(lines).strip("\n") for name, lines in sections.items()}
    )
