"""Which WebSocket handshakes the Realtime simulator refuses, and the HTTP error it sends.

Pure decisions plus building the refusal (no socket I/O here): an unknown path is a 404, a
failure queued on purpose (`RealtimeSimulator.fail_next_session`) comes next, then a missing or
wrong bearer key (401) and a missing `model` (400), each with the OpenAI error body.
"""

from __future__ import annotations

from collections import deque
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

import structlog
from picows.websockets import Request, Response, ServerHandshakeConnection

from engine.sim.ws_server import json_response

log = structlog.get_logger("engine.sim.realtime")

REALTIME_PATH = "/v1/realtime"
CONTROL_PATH = "/control"

_FAILURES = {
    401: ("Incorrect API key provided.", "invalid_api_key", "invalid_request_error"),
    403: (
        "You are not allowed to access this resource.",
        "unsupported_country_region_territory",
        "invalid_request_error",
    ),
    429: ("Rate limit reached for requests.", "rate_limit_exceeded", "requests"),
    500: ("The server had an error while processing your request.", None, "server_error"),
    503: ("The engine is currently overloaded, please try again later.", None, "server_error"),
}


def _json_response(
    connection: ServerHandshakeConnection,
    status: int,
    message: str,
    code: str | None,
    error_type: str = "invalid_request_error",
) -> Response:
    body = {"error": {"message": message, "type": error_type, "param": None, "code": code}}
    return json_response(connection, status, body)


def refusal(
    connection: ServerHandshakeConnection,
    request: Request,
    failures: deque[int],
    api_keys: set[str] | None,
) -> Response | None:
    """The response refusing this handshake, or None to accept it (pops a queued failure)."""
    url = urlsplit(request.path)
    if url.path == CONTROL_PATH:
        return None
    if url.path != REALTIME_PATH:
        return _json_response(connection, 404, f"Invalid URL (GET {url.path})", None)
    if failures:
        status = failures.popleft()
        message, code, kind = _FAILURES.get(
            status, (HTTPStatus(status).phrase, None, "invalid_request_error")
        )
        log.info("sim_handshake_failed_on_purpose", status=status)
        return _json_response(connection, status, message, code, kind)
    auth = request.headers.get("Authorization", "")
    key = auth[7:].strip() if auth.startswith("Bearer ") else ""
    if not key or (api_keys is not None and key not in api_keys):
        masked = f"{key[:3]}***{key[-4:]}" if len(key) > 8 else "***"
        log.info("sim_handshake_unauthorized")
        return _json_response(
            connection,
            401,
            f"Incorrect API key provided: {masked}. You can find your API "
            "key at https://platform.openai.com/account/api-keys.",
            "invalid_api_key",
        )
    if not parse_qs(url.query).get("model", [""])[0]:
        return _json_response(
            connection,
            400,
            "Missing required parameter: 'model'.",
            "missing_required_parameter",
        )
    return None
