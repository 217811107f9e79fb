"""The admin API in-process for integration tests: the real ingress app (webhooks + /api/v1)
over httpx's ASGI transport, real Postgres, real TenantActor and MemoryActor objects in this
event loop (so /twilio/recording signatures are checked, and recordings downloaded, by the
tenant actor as in production), the shipped Twilio REST fake, and a private recordings
directory. Each harness sends from its own client IP: login rate limits live in the session's
Postgres, so a shared address would carry one test's attempts into the next.

Users are made straight in Postgres with one precomputed argon2id hash (hashing costs ~160 ms;
every test user shares the same password), and `token_for` opens a real session for a user
without a login, so only the tests about login pay for password verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import secrets
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from actors.memory_actor import MemoryActor
from actors.ports import CallSetup
from admin_api.app import build_app
from admin_api.auth import mint_access, new_refresh
from admin_api.context import WebhookContext
from admin_api.passwords import Passwords
from admin_api.state import AdminState
from engine.config import EngineConfig
from engine.secret_box import TWILIO_LABEL, SecretBox
from engine.sim.twilio_rest import TwilioRestFake
from memory import tenant_admin, users
from memory.audit import SYSTEM
from memory.tenant_admin import TenantSpec
from memory.users import AdminUser, NewUser, Role
from tests.integration.local_gateway import LocalGateway

PASSWORD = "a long test passphrase 7f3k"
AUTH_TOKEN = "tenant-auth-token-0123456789"
ACCOUNT_SID = "AC" + "5" * 32
API = "/api/v1"

_HASH: dict[str, str] = {}
_ADDRESSES = itertools.count(1)


async def password_hash(passwords: Passwords) -> str:
    if "hash" not in _HASH:
        _HASH["hash"] = await passwords.hash(PASSWORD)
    return _HASH["hash"]


def new_number() -> str:
    return "+1555" + str(uuid.uuid4().int)[:7]


def new_address() -> str:
    """A client IP no other harness of this test session uses (198.18.0.0/15 is for tests)."""
    n = next(_ADDRESSES)
    return f"198.{18 + n // 65536 % 2}.{n // 256 % 256}.{n % 256}"


def new_email(prefix: str = "user") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@agency.example"


class NoCalls:
    async def claim(self, setup: CallSetup) -> str:
        raise RuntimeError("no calls in admin API tests")

    async def room(self) -> int:
        return 0


class AdminGateway(LocalGateway):
    """LocalGateway whose TenantActors are made with `config` (which may hold secrets the
    replica's config does not) and their own memory actor; no calls."""

    def __init__(self, config: EngineConfig) -> None:
        self._own_memory = MemoryActor(config)
        super().__init__(config, self._own_memory, NoCalls())

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until no tenant actor has a recording download running."""

        async def idle() -> bool:
            return all([await a.recordings_in_flight() == 0 for a in self.actors.values()])

        await wait_for(idle, timeout)

    async def close(self) -> None:
        await super().close()
        await self._own_memory.close()


@dataclass
class Tenant:
    tenant_id: str
    number: str
    owner: AdminUser
    owner_token: str


@dataclass
class AdminHarness:
    client: httpx.AsyncClient
    pool: asyncpg.Pool
    admin: AdminState
    gateway: AdminGateway
    rest: TwilioRestFake
    config: EngineConfig
    recordings_dir: Path
    platform_token: str = ""
    tenants: list[Tenant] = field(default_factory=list)
    app: Any = None  # the ingress app itself, for tests that serve it over real HTTP

    async def user(
        self, tenant_id: str | None, role: Role, *, email: str | None = None
    ) -> AdminUser:
        return await users.create_user(
            self.pool,
            NewUser(
                tenant_id=tenant_id,
                email=email or new_email(role),
                role=role,
                password_hash=await password_hash(self.admin.passwords),
            ),
            SYSTEM,
        )

    async def token_for(self, user: AdminUser) -> str:
        """A real session and access token for `user`, without a password check."""
        _, refresh_hash = new_refresh(user.tenant_id)
        session_id = await users.open_session(
            self.pool, user, refresh_hash, session_s=3600, refresh_s=3600
        )
        return mint_access(
            self.admin.ring,
            user_id=user.user_id,
            tenant_id=user.tenant_id,
            role=user.role,
            session_id=session_id,
            ttl_s=900,
        )

    async def tenant(self, **spec: Any) -> Tenant:
        number = new_number()
        detail = await tenant_admin.create_tenant(
            self.pool,
            TenantSpec(
                name=spec.pop("name", "Admin Test Agency"),
                time_zone=spec.pop("time_zone", "America/New_York"),
                max_concurrent_calls=spec.pop("max_concurrent_calls", 10),
                business_hours={},
                numbers=(number,),
                twilio_account_sid=spec.pop("twilio_account_sid", ACCOUNT_SID),
                twilio_auth_token=spec.pop("twilio_auth_token", AUTH_TOKEN),
            ),
            SYSTEM,
            tokens=SecretBox(self.config.jwt_secret, TWILIO_LABEL),
        )
        owner = await self.user(detail.tenant_id, "owner")
        made = Tenant(detail.tenant_id, number, owner, await self.token_for(owner))
        self.tenants.append(made)
        return made

    async def login(self, email: str, password: str = PASSWORD, **kw: Any) -> httpx.Response:
        return await self.client.post(
            f"{API}/auth/login", json={"email": email, "password": password}, **kw
        )

    def auth(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    async def get(self, path: str, token: str, **kw: Any) -> httpx.Response:
        return await self.client.get(API + path, headers=self.auth(token), **kw)

    async def post(self, path: str, token: str, body: Any = None, **kw: Any) -> httpx.Response:
        return await self.client.post(API + path, headers=self.auth(token), json=body, **kw)

    async def patch(self, path: str, token: str, body: Any, **kw: Any) -> httpx.Response:
        return await self.client.patch(API + path, headers=self.auth(token), json=body, **kw)

    async def delete(self, path: str, token: str, **kw: Any) -> httpx.Response:
        return await self.client.delete(API + path, headers=self.auth(token), **kw)


PUBLIC_BASE = "https://voice.example.com"


@contextlib.asynccontextmanager
async def admin_harness(
    app_url: str,
    jwt_secret: str,
    pool: asyncpg.Pool,
    recordings_dir: Path,
    *,
    admin_state: AdminState | None = None,
    client_address: str | None = None,
    actor_twilio: tuple[str, str] | None = None,
    elevenlabs: tuple[str, str] | None = None,
) -> AsyncIterator[AdminHarness]:
    """`actor_twilio` (account sid, auth token): platform Twilio credentials that only the
    tenant actors' config carries, never the replica's. `elevenlabs` (base URL, key): the
    ElevenLabs service (its simulator)."""
    accounts = {ACCOUNT_SID: AUTH_TOKEN}
    if actor_twilio is not None:
        accounts[actor_twilio[0]] = actor_twilio[1]
    rest = TwilioRestFake(accounts=accounts)
    await rest.start()
    config = EngineConfig(
        app_database_url=app_url,
        jwt_secret=jwt_secret,
        public_base_url=PUBLIC_BASE,
        twilio_api_base_url=rest.base_url,
        recordings_dir=str(recordings_dir),
        # without a simulator, a closed local port: no test reaches the real service
        elevenlabs_base_url=elevenlabs[0] if elevenlabs else "http://127.0.0.1:9",
        elevenlabs_api_key=elevenlabs[1] if elevenlabs else None,
        outbox_queue=f"admin-{uuid.uuid4().hex[:8]}",  # other tests' drains stay out
    )
    actor_config = config
    if actor_twilio is not None:
        actor_config = dataclasses.replace(
            config, twilio_account_sid=actor_twilio[0], twilio_auth_token=actor_twilio[1]
        )
    gateway = AdminGateway(actor_config)
    ctx = WebhookContext(config, gateway)
    state = admin_state or AdminState(config, passwords=shared_passwords())
    app = build_app(ctx, state)
    address = client_address or new_address()
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            harness = AdminHarness(
                client, pool, state, gateway, rest, config, recordings_dir, app=app
            )
            platform = await harness.user(None, "platform_admin")
            harness.platform_token = await harness.token_for(platform)
            yield harness
    finally:
        await ctx.close()
        await gateway.close()
        await rest.stop()


_PASSWORDS: list[Passwords] = []


def shared_passwords() -> Passwords:
    """One hasher per test session: building one hashes a dummy password (~160 ms)."""
    if not _PASSWORDS:
        _PASSWORDS.append(Passwords())
    return _PASSWORDS[0]


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
