"""Which providers a memory actor uses, from its frozen config; retry backoff."""

from __future__ import annotations

from dataclasses import replace

import pytest

from engine.config import EngineConfig
from memory.embeddings import as_vector, resolve_provider
from memory.llm import llm_api_key, llm_base_url, llm_configured
from memory.post_call import MAX_BACKOFF_S, backoff_s

BASE = EngineConfig(app_database_url="postgresql://x", jwt_secret="s" * 40)


def test_auto_embeddings_use_the_api_when_there_is_a_key_else_the_local_model() -> None:
    keyed = replace(BASE, openai_api_key="sk-real")
    assert resolve_provider(keyed, local_available=True) == "openai"
    assert resolve_provider(BASE, local_available=True) == "local"
    assert resolve_provider(BASE, local_available=False) == "openai"  # the offline simulator
    assert resolve_provider(replace(keyed, embedding_provider="local"), local_available=True) == (
        "local"
    )


def test_llm_endpoint_defaults_to_the_openai_settings() -> None:
    assert not llm_configured(BASE)
    keyed = replace(BASE, openai_api_key="sk-real", openai_base_url="https://proxy.example/v1")
    assert (llm_base_url(keyed), llm_api_key(keyed)) == ("https://proxy.example/v1", "sk-real")
    offline = replace(BASE, llm_base_url="http://127.0.0.1:9/v1", llm_api_key="sk-sim")
    assert llm_configured(offline)
    assert llm_base_url(offline) == "http://127.0.0.1:9/v1"
    assert "sk-sim" not in repr(offline)


@pytest.mark.parametrize("attempts", [1, 2, 5, 30])
def test_backoff_doubles_with_jitter_and_is_capped(attempts: int) -> None:
    expected = min(5.0 * 2 ** (attempts - 1), MAX_BACKOFF_S)
    for _ in range(20):
        assert 0.8 * expected <= backoff_s(attempts, 5.0) <= 1.2 * expected


def test_as_vector_is_the_binary_codec_s_float32_form() -> None:
    vector = as_vector([0.5, -1.0, 1e-9])
    assert vector.to_list() == pytest.approx([0.5, -1.0, 1e-9], rel=1e-6)
    assert len(vector.to_binary()) == 4 + 3 * 4  # dimensions, unused, then float32s
