"""Unit tests are pure: starting Ray here is a bug."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _refuse_ray(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    try:
        import ray
    except ImportError:  # pragma: no cover - ray is a hard dependency
        yield
        return

    def _no_ray(*args: object, **kwargs: object) -> None:
        raise RuntimeError("unit tests must not start Ray; move this test to tests/cluster")

    monkeypatch.setattr(ray, "init", _no_ray)
    yield
