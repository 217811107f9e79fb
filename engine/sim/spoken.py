"""Real speech audio for the simulators and tests: text spoken by `espeak-ng`, and a cough-like
noise burst made by `sox`, as 8 kHz G.711 mu-law - what a phone line carries. I/O: runs those
two programs (Debian packages `espeak-ng` and `sox`) in a subprocess; results are cached per
argument, so a test or a simulator pays once per phrase.

Blocking (tens of ms per phrase): call from a thread (`asyncio.to_thread`) inside an event loop.
"""

from __future__ import annotations

import shutil
import subprocess
from functools import lru_cache

TIMEOUT_S = 20.0
LANG_VOICES = {"en": "en-us", "es": "es-419"}


class SpeechToolMissing(RuntimeError):
    """espeak-ng or sox is not installed."""


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise SpeechToolMissing(f"{name} is not installed (apt-get install -y espeak-ng sox)")
    return path


def _to_ulaw(wav: bytes, *effects: str) -> bytes:
    done = subprocess.run(  # noqa: S603 - fixed program, arguments built here
        [_tool("sox"), "-t", "wav", "-", "-r", "8000", "-c", "1", "-e", "mu-law", "-t", "raw", "-",
         *effects],
        input=wav,
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
    )  # fmt: skip
    return done.stdout


@lru_cache(maxsize=256)
def speak(text: str, lang: str = "en", words_per_minute: int = 175) -> bytes:
    """`text` spoken by espeak-ng as 8 kHz mu-law (no header)."""
    if not text.strip():
        return b""
    voice = LANG_VOICES.get(lang, lang)
    done = subprocess.run(  # noqa: S603 - fixed program; the text goes in on stdin
        [_tool("espeak-ng"), "-v", voice, "-s", str(words_per_minute), "--stdout"],
        input=text.encode(),
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
    )
    return _to_ulaw(done.stdout)


@lru_cache(maxsize=16)
def cough(ms: int = 180) -> bytes:
    """A cough-like burst: pink noise, sharp attack, quick decay, as 8 kHz mu-law."""
    seconds = f"{ms / 1000:.3f}"
    done = subprocess.run(  # noqa: S603 - fixed program and arguments
        [_tool("sox"), "-n", "-r", "8000", "-c", "1", "-t", "wav", "-", "synth", seconds,
         "pinknoise", "fade", "q", "0.01", seconds, f"{ms * 0.6 / 1000:.3f}", "gain", "-3"],
        capture_output=True,
        timeout=TIMEOUT_S,
        check=True,
    )  # fmt: skip
    return _to_ulaw(done.stdout)
