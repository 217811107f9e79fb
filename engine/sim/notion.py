"""A Notion API simulator (version 2022-06-28) for pages in databases, for tests and the demo.

I/O: an aiohttp.web server on 127.0.0.1 (port 0 by default). Speaks the official shapes:
`POST /v1/pages` (parent database_id + properties), `PATCH /v1/pages/{id}` (properties merged),
`GET /v1/pages/{id}`, `POST /v1/databases/{id}/query` (a filter on one property:
`rich_text`/`title` `equals`, or none), with `Authorization: Bearer <integration token>` and a
required `Notion-Version` header. Errors are Notion's JSON (`object: "error"`, `status`,
`code`, `message`). Rate limit as Notion documents it: an average of 3 requests per second per
integration (a token bucket, burst `burst`), beyond it 429 `rate_limited` with `Retry-After`.
It can be taken down (503 `service_unavailable`) for a while. Databases must be created first
(`add_database`), as an agency shares them with the integration. A database created with its
`properties` behaves as Notion does: a page property it does not have, or of another type, is
400 `validation_error`, and `PATCH /v1/databases/{id}` (Update database) adds properties.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any

import structlog
from aiohttp import web

from engine.sim.http_server import LoopbackServer

log = structlog.get_logger(__name__)

VERSION = "2022-06-28"


def notion_error(status: int, code: str, message: str, **headers: str) -> web.Response:
    body = {"object": "error", "status": status, "code": code, "message": message}
    return web.json_response(body, status=status, headers=headers or None)


def _plain(value: dict[str, Any]) -> str | None:
    """The text of a title or rich_text property value."""
    for kind in ("title", "rich_text"):
        if kind in value:
            return "".join(part.get("text", {}).get("content", "") for part in value[kind])
    return None


class NotionSimulator:
    """State: databases (id -> owning token), pages, request log, per-token rate buckets."""

    def __init__(self, *, rate_per_s: float = 3.0, burst: int = 3) -> None:
        self.rate_per_s = rate_per_s
        self.burst = burst
        self.base_url = ""
        self.databases: dict[str, str] = {}
        # database -> property name -> type ("rich_text", "number", ...); None: any property
        self.schemas: dict[str, dict[str, str] | None] = {}
        self.pages: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[float, str, str, int]] = []  # (time, method, path, status)
        self.down_until = 0.0
        self.tenants: list[str] = []  # for the test harness: whose workspaces point here
        self._buckets: dict[str, tuple[float, float]] = {}  # token -> (tokens, at)
        self._server: LoopbackServer | None = None

    def add_database(self, token: str, properties: dict[str, str] | None = None) -> str:
        """A database shared with ``token``; with ``properties`` (name -> type) it refuses
        any other property, as Notion does."""
        database_id = str(uuid.uuid4())
        self.databases[database_id] = token
        self.schemas[database_id] = dict(properties) if properties is not None else None
        return database_id

    def pages_in(self, database_id: str) -> list[dict[str, Any]]:
        return [p for p in self.pages.values() if p["parent"]["database_id"] == database_id]

    @staticmethod
    def text(page: dict[str, Any], prop: str) -> str | None:
        value = page["properties"].get(prop)
        return _plain(value) if value is not None else None

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> NotionSimulator:
        app = web.Application(middlewares=[self._gate])
        app.router.add_post("/v1/pages", self._create)
        app.router.add_patch("/v1/pages/{page_id}", self._update)
        app.router.add_get("/v1/pages/{page_id}", self._fetch)
        app.router.add_post("/v1/databases/{database_id}/query", self._query)
        app.router.add_patch("/v1/databases/{database_id}", self._update_database)
        self._server = LoopbackServer(app)
        self.base_url = await self._server.start()
        log.info("sim_notion_started", base_url=self.base_url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.stop()

    # -- plumbing ---------------------------------------------------------------------------

    def _take(self, token: str) -> float:
        """0 when the request may go, else the seconds until it may."""
        now = time.monotonic()
        tokens, at = self._buckets.get(token, (float(self.burst), now))
        tokens = min(float(self.burst), tokens + (now - at) * self.rate_per_s)
        if tokens < 1.0:
            self._buckets[token] = (tokens, now)
            return (1.0 - tokens) / self.rate_per_s
        self._buckets[token] = (tokens - 1.0, now)
        return 0.0

    @web.middleware
    async def _gate(self, request: web.Request, handler: Any) -> web.StreamResponse:
        response = await self._check(request, handler)
        self.requests.append((time.monotonic(), request.method, request.path, response.status))
        return response

    async def _check(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if time.monotonic() < self.down_until:
            return notion_error(503, "service_unavailable", "Notion is unavailable.")
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip()
        if not auth.startswith("Bearer ") or token not in self.databases.values():
            return notion_error(401, "unauthorized", "API token is invalid.")
        if request.headers.get("Notion-Version") is None:
            return notion_error(400, "missing_version", "Notion-Version header required.")
        wait = self._take(token)
        if wait > 0:
            return notion_error(
                429, "rate_limited", "Rate limited.", **{"Retry-After": str(max(1, round(wait)))}
            )
        request["token"] = token
        response: web.StreamResponse = await handler(request)
        return response

    def _page_json(self, page_id: str) -> dict[str, Any]:
        page = self.pages[page_id]
        return {"object": "page", "id": page_id, **page}

    def _owned_page(self, request: web.Request) -> str | None:
        page_id = request.match_info["page_id"]
        page = self.pages.get(page_id)
        if page is None or self.databases.get(page["parent"]["database_id"]) != request["token"]:
            return None
        return page_id

    def _refused(self, database_id: str, properties: dict[str, Any]) -> web.Response | None:
        """Notion's answer to properties the database does not have (None when all fit)."""
        schema = self.schemas.get(database_id)
        if schema is None:
            return None
        for name, value in properties.items():
            if name not in schema:
                return notion_error(
                    400, "validation_error", f"{name} is not a property that exists."
                )
            kind = next(iter(value), None) if isinstance(value, dict) else None
            if kind != schema[name]:
                return notion_error(
                    400, "validation_error", f"{name} is expected to be {schema[name]}."
                )
        return None

    # -- endpoints --------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.Response:
        body = await request.json()
        database_id = str((body.get("parent") or {}).get("database_id"))
        if self.databases.get(database_id) != request["token"]:
            return notion_error(404, "object_not_found", "Could not find database.")
        properties = body.get("properties")
        if not isinstance(properties, dict) or not properties:
            return notion_error(400, "validation_error", "body.properties should be defined.")
        refused = self._refused(database_id, properties)
        if refused is not None:
            return refused
        page_id = str(uuid.uuid4())
        now = datetime.now(UTC).isoformat()
        self.pages[page_id] = {
            "parent": {"type": "database_id", "database_id": database_id},
            "properties": properties,
            "created_time": now,
            "last_edited_time": now,
            "archived": False,
        }
        return web.json_response(self._page_json(page_id))

    async def _update(self, request: web.Request) -> web.Response:
        page_id = self._owned_page(request)
        if page_id is None:
            return notion_error(404, "object_not_found", "Could not find page.")
        body = await request.json()
        properties = body.get("properties") or {}
        refused = self._refused(self.pages[page_id]["parent"]["database_id"], properties)
        if refused is not None:
            return refused
        self.pages[page_id]["properties"].update(properties)
        self.pages[page_id]["last_edited_time"] = datetime.now(UTC).isoformat()
        return web.json_response(self._page_json(page_id))

    async def _fetch(self, request: web.Request) -> web.Response:
        page_id = self._owned_page(request)
        if page_id is None:
            return notion_error(404, "object_not_found", "Could not find page.")
        return web.json_response(self._page_json(page_id))

    async def _update_database(self, request: web.Request) -> web.Response:
        database_id = request.match_info["database_id"]
        if self.databases.get(database_id) != request["token"]:
            return notion_error(404, "object_not_found", "Could not find database.")
        body = await request.json()
        added = body.get("properties") or {}
        if not isinstance(added, dict) or not all(
            isinstance(v, dict) and len(v) == 1 for v in added.values()
        ):
            return notion_error(400, "validation_error", "body.properties is not valid.")
        schema = self.schemas.get(database_id)
        if schema is not None:
            schema.update({name: next(iter(value)) for name, value in added.items()})
        properties = {name: {"name": name, "type": t} for name, t in (schema or {}).items()}
        return web.json_response(
            {"object": "database", "id": database_id, "properties": properties}
        )

    async def _query(self, request: web.Request) -> web.Response:
        database_id = request.match_info["database_id"]
        if self.databases.get(database_id) != request["token"]:
            return notion_error(404, "object_not_found", "Could not find database.")
        body = await request.json() if request.can_read_body else {}
        found = self.pages_in(database_id)
        wanted = body.get("filter")
        if wanted:
            prop = wanted.get("property")
            condition = wanted.get("rich_text") or wanted.get("title") or {}
            if "equals" not in condition:
                return notion_error(400, "validation_error", "Only `equals` is simulated.")
            found = [p for p in found if self.text(p, prop) == condition["equals"]]
        size = int(body.get("page_size", 100))
        results = [self._page_json(i) for i, p in self.pages.items() if p in found[:size]]
        return web.json_response(
            {"object": "list", "results": results, "has_more": False, "next_cursor": None}
        )
