"""What the engine serves only to its operators: /metrics and the admin API's docs (the Swagger
page, its assets and the OpenAPI document). An ASGI wrapper around the ingress app; no I/O.

Such a request is served when it comes from the engine's own host through no proxy (a loopback
peer and no forwarding header: Prometheus on the host, or an SSH tunnel), or when it carries
`Authorization: Bearer <NEUROSPHERE_OPS_TOKEN>` (Prometheus elsewhere). Anything else gets the
404 of a path that does not exist, so the internet learns nothing of them. The TLS proxy in
deploy/ does not forward these paths either.
"""

from __future__ import annotations

import hmac
import ipaddress

from starlette.types import ASGIApp, Receive, Scope, Send

INTERNAL_PATHS = ("/metrics",)
INTERNAL_PREFIXES = ("/api/v1/docs", "/api/v1/openapi.json")
FORWARDING_HEADERS = frozenset({b"forwarded", b"x-forwarded-for", b"x-real-ip"})


def internal(path: str) -> bool:
    return path in INTERNAL_PATHS or path.startswith(INTERNAL_PREFIXES)


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class InternalOnly:
    def __init__(self, app: ASGIApp, ops_token: str | None) -> None:
        self._app = app
        self._token = f"Bearer {ops_token}".encode() if ops_token else None

    def allowed(self, scope: Scope) -> bool:
        headers = dict(scope.get("headers") or ())
        if self._token is not None and hmac.compare_digest(
            headers.get(b"authorization", b""), self._token
        ):
            return True
        client = scope.get("client")
        if client is None or not _loopback(client[0]):
            return False
        return not any(name in FORWARDING_HEADERS for name, _ in scope.get("headers") or ())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and internal(scope["path"]) and not self.allowed(scope):
            await send(
                {
                    "type": "http.response.start",
                    "status": 404,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send({"type": "http.response.body", "body": b'{"detail":"Not Found"}'})
            return
        await self._app(scope, receive, send)
