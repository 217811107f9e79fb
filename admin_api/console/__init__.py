"""The agency console: a single-page web app on the public admin API, served at /console by
the same ingress as /api/v1. I/O: reads its packaged static files once, at import.

The page is static (built-in files, no build step: Preact + htm from npm's `htm` 3.1.1, shipped
as one ES module under static/vendor); everything it shows comes from /api/v1 with the signed-in
user's token, so it can do nothing the API forbids. Tokens live only in the page's memory
(never in storage or cookies): a reload asks to sign in again, and an expired session opens the
sign-in dialog over the page without unmounting it, so nothing typed is lost.

Headers: a CSP with no inline script or style and `frame-ancestors 'none'`, nosniff, no
referrer; the page itself is not cached, the static files for an hour.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Response

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
_TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html; charset=utf-8"}
_FILES: dict[str, bytes] = {
    str(p.relative_to(STATIC)): p.read_bytes()
    for p in STATIC.rglob("*")
    if p.is_file() and p.suffix in _TYPES
}
_HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
}

router = APIRouter(include_in_schema=False)


def _file(name: str, cache: str) -> Response:
    body = _FILES.get(name)
    if body is None:
        raise HTTPException(404, "not found")
    headers = {**_HEADERS, "cache-control": cache}
    return Response(body, media_type=_TYPES[Path(name).suffix], headers=headers)


@router.get("/console")
@router.get("/console/")
async def console_page() -> Response:
    return _file("index.html", "no-store")


@router.get("/console/static/{name:path}")
async def console_static(name: str) -> Response:
    return _file(name, "public, max-age=3600")
