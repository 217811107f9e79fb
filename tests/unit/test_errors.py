"""One rule for which provider HTTP statuses retry (engine.errors), and the two deliberate
exceptions to it, each named where it applies: OpenAI's 409 and a Twilio recording's 404."""

from __future__ import annotations

import httpx2
import openai
import pytest

from actors.twilio_recordings import NOT_YET_AVAILABLE, DownloadError
from actors.twilio_rest import CallControlError
from engine.errors import RetryableError, status_retryable
from engine.realtime_client import RealtimeError
from memory.embeddings import EmbeddingError
from memory.llm import LlmError, provider_error
from memory.post_call import CallInProgress


@pytest.mark.parametrize(
    ("status", "retryable"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (409, False),
        (422, False),
        (408, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (301, True),
    ],
)
def test_a_provider_4xx_is_final_except_408_and_429(status: int, retryable: bool) -> None:
    assert status_retryable(status) is retryable


def test_a_deliberate_exception_adds_only_its_own_statuses() -> None:
    assert status_retryable(404, also=NOT_YET_AVAILABLE)
    assert not status_retryable(403, also=NOT_YET_AVAILABLE)
    assert not status_retryable(409, also=NOT_YET_AVAILABLE)


def _openai_status(status: int) -> openai.APIStatusError:
    request = httpx2.Request("POST", "http://127.0.0.1:9/v1/chat/completions")
    return openai.APIStatusError(
        "refused", response=httpx2.Response(status, request=request), body=None
    )


@pytest.mark.parametrize(
    ("status", "retryable"), [(400, False), (401, False), (409, True), (429, True), (500, True)]
)
def test_openai_answers_follow_the_rule_plus_409(status: int, retryable: bool) -> None:
    # OpenAI's SDK retries a 409 (a request that conflicted with another in flight) itself.
    assert provider_error(_openai_status(status)).retryable is retryable


def test_every_error_that_says_retryable_is_one_type() -> None:
    errors: list[RetryableError] = [
        LlmError("x", retryable=False),
        EmbeddingError("x", retryable=True),
        CallControlError("x", retryable=False),
        DownloadError("x", retryable=True),
        RealtimeError("x", retryable=False, status=401),
        CallInProgress(),
    ]
    assert [e.retryable for e in errors] == [False, True, False, True, False, True]
    assert all(isinstance(e, RetryableError) for e in errors)
