"""Structured LLM answers over HTTP, through the official `openai` SDK. I/O: HTTPS.

`OpenAIJsonLlm.complete_json` asks a chat completion for JSON that follows a JSON schema
(`response_format={"type": "json_schema", ...}`, strict) and checks the answer against that
same schema before anyone trusts it. Errors carry `retryable` (engine.errors' rule, plus 409);
timeouts, connection errors, 5xx and malformed answers are worth retrying.

The SDK is imported here, in the memory actors, never in call actors (it costs ~20 MB each).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, Protocol

import jsonschema

from engine.config import EngineConfig
from engine.errors import RetryableError, status_retryable

if TYPE_CHECKING:
    from openai import AsyncOpenAI

REQUEST_TIMEOUT_S = 60.0
# OpenAI answers 409 to a request that conflicted with another in flight; the SDK's own retry
# rule retries it, and so do we.
OPENAI_CONFLICT = frozenset({409})


class LlmError(RetryableError):
    """The provider failed or answered something unusable."""


class JsonLlm(Protocol):
    async def complete_json(
        self, *, instructions: str, content: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]: ...


def llm_base_url(config: EngineConfig) -> str:
    return config.llm_base_url or config.openai_base_url


def llm_api_key(config: EngineConfig) -> str | None:
    return config.llm_api_key or config.openai_api_key


def llm_configured(config: EngineConfig) -> bool:
    """Whether post-call work can reach a model: a key for it (real or the simulator's)."""
    return llm_api_key(config) is not None


def make_client(config: EngineConfig) -> AsyncOpenAI:
    """The SDK client for chat completions and embeddings (`OPENAI_BASE_URL` honoured)."""
    from openai import AsyncOpenAI

    return AsyncOpenAI(
        api_key=llm_api_key(config) or "unset",
        base_url=llm_base_url(config),
        timeout=REQUEST_TIMEOUT_S,
        max_retries=1,
    )


def provider_error(exc: Exception) -> LlmError:
    """An SDK exception as an LlmError with the right `retryable`."""
    import openai

    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        retryable = status_retryable(status, also=OPENAI_CONFLICT)
        return LlmError(f"provider answered {status}", retryable=retryable)
    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return LlmError(f"provider unreachable: {type(exc).__name__}", retryable=True)
    return LlmError(f"provider call failed: {type(exc).__name__}", retryable=True)


class OpenAIJsonLlm:
    """Chat completions with strict JSON-schema output, validated on arrival."""

    def __init__(self, client: AsyncOpenAI, model: str) -> None:
        self._client = client
        self._model = model

    async def complete_json(
        self, *, instructions: str, content: str, schema_name: str, schema: dict[str, Any]
    ) -> dict[str, Any]:
        import openai

        try:
            response = await self._client.chat.completions.create(
                model=self._model,
                messages=[
                    {"role": "system", "content": instructions},
                    {"role": "user", "content": content},
                ],
                response_format={
                    "type": "json_schema",
                    "json_schema": {"name": schema_name, "schema": schema, "strict": True},
                },
            )
        except openai.OpenAIError as exc:
            raise provider_error(exc) from exc
        if not response.choices:
            raise LlmError("no choices in the answer", retryable=True)
        message = response.choices[0].message
        if message.refusal:
            raise LlmError("the model refused", retryable=False)
        if response.choices[0].finish_reason == "length":
            raise LlmError("the answer was cut off", retryable=True)
        try:
            data = json.loads(message.content or "")
        except ValueError:
            raise LlmError("the answer is not JSON", retryable=True) from None
        error = jsonschema.exceptions.best_match(
            jsonschema.Draft202012Validator(schema).iter_errors(data)
        )
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise LlmError(f"the answer breaks its schema at {where}", retryable=True)
        if not isinstance(data, dict):
            raise LlmError("the answer is not an object", retryable=True)
        return data
