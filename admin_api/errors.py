"""Error responses of the admin API: every client mistake is a 4xx with a message that says
what was wrong, and database trouble is a 503, never a bare 500.

Validation errors list each problem's location and message, without echoing the rejected
input (it may be a password). A malformed JSON body is a 400. The data layer's errors
(memory.errors) map to answers: a constraint violation that slips past validation is 409
(`Conflict`: unique, foreign key) or 422 (`Rejected`: check, bad data); a database that is
stopped, unreachable, overloaded or slow (`Unavailable`) is a 503 with Retry-After.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from memory.errors import Conflict, Rejected, Unavailable

log = structlog.get_logger(__name__)


def _location(loc: tuple[object, ...]) -> str:
    return ".".join(str(part) for part in loc)


async def _validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse({"detail": "request body is not valid JSON"}, status_code=400)
    problems = [
        {
            "loc": [str(p) for p in e.get("loc", ())],
            "msg": str(e.get("msg", "invalid")),
            "type": str(e.get("type", "value_error")),
        }
        for e in errors
    ]
    summary = "; ".join(f"{_location(tuple(p['loc']))}: {p['msg']}" for p in problems[:5])
    return JSONResponse(
        jsonable_encoder({"detail": summary or "invalid request", "errors": problems}),
        status_code=422,
    )


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "conflicts with existing data"}, status_code=409)


async def _rejected(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "value not accepted by the database"}, status_code=422)


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    route = getattr(request.scope.get("route"), "path", None)  # the template: no caller numbers
    log.warning("admin_api_database_unavailable", route=route, error=type(exc).__name__)
    return JSONResponse(
        {"detail": "database unavailable; try again shortly"},
        status_code=503,
        headers={"Retry-After": "2"},
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(Rejected, _rejected)
    app.add_exception_handler(Unavailable, _unavailable)
