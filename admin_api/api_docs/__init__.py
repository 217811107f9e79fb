"""The admin API's interactive docs at /api/v1/docs: Swagger UI served from files shipped in
the package (swagger-ui-dist 5.35.0 under static/vendor, Apache-2.0), so the page works with
no internet access. I/O: reads its packaged static files once, at import.

The page is a static file plus one script of ours (no inline script: a CSP allows only this
host). Only operators reach it (admin_api.internal_only). Its "Authorize" dialog signs in with
the OAuth2 password flow against POST /api/v1/auth/token (`add_password_flow` puts the flow in
the OpenAPI document) or takes a pasted access token.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI, HTTPException, Response

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; connect-src 'self'; img-src 'self' data:; "
    "style-src 'self' 'unsafe-inline'; font-src 'self' data:; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
_TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html; charset=utf-8",
    ".png": "image/png",
}
_FILES: dict[str, bytes] = {
    str(p.relative_to(STATIC)): p.read_bytes()
    for p in STATIC.rglob("*")
    if p.is_file() and p.suffix in _TYPES
}
PASSWORD_FLOW = "PasswordFlow"  # noqa: S105 - an OpenAPI security scheme name
BEARER = "HTTPBearer"

router = APIRouter(include_in_schema=False)


def _file(name: str, cache: str) -> Response:
    body = _FILES.get(name)
    if body is None:
        raise HTTPException(404, "not found")
    headers = {"content-security-policy": CSP, "cache-control": cache}
    return Response(body, media_type=_TYPES[Path(name).suffix], headers=headers)


@router.get("/docs")
async def docs_page() -> Response:
    return _file("index.html", "no-store")


@router.get("/docs/static/{name:path}")
async def docs_static(name: str) -> Response:
    return _file(name, "public, max-age=3600")


def add_password_flow(api: FastAPI, token_url: str) -> None:
    """Every operation that takes a bearer token also accepts one from the OAuth2 password
    flow at `token_url` (the same token; Swagger UI then asks for email and password)."""
    build: Callable[[], dict[str, Any]] = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = build()
        schema["components"]["securitySchemes"][PASSWORD_FLOW] = {
            "type": "oauth2",
            "description": "Email (as username) and password; the same access token as "
            "POST /auth/login gives.",
            "flows": {"password": {"tokenUrl": token_url, "scopes": {}}},
        }
        for operations in schema["paths"].values():
            for operation in operations.values():
                security = operation.get("security", [])
                if {BEARER: []} in security:
                    security.append({PASSWORD_FLOW: []})
        return schema

    api.openapi = openapi  # type: ignore[method-assign]
