"""Process settings: the environment, read once by the driver (the CLI). Trust boundary.

Everything actors need is copied into `engine.config.EngineConfig` by `engine_config()`.
Secrets are `SecretStr`; outside dev mode placeholder secrets are refused.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from engine.config import DEFAULT_OPENAI_BASE_URL, EngineConfig
from engine.node_capacity import CALLS_PER_CORE, node_call_slots, ray_call_slots

_PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "password", "xxx", "todo"})
JWT_SECRET_FILE = "jwt_secret"  # noqa: S105 - a file name


class ConfigError(ValueError):
    """Configuration mistakes, each one line that names its variable."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = tuple(problems)


class Settings(BaseSettings):
    """Process environment, read once by the driver (CLI)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore", case_sensitive=False)

    env: Literal["dev", "production"] = Field("dev", alias="NEUROSPHERE_ENV")
    data_dir: Path = Field(Path(".neurosphere"), alias="NEUROSPHERE_DATA_DIR")
    recordings_dir: Path | None = Field(None, alias="NEUROSPHERE_RECORDINGS_DIR")
    database_url: SecretStr | None = Field(None, alias="DATABASE_URL")
    app_database_url: SecretStr | None = Field(None, alias="NEUROSPHERE_APP_DATABASE_URL")
    openai_api_key: SecretStr | None = Field(None, alias="OPENAI_API_KEY")
    openai_base_url: str = Field(DEFAULT_OPENAI_BASE_URL, alias="OPENAI_BASE_URL")
    # Chat completions and embeddings (post-call work, caller memory) when they are not served
    # where the realtime model is; unset: OPENAI_BASE_URL and OPENAI_API_KEY.
    llm_base_url: str | None = Field(None, alias="NEUROSPHERE_LLM_BASE_URL")
    llm_api_key: SecretStr | None = Field(None, alias="NEUROSPHERE_LLM_API_KEY")
    realtime_model: str = Field("gpt-realtime", alias="NEUROSPHERE_REALTIME_MODEL")
    twilio_account_sid: str | None = Field(None, alias="TWILIO_ACCOUNT_SID")
    twilio_auth_token: SecretStr | None = Field(None, alias="TWILIO_AUTH_TOKEN")
    twilio_api_base_url: str = Field("https://api.twilio.com", alias="TWILIO_API_BASE_URL")
    notion_api_base_url: str = Field("https://api.notion.com", alias="NOTION_API_BASE_URL")
    elevenlabs_api_key: SecretStr | None = Field(None, alias="ELEVENLABS_API_KEY")
    elevenlabs_base_url: str = Field("https://api.elevenlabs.io", alias="ELEVENLABS_BASE_URL")
    # unset: the webhook's own address (public_url), so `serve --port` needs nothing else
    public_base_url: str | None = Field(None, alias="PUBLIC_BASE_URL")
    media_public_url: str = Field(
        "ws://127.0.0.1:{port}/stream/{call_sid}", alias="MEDIA_PUBLIC_URL"
    )
    media_bind_host: str = Field("127.0.0.1", alias="NEUROSPHERE_MEDIA_HOST")
    media_ports: str = Field("20000-20999", alias="NEUROSPHERE_MEDIA_PORTS")
    http_host: str = Field("127.0.0.1", alias="NEUROSPHERE_HTTP_HOST")
    http_port: int = Field(8000, ge=1, le=65535, alias="NEUROSPHERE_HTTP_PORT")
    # Addresses of the TLS proxies whose X-Forwarded-For / -Proto the webhook port believes
    # (comma-separated IPs or networks, "*" for any); empty: none, the peer is the client.
    forwarded_allow_ips: str = Field("", alias="NEUROSPHERE_FORWARDED_ALLOW_IPS")
    ray_address: str | None = Field(None, alias="RAY_ADDRESS")
    # The defaults hold a burst (bench/README.md): 100 free slots in 2 warm actors of 50 calls,
    # a call process per core of the node (a node admits CALLS_PER_CORE calls a core).
    warm_calls: int = Field(100, ge=0, le=1000, alias="NEUROSPHERE_WARM_CALLS")
    call_actor_max_calls: int = Field(200, ge=1, alias="NEUROSPHERE_CALL_ACTOR_MAX_CALLS")
    calls_per_actor: int = Field(CALLS_PER_CORE, ge=1, le=200, alias="NEUROSPHERE_CALLS_PER_ACTOR")
    # None: what the node carries, engine.node_capacity.node_call_slots (50 per core)
    call_slots: int | None = Field(None, ge=1, alias="NEUROSPHERE_CALL_SLOTS")
    # the node's CPU busy share (0-1) over which no new call is admitted; None: CPU not looked at
    admit_cpu: float | None = Field(None, gt=0, le=1, alias="NEUROSPHERE_ADMIT_CPU")
    memory_actors: int = Field(2, ge=1, le=64, alias="NEUROSPHERE_MEMORY_ACTORS")
    jwt_secret: SecretStr | None = Field(None, alias="NEUROSPHERE_JWT_SECRET")
    log_format: Literal["json", "console"] = Field("console", alias="NEUROSPHERE_LOG_FORMAT")
    retention_interval_s: float = Field(3600.0, ge=0, alias="NEUROSPHERE_RETENTION_INTERVAL_S")
    # On SIGTERM: how long live calls may go on before they are ended (outcome recorded).
    drain_timeout_s: float = Field(120.0, ge=0, alias="NEUROSPHERE_DRAIN_TIMEOUT_S")
    outbox_poll_s: float = Field(1.0, ge=0.05, le=86400, alias="NEUROSPHERE_OUTBOX_POLL_S")
    # The database roles' names (<prefix>_owner, _app, _lookup, _jobs) on an external Postgres.
    db_role_prefix: str = Field(
        "neurosphere", pattern=r"^[a-z_][a-z0-9_]{0,40}$", alias="NEUROSPHERE_DB_ROLE_PREFIX"
    )
    # A bearer token that opens /metrics and the API docs to other hosts (Prometheus elsewhere).
    ops_token: SecretStr | None = Field(None, alias="NEUROSPHERE_OPS_TOKEN")

    @field_validator("media_public_url")
    @classmethod
    def _media_url_shape(cls, value: str) -> str:
        if not value.startswith(("ws://", "wss://")) or "?" in value:
            raise ValueError(
                "MEDIA_PUBLIC_URL must be a ws:// or wss:// URL without a query string"
            )
        try:
            value.format(host="h", port=1, call_sid="c")
        except (KeyError, IndexError, ValueError) as exc:
            raise ValueError(
                "MEDIA_PUBLIC_URL may use only {host} (the call actor's node address), {port} "
                f"and {{call_sid}} as placeholders: {exc!r}"
            ) from exc
        return value

    @model_validator(mode="after")
    def _calls_share_a_port_by_path(self) -> Settings:
        if self.calls_per_actor > 1 and "{call_sid}" not in self.media_public_url:
            raise ValueError(
                "NEUROSPHERE_CALLS_PER_ACTOR > 1 needs {call_sid} in MEDIA_PUBLIC_URL: calls on "
                "one media port are told apart by the path"
            )
        return self

    @model_validator(mode="after")
    def _an_actor_fits_the_node(self) -> Settings:
        if self.ray_address is None and self.node_call_slots() < self.calls_per_actor:
            raise ValueError(
                f"NEUROSPHERE_CALL_SLOTS ({self.node_call_slots()}) is below "
                f"NEUROSPHERE_CALLS_PER_ACTOR ({self.calls_per_actor}): a call actor books a "
                "slot per call it can serve, so none would fit on the node"
            )
        return self

    def node_call_slots(self) -> int:
        """The live calls the local node admits: as set, or what its cores carry."""
        if self.call_slots is not None:
            return self.call_slots
        return node_call_slots(os.cpu_count() or 1)

    def ray_call_slots(self) -> int:
        """The `call_slot`s the local node gives Ray: its call actors' and one spare actor's."""
        return ray_call_slots(self.node_call_slots(), self.calls_per_actor)

    def public_url(self) -> str:
        """What Twilio calls and signatures are checked on: PUBLIC_BASE_URL, or when unset the
        webhook port's own address."""
        if self.public_base_url is not None:
            return self.public_base_url
        host = f"[{self.http_host}]" if ":" in self.http_host else self.http_host
        return f"http://{host}:{self.http_port}"

    @field_validator("public_base_url")
    @classmethod
    def _public_base_shape(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if not value.startswith(("http://", "https://")):
            raise ValueError("PUBLIC_BASE_URL must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("media_ports")
    @classmethod
    def _media_ports_shape(cls, value: str) -> str:
        low, _, high = value.partition("-")
        try:
            lo, hi = int(low), int(high or low)
        except ValueError:
            raise ValueError(
                f"NEUROSPHERE_MEDIA_PORTS must be a port or a range like 20000-20999, not {value!r}"
            ) from None
        if not 1024 <= lo <= hi <= 65535:
            raise ValueError(f"NEUROSPHERE_MEDIA_PORTS out of range (1024-65535): {value}")
        return value

    def media_port_range(self) -> tuple[int, int]:
        low, _, high = self.media_ports.partition("-")
        return int(low), int(high or low)

    def _jwt_problem(self) -> str | None:
        if self.jwt_secret is not None:
            value = self.jwt_secret.get_secret_value()
            if self.env == "production" and (
                value.lower() in _PLACEHOLDER_SECRETS or len(value) < 32
            ):
                return "NEUROSPHERE_JWT_SECRET is a placeholder or shorter than 32 chars"
            return None
        if self.env == "production":
            return "NEUROSPHERE_JWT_SECRET must be set in production"
        path = self.data_dir / JWT_SECRET_FILE
        if path.exists() and len(path.read_text().strip()) < 32:
            return (
                f"NEUROSPHERE_JWT_SECRET is unset and {path} holds no usable JWT secret; "
                "delete it to make a new one"
            )
        return None

    def problems(self) -> list[str]:
        """What is wrong beyond single values, one line each naming its variable: the JWT
        secret, production's required keys, placeholder secrets outside dev mode, variables
        that only work together."""
        found: list[str] = []
        jwt_problem = self._jwt_problem()
        if jwt_problem:
            found.append(jwt_problem)
        if self.database_url is not None and self.app_database_url is None:
            found.append(
                "NEUROSPHERE_APP_DATABASE_URL must be set with DATABASE_URL (the app role's URL; "
                "`neurosphere db bootstrap` creates the role)"
            )
        if self.ops_token is not None and len(self.ops_token.get_secret_value()) < 24:
            found.append("NEUROSPHERE_OPS_TOKEN must be at least 24 characters")
        if self.env != "production":
            return found
        if self.openai_api_key is None:
            found.append(
                "OPENAI_API_KEY must be set in production (without it calls would reach the "
                "offline simulator)"
            )
        for name, secret in (
            ("OPENAI_API_KEY", self.openai_api_key),
            ("TWILIO_AUTH_TOKEN", self.twilio_auth_token),
        ):
            if secret is not None and secret.get_secret_value().lower() in _PLACEHOLDER_SECRETS:
                found.append(f"{name} is a placeholder value")
        return found

    def resolved_jwt_secret(self) -> str:
        """The JWT signing secret; in dev mode one is generated and kept under the data dir."""
        problem = self._jwt_problem()
        if problem:
            raise ConfigError([problem])
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        path = self.data_dir / JWT_SECRET_FILE
        if path.exists():
            return path.read_text().strip()
        self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        value = secrets.token_urlsafe(48)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(value)
        return value


def load_settings() -> Settings:
    """The environment, read and checked as a whole before anything starts: every mistake
    (a value that does not parse, a placeholder secret, a missing production key) in one
    ConfigError."""
    try:
        settings = Settings.model_validate({})
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None
    problems = settings.problems()
    if problems:
        raise ConfigError(problems)
    return settings


def _describe(error: Any) -> str:
    variable = ".".join(str(part) for part in error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if not variable or message.startswith(variable):
        return message
    return f"{variable}: {message}"


def engine_config(settings: Settings, app_database_url: str) -> EngineConfig:
    """The frozen config actors get, from the settings and the resolved app database URL."""

    def reveal(secret: SecretStr | None) -> str | None:
        return secret.get_secret_value() if secret is not None else None

    return EngineConfig(
        app_database_url=app_database_url,
        jwt_secret=settings.resolved_jwt_secret(),
        openai_base_url=settings.openai_base_url,
        openai_api_key=reveal(settings.openai_api_key),
        llm_base_url=settings.llm_base_url,
        llm_api_key=reveal(settings.llm_api_key),
        realtime_model=settings.realtime_model,
        public_base_url=settings.public_url(),
        media_public_url=settings.media_public_url,
        media_bind_host=settings.media_bind_host,
        media_port_range=settings.media_port_range(),
        twilio_api_base_url=settings.twilio_api_base_url,
        notion_api_base_url=settings.notion_api_base_url,
        elevenlabs_base_url=settings.elevenlabs_base_url,
        elevenlabs_api_key=reveal(settings.elevenlabs_api_key),
        twilio_account_sid=settings.twilio_account_sid,
        twilio_auth_token=reveal(settings.twilio_auth_token),
        warm_calls=settings.warm_calls,
        call_actor_max_calls=settings.call_actor_max_calls,
        calls_per_actor=settings.calls_per_actor,
        # a local node admits what it advertises; a cluster's autoscaler adds nodes instead
        call_capacity=settings.node_call_slots() if settings.ray_address is None else None,
        admit_cpu_max=settings.admit_cpu,
        memory_actors=settings.memory_actors,
        outbox_poll_s=settings.outbox_poll_s,
        log_format=settings.log_format,
        redact_pii=settings.env == "production",
        plain_http_tools=settings.env != "production",
        recordings_dir=str((settings.recordings_dir or settings.data_dir / "recordings").resolve()),
        retention_interval_s=settings.retention_interval_s,
        spool_dir=str((settings.data_dir / "spool").resolve()),
        forwarded_allow_ips=settings.forwarded_allow_ips,
        ops_token=reveal(settings.ops_token),
    )
