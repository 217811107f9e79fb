"""Frozen, picklable configuration objects handed to actors. No environment access here.

The environment is read once, by `engine.settings.Settings` in the driver; actors get these
dataclasses, so an actor's behaviour never depends on the process Ray happened to start it in.
This module stays free of pydantic so call actors do not pay for importing it.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any, Literal

from engine.business_hours import Closed, OfficeHours
from engine.overflow import Overflow
from engine.urgent_claims import UrgentClaims
from engine.verification import VerificationPolicy

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
REALTIME_VOICES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "sage",
    "shimmer",
    "verse",
    "marin",
    "cedar",
)


@dataclass(frozen=True, slots=True)
class MediaAddress:
    """Where a call actor's media server listens: its node's address (Ray's node IP, which
    fills `{host}` in MEDIA_PUBLIC_URL, so the URL leads to the node holding the actor), its
    port, and the node's Ray id (empty outside Ray): nodes of one machine share an address."""

    host: str
    port: int
    node: str = ""


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """What every actor needs to know, frozen and picklable. Secrets are plain strings here
    (they travel inside the Ray cluster only) and never appear in repr."""

    app_database_url: str = field(repr=False)
    jwt_secret: str = field(repr=False)
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    openai_api_key: str | None = field(default=None, repr=False)
    realtime_model: str = "gpt-realtime"
    public_base_url: str = "http://127.0.0.1:8000"
    media_public_url: str = "ws://127.0.0.1:{port}/stream/{call_sid}"
    media_bind_host: str = "127.0.0.1"
    media_port_range: tuple[int, int] = (20000, 20999)
    twilio_api_base_url: str = "https://api.twilio.com"
    notion_api_base_url: str = "https://api.notion.com"  # tests point it at engine.sim.notion
    # ElevenLabs voices (actors/tts_voice.py); tests point the base URL at engine.sim.elevenlabs
    elevenlabs_base_url: str = "https://api.elevenlabs.io"
    elevenlabs_api_key: str | None = field(default=None, repr=False)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    warm_calls: int = 4
    call_actor_max_calls: int = 200  # calls one actor process serves before it is replaced
    calls_per_actor: int = 1  # live calls one actor process serves at once (call_actor.py)
    # While calls are live the pool pauses between actor starts (each costs about a CPU-second)
    # so a refill never takes the CPU their audio needs; idle actors above warm_calls (recycled
    # after a burst) are let go one per pool_idle_trim_s.
    pool_refill_pause_s: float = 5.0
    pool_idle_trim_s: float = 60.0
    # Admission (engine.node_capacity): live calls the pool admits (None: no limit, a cluster
    # whose autoscaler adds nodes) and the CPU busy share over which it admits none (None: off).
    call_capacity: int | None = None
    admit_cpu_max: float | None = None
    memory_actors: int = 2
    log_format: str = "console"
    redact_pii: bool = False  # production: `pii_` log fields redacted in every process
    # An agency's own tools may use http:// to 127.0.0.1 (tests, the demo); production: https only
    plain_http_tools: bool = True
    # Caller memory (memory actors only). Chat completions and embeddings go to llm_base_url
    # (None: openai_base_url) with llm_api_key (None: openai_api_key); offline the driver
    # points them at the OpenAI HTTP simulator. embedding_provider "auto" is "openai" when
    # OPENAI_API_KEY is set, else the local sentence-embedding model when it is installed.
    llm_base_url: str | None = None
    llm_api_key: str | None = field(default=None, repr=False)
    llm_model: str = "gpt-4o-mini"
    embedding_provider: Literal["auto", "openai", "local"] = "auto"
    embedding_model: str = "text-embedding-3-small"
    embedding_dimensions: int = 384
    post_call_queue: str = "default"
    post_call_max_attempts: int = 6
    post_call_backoff_s: float = 5.0
    post_call_lease_s: int = 300
    post_call_poll_s: float = 2.0
    # The outbox (memory.outbox_drain): every memory actor drains it; a delivery is retried
    # with doubling backoff from outbox_backoff_s up to outbox_max_attempts, then dead-lettered.
    outbox_batch: int = 16
    outbox_max_attempts: int = 12
    outbox_backoff_s: float = 2.0
    outbox_max_backoff_s: float = 600.0
    outbox_lease_s: int = 60
    outbox_poll_s: float = 1.0
    outbox_timeout_s: float = 10.0
    # The outbox queue this engine writes its deliveries to and drains (None: one derived from
    # jwt_secret, see outbox_queue_for). Engines sharing a database with different secrets
    # never claim each other's deliveries, which they could not open or sign anyway.
    outbox_queue: str | None = None
    realtime_session_max_s: float = 55 * 60  # reconnect before the service's ~60 min cap
    # Where call recordings are stored (private; served only by the admin API).
    recordings_dir: str = ".neurosphere/recordings"
    # Where memory actors keep call writes that Postgres could not take (memory.write_spool).
    spool_dir: str = ".neurosphere/spool"
    # The proxies whose forwarded headers the webhook port trusts (empty: none).
    forwarded_allow_ips: str = ""
    # How often a call actor reports its live calls' measurements to the pool (/metrics).
    metrics_flush_s: float = 5.0
    # Opens /metrics and the API docs to any client presenting it as a bearer token (None:
    # only clients on the engine's host that came through no proxy; admin_api.internal_only).
    ops_token: str | None = field(default=None, repr=False)
    # How often memory actor 0 deletes calls past their tenant's retention_days (0: never; the
    # first run comes within a minute of start).
    retention_interval_s: float = 3600.0

    def media_url(self, address: MediaAddress, call_sid: str) -> str:
        return self.media_public_url.format(host=address.host, port=address.port, call_sid=call_sid)

    def outbox_queue_name(self) -> str:
        """The outbox queue of this engine: the configured one, else its secret's."""
        return self.outbox_queue or outbox_queue_for(self.jwt_secret)


def outbox_queue_for(engine_secret: str) -> str:
    """The outbox queue of the engines holding ``engine_secret``: a keyed digest, so it names
    the secret without revealing it, and engines with one secret share one queue."""
    digest = hmac.new(engine_secret.encode(), b"neurosphere:outbox-queue", hashlib.sha256)
    return "engine-" + digest.hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class VadConfig:
    """Turn-taking: the realtime session's turn detection (server_vad or semantic_vad with its
    eagerness) and input noise reduction, and how long the caller must speak over the agent
    before it stops (engine.turn_taking; shorter sounds and backchannels leave it talking)."""

    type: Literal["server_vad", "semantic_vad"] = "server_vad"
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 800
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    noise_reduction: Literal["off", "near_field", "far_field"] = "off"
    min_interrupt_ms: int = 500


@dataclass(frozen=True, slots=True)
class TransferRule:
    """Where `transfer_call` may send a caller: a short keyword, a number, what it is for."""

    keyword: str
    number: str
    description: str = ""
    mode: Literal["cold", "warm"] = "cold"  # warm: announced to the person first (warm_transfer)


@dataclass(frozen=True, slots=True)
class DtmfAction:
    """What a key press does besides telling the model: `transfer` to a rule's keyword, or
    `hang_up`."""

    action: Literal["transfer", "hang_up"]
    target: str = ""


@dataclass(frozen=True, slots=True)
class ElevenLabsVoice:
    """A tenant's ElevenLabs voice: the model answers in text and this voice speaks it
    (actors/tts_voice.py). Stability, similarity and speed are the voice's settings."""

    voice_id: str
    model_id: str = "eleven_flash_v2_5"
    stability: float = 0.5
    similarity_boost: float = 0.75
    speed: float = 1.0


DEFAULT_TOOLS = ("end_call", "transfer_call", "get_current_time", "take_message", "remember")


@dataclass(frozen=True, slots=True)
class AgencyTool:
    """A tool the agency defined for its agent (admin API /custom-tools): offered to the model
    next to the built-in tools; the engine posts the arguments to `url`, signed with `secret`
    (engine.agency_tools)."""

    name: str
    description: str
    parameters: dict[str, Any] = field(hash=False)
    url: str
    secret: str = field(repr=False)
    timeout_s: float = 5.0


@dataclass(frozen=True, slots=True)
class TenantConfig:
    """A tenant's agent as one snapshot; a new snapshot is loaded when an admin changes it."""

    tenant_id: str
    name: str
    agent_name: str = "Ava"
    voice: str = "marin"
    elevenlabs: ElevenLabsVoice | None = None  # None: the realtime model's own voice
    elevenlabs_api_key: str | None = field(default=None, repr=False)  # None: the platform's
    greeting_new: str = "{time_greeting}! This is {agent_name}. How can I help you?"
    greeting_returning: str = "Hi, this is {agent_name}. Is this {user_name}?"
    time_zone: str = "America/New_York"
    vad: VadConfig = VadConfig()
    sliders: tuple[tuple[str, int], ...] = ()
    blocks: tuple[tuple[str, str], ...] = ()
    max_concurrent_calls: int = 10
    record_calls: bool = False
    recording_consent: str = ""  # spoken before the greeting when calls are recorded
    spanish: bool = False  # the greeting offers Spanish; the agent answers in the caller's tongue
    recording_notice: str = "always"  # engine.recording_consent: "always", "all_party_states"
    jurisdiction: str | None = None  # the agency's US state (two letters), when known
    pii_redaction: bool = (
        True  # store transcripts with card numbers, SSNs... redacted (engine.redact)
    )
    tools: tuple[str, ...] = DEFAULT_TOOLS
    agency_tools: tuple[AgencyTool, ...] = ()  # the agency's own, enabled ones
    transfer_rules: tuple[TransferRule, ...] = ()
    dtmf_actions: tuple[tuple[str, DtmfAction], ...] = ()
    max_call_seconds: int = 1800
    silence_timeout_s: int = 10
    fallback_number: str | None = None
    overflow: Overflow = field(default_factory=Overflow)  # when the node has no room (0028)
    twilio_account_sid: str | None = None
    twilio_auth_token: str | None = field(default=None, repr=False)
    verification: VerificationPolicy = field(default_factory=VerificationPolicy)
    # the greeting must tell the caller they are talking with an AI (prompts.disclosure)
    ai_disclosure_required: bool = False
    hours: OfficeHours = field(default_factory=OfficeHours)
    # Set for one call that starts while the office is closed (engine.business_hours.for_call).
    closed: Closed | None = None
    urgent: UrgentClaims = field(default_factory=UrgentClaims)  # what still goes through then
    version: int = 1
