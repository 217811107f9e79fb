"""The shipped OpenAI HTTP simulator, driven by the real `openai` SDK: schema-valid JSON
answers, embeddings in both encodings, key checks, OpenAI-shaped errors, queued failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest
from openai import AsyncOpenAI

from engine.sim.openai_http import OpenAIHttpSimulator
from memory.extraction import POST_CALL_SCHEMA, POST_CALL_SCHEMA_NAME
from memory.llm import LlmError, OpenAIJsonLlm

KEY = "sk-sim-test"
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "preferred_name": {"type": ["string", "null"]},
        "sentiment": {"type": "string", "enum": ["positive", "neutral", "negative", "mixed"]},
    },
    "required": ["preferred_name", "sentiment"],
    "additionalProperties": False,
}


@pytest.fixture
async def sim() -> AsyncIterator[OpenAIHttpSimulator]:
    async with OpenAIHttpSimulator(api_keys={KEY}) as server:
        yield server


@pytest.fixture
async def client(sim: OpenAIHttpSimulator) -> AsyncIterator[AsyncOpenAI]:
    async with AsyncOpenAI(api_key=KEY, base_url=sim.base_url, max_retries=0) as c:
        yield c


async def ask(client: AsyncOpenAI, text: str, schema: dict[str, Any], strict: bool = True) -> Any:
    response = await client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "system", "content": "Extract."}, {"role": "user", "content": text}],
        response_format={
            "type": "json_schema",
            "json_schema": {"name": "probe", "schema": schema, "strict": strict},
        },
    )
    assert response.choices[0].finish_reason == "stop"
    return json.loads(response.choices[0].message.content or "")


async def test_json_schema_answers_follow_the_request_schema(client: AsyncOpenAI) -> None:
    said = "Caller: Hi, my name is Priya. Thanks, that's perfect."
    assert await ask(client, said, SCHEMA) == {"preferred_name": "Priya", "sentiment": "positive"}
    assert await ask(client, "Caller: hello", SCHEMA) == {
        "preferred_name": None,
        "sentiment": "neutral",
    }


async def test_post_call_analysis_through_the_engine_client(client: AsyncOpenAI) -> None:
    llm = OpenAIJsonLlm(client, "gpt-4o-mini")
    data = await llm.complete_json(
        instructions="Analyse.",
        content="Caller: My husband Omar crashed our 2021 Toyota Camry. Claim 77-1234-X.",
        schema_name=POST_CALL_SCHEMA_NAME,
        schema=POST_CALL_SCHEMA,
    )
    variables = data["key_variables"]
    assert variables["people"] == [{"name": "Omar", "relationship": "husband"}]
    assert variables["vehicles"][0]["model"] == "Camry"
    assert variables["claims"][0]["claim_number"] == "77-1234-X"


async def test_strict_schemas_are_checked_like_openai(client: AsyncOpenAI) -> None:
    loose = {"type": "object", "properties": {"a": {"type": "string"}}}
    with pytest.raises(openai.BadRequestError, match="additionalProperties"):
        await ask(client, "Caller: hi", loose)
    assert await ask(client, "Caller: hi", loose, strict=False) == {}


async def test_bad_requests_get_openai_errors(
    client: AsyncOpenAI, sim: OpenAIHttpSimulator
) -> None:
    with pytest.raises(openai.BadRequestError, match="messages"):
        await client.chat.completions.create(model="gpt-4o-mini", messages=[])
    with pytest.raises(openai.BadRequestError, match="input"):
        await client.embeddings.create(model="text-embedding-3-small", input="")
    with pytest.raises(openai.BadRequestError, match="dimensions"):
        await client.embeddings.create(model="text-embedding-3-small", input="x", dimensions=4096)
    with pytest.raises(openai.BadRequestError, match="does not exist"):
        await client.embeddings.create(model="no-such-model", input="x")
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5) as http:
        headers = {"Authorization": f"Bearer {KEY}"}
        broken = await http.post("/chat/completions", content=b"{nope", headers=headers)
        assert broken.status_code == 400
        assert broken.json()["error"]["type"] == "invalid_request_error"
        missing = await http.get("/models", headers=headers)
        assert missing.status_code == 404


async def test_keys_are_checked(sim: OpenAIHttpSimulator) -> None:
    async with AsyncOpenAI(api_key="sk-wrong", base_url=sim.base_url, max_retries=0) as wrong:
        with pytest.raises(openai.AuthenticationError):
            await wrong.embeddings.create(model="text-embedding-3-small", input="x")
    async with httpx.AsyncClient(base_url=sim.base_url, timeout=5) as http:
        anonymous = await http.post("/embeddings", json={"model": "text-embedding-3-small"})
        assert anonymous.status_code == 401
    assert sim.count("/v1/embeddings") == 0


async def test_embeddings_in_both_encodings(client: AsyncOpenAI) -> None:
    texts = ["my wife Sarah", "2019 Honda Civic"]
    as_base64 = await client.embeddings.create(
        model="text-embedding-3-small", input=texts, dimensions=384
    )  # the SDK asks for base64 and decodes it
    as_float = await client.embeddings.create(
        model="text-embedding-3-small", input=texts, dimensions=384, encoding_format="float"
    )
    assert [d.index for d in as_base64.data] == [0, 1]
    for a, b in zip(as_base64.data, as_float.data, strict=True):
        assert len(a.embedding) == 384
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    full = await client.embeddings.create(model="text-embedding-3-small", input="x")
    assert len(full.data[0].embedding) == 1536


async def test_queued_failures_map_to_retryable_errors(
    client: AsyncOpenAI, sim: OpenAIHttpSimulator
) -> None:
    llm = OpenAIJsonLlm(client, "gpt-4o-mini")
    for status, retryable in ((429, True), (503, True), (401, False), (400, False)):
        sim.fail_next(status)
        with pytest.raises(LlmError) as caught:
            await llm.complete_json(
                instructions="x", content="Caller: hi", schema_name="probe", schema=SCHEMA
            )
        assert caught.value.retryable is retryable, status
    assert await llm.complete_json(
        instructions="x", content="Caller: hi", schema_name="probe", schema=SCHEMA
    ) == {"preferred_name": None, "sentiment": "neutral"}


def test_the_simulator_runs_in_a_thread_for_the_driver() -> None:
    from openai import OpenAI

    from engine.sim.openai_http import OpenAIHttpSimulatorThread

    thread = OpenAIHttpSimulatorThread(api_keys={KEY})
    base_url = thread.start()
    try:
        with OpenAI(api_key=KEY, base_url=base_url, max_retries=0) as sync_client:
            response = sync_client.embeddings.create(
                model="text-embedding-3-small", input="hello", dimensions=8
            )
        assert len(response.data[0].embedding) == 8
    finally:
        thread.stop()
