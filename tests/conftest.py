"""Test-wide hygiene: a developer's environment never leaks into tests."""

from __future__ import annotations

import os

import pytest

_LEAKY_PREFIXES = ("NEUROSPHERE_", "OPENAI_", "TWILIO_", "ELEVENLABS_", "PUBLIC_BASE_URL", "MEDIA_PUBLIC_URL")


@pytest.fixture(autouse=True, scope="session")
def _clean_environment() -> None:
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES) or key in ("DATABASE_URL", "RAY_ADDRESS"):
            del os.environ[key]
