"""Reading Twilio's form-encoded webhook bodies safely, and the public URL they were signed over.

Bodies are bounded (a real Twilio webhook is a few KB); the URL is rebuilt from the configured
PUBLIC_BASE_URL, never from the Host header of an untrusted client. A field holding a NUL or
a percent-encoded byte sequence that is not UTF-8 (a lone surrogate, say) is refused with 400
here, before any lookup: Postgres cannot store either, and no real Twilio field carries one.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from fastapi import HTTPException, Request

MAX_FORM_BYTES = 32 * 1024


async def read_form(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise HTTPException(413, f"request body over {MAX_FORM_BYTES} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise HTTPException(413, f"request body over {MAX_FORM_BYTES} bytes")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise HTTPException(400, "body must be application/x-www-form-urlencoded") from None
    if any("\x00" in key or "\x00" in value for key, value in pairs):
        raise HTTPException(400, "a form field holds a NUL character")
    return dict(pairs)


def public_url(base: str, request: Request) -> str:
    """The URL Twilio called: configured scheme/host/prefix + this path + the raw query."""
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")
