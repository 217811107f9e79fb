"""The seams between actors, as Protocols, plus the records that cross them.

Call actors talk to the memory pool and report their end through these interfaces; in Ray the
implementations wrap actor handles (actors/handles.py), in tests they are in-process objects
running the same code against real Postgres.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from engine.config import MediaAddress, TenantConfig
from engine.overflow import OverflowChoice
from engine.verification import Attempt
from engine.warm_transfer import WarmRequest
from memory.call_records import CallEnd, CallStart, NewMessage, Turn
from memory.caller_records import NewMemory, SearchHit
from prompts.context import CallerContext

# What the agent's calls are about, for picking the caller's memories before the greeting.
CONTEXT_AGENDA = "insurance policies, claims, vehicles, property, family, open requests"


@dataclass(frozen=True, slots=True)
class TurnBatch:
    """One call's pending turns, with the call's memory token."""

    token: str = field(repr=False)
    call_sid: str
    turns: tuple[Turn, ...]


class MemoryClient(Protocol):
    async def ping(self) -> None:
        """Answer at once; a call actor pings when it starts, so the connection set-up (some
        hundreds of ms for a new process) is not paid by its first caller's greeting."""
        ...

    async def start_call(self, token: str, call: CallStart) -> None: ...
    async def stream_connected(self, token: str, call_sid: str, stream_sid: str) -> None: ...
    async def append_turns(self, token: str, call_sid: str, turns: Sequence[Turn]) -> None: ...
    async def append_turn_batches(self, batches: Sequence[TurnBatch]) -> list[str | None]:
        """Several calls' turn batches in one request (actors.turn_sender), each under its own
        call's token; per batch, in order: None when stored (or spooled while the database is
        down), else why not. One batch refused (its token, its call) never fails another."""
        ...

    async def finish_call(self, token: str, call_sid: str, end: CallEnd) -> None: ...
    async def load_turns(self, token: str, call_sid: str) -> list[Turn]: ...
    async def take_message(self, token: str, message: NewMessage) -> str: ...
    async def caller_context(
        self, token: str, caller_number: str, *, agenda: str = "", k: int = 8
    ) -> CallerContext: ...
    async def remember(self, token: str, memory: NewMemory) -> None: ...
    async def consolidate(
        self, token: str, caller_number: str, call_sid: str, turns: Sequence[Turn]
    ) -> int: ...
    async def enqueue_post_call(self, token: str, call_sid: str, caller_number: str) -> None: ...
    async def search_knowledge(self, token: str, query: str, k: int = 3) -> list[SearchHit]: ...
    async def verify_caller(
        self, token: str, call_sid: str, caller_number: str, given: Mapping[str, str]
    ) -> Attempt: ...
    async def verified_on_call(self, token: str, call_sid: str, caller_number: str) -> bool: ...
    async def recording_on_call(self, token: str, call_sid: str) -> str | None: ...


class CallControl(Protocol):
    """Acting on the live call through Twilio (the tenant actor holds the credentials)."""

    async def hang_up(self, tenant_id: str, call_sid: str) -> None: ...
    async def set_recording(self, tenant_id: str, call_sid: str, on: bool) -> None: ...
    async def transfer(self, tenant_id: str, call_sid: str, number: str) -> None: ...
    async def warm_transfer(self, tenant_id: str, call_sid: str, request: WarmRequest) -> None: ...


@dataclass(frozen=True, slots=True)
class ToolLatency:
    """One call's latencies of one tool with one status (engine.call_metrics.TOOL_BUCKETS_MS)."""

    tool: str
    status: str  # engine.tools.ToolStatus
    counts: tuple[int, ...]
    sum_ms: float


@dataclass(frozen=True, slots=True)
class CallReport:
    """What a call actor reports when its call is over: outcome and measurements."""

    call_sid: str
    tenant_id: str
    outcome: str
    greeting_ms: float | None = None
    turn_ms: tuple[float, ...] = ()  # per answer: caller stops -> first audio sent
    turn_model_ms: tuple[float, ...] = ()  # -> the model's first text or audio
    turn_heard_ms: tuple[float, ...] = ()  # -> first audio heard (Twilio's mark)
    barge_ins: int = 0
    model_errors: int = 0
    frames_in: int = 0
    frames_out: int = 0
    dropped_frames: int = 0
    inbound_latency_us: tuple[int, ...] = ()  # histogram counts, engine.histogram buckets
    outbound_latency_us: tuple[int, ...] = ()
    inbound_latency_sum_us: float = 0.0  # the observations' sums (Prometheus `_sum`)
    outbound_latency_sum_us: float = 0.0
    model_reconnects: int = 0
    model_gap_ms: float | None = None
    tool_ms: tuple[ToolLatency, ...] = ()
    fillers: tuple[tuple[str, int], ...] = ()  # spoken fillers, by tool
    emergencies: int = 0  # times the caller was told to hang up and dial 911
    guardrails: tuple[tuple[str, int], ...] = ()  # answers cut (engine.advice_guard), by kind


class CallLifecycle(Protocol):
    async def call_ended(self, report: CallReport) -> None: ...
    async def calls_live(self, reports: Sequence[CallReport]) -> None:
        """The measurements so far of an actor's live calls (outcome `live`), every few
        seconds while they last."""
        ...


@dataclass(frozen=True, slots=True)
class CallSetup:
    """Everything a call actor needs for one call, handed over on claim."""

    call_sid: str
    tenant: TenantConfig
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    media_token: str = field(repr=False)
    memory_token: str = field(repr=False)
    webhook_ms: float | None = None
    attempt: int = 0  # > 0: this call resumes on a new actor after the previous one was lost


@dataclass(frozen=True, slots=True)
class AdmitRequest:
    """A signed Twilio webhook asking to start (or resume) a call, for the tenant's actor."""

    call_sid: str
    from_number: str = field(repr=False)
    to_number: str = field(repr=False)
    url: str
    params: dict[str, str] = field(repr=False)
    signature: str
    attempt: int = 0  # > 0: the resume number Postgres granted (memory.calls.claim_resume)


@dataclass(frozen=True, slots=True)
class Admission:
    """The tenant actor's answer to an AdmitRequest: a media URL and token when admitted."""

    kind: Literal["admitted", "forbidden", "refused", "full", "unavailable", "unknown"]
    media_url: str = ""
    media_token: str = field(default="", repr=False)
    record_calls: bool = False
    reason: str = ""
    overflow_to: str | None = field(default=None, repr=False)  # "full": the tenant's fallback
    overflow: OverflowChoice = "message"  # "full": what the caller gets (engine.overflow)
    queue_max_wait_s: int = 0  # overflow "queue": how long the caller may hold
    # A console test call: the media handshake's X-Twilio-Signature, made by the tenant actor
    # (which holds the auth token) for the ingress that opens the stream for the browser.
    handshake_signature: str = field(default="", repr=False)


class NodeFull(RuntimeError):
    """The call pool admits no new call: the node is full (engine.node_capacity). Live calls
    keep what they have; the new one gets its tenant's overflow."""


class TenantStore(Protocol):
    """Where a tenant actor loads its tenant's config from (the memory pool)."""

    async def load_tenant_config(self, token: str) -> TenantConfig | None: ...
    async def claim_recording(self, token: str, call_sid: str) -> bool: ...
    async def unclaim_recording(self, token: str, call_sid: str) -> None: ...
    async def decline_recording(self, token: str, call_sid: str) -> str | None: ...


class CallClaimer(Protocol):
    """Handing a warm call actor to a call (the call pool)."""

    async def claim(self, setup: CallSetup) -> str: ...
    async def room(self) -> int:
        """How many more calls the node admits now (0 when it is full)."""
        ...


class CallActorFactory(Protocol):
    """How the call pool starts, prepares, recycles and stops call actors."""

    def spawn(self, avoid: frozenset[str] = frozenset()) -> Any:
        """A new actor, away from the nodes in `avoid` (Ray node ids) when it can be."""
        ...

    async def start(self, handle: Any) -> MediaAddress: ...
    async def prepare(self, handle: Any, setup: CallSetup) -> str: ...
    async def recycle(self, handle: Any, call_sid: str) -> bool: ...
    async def alive(self, handle: Any) -> bool:
        """Whether the actor answers at once (its node may have died with a resumed call)."""
        ...

    def kill(self, handle: Any) -> None: ...
    async def shutdown(self, handle: Any, timeout: float) -> str | None:
        """End the actor's calls now (a drain's bound): each records its outcome."""


class TenantGateway(Protocol):
    """What the Serve ingress asks of a tenant's actor (the first argument names the tenant),
    and the call pool's numbers."""

    async def admit(self, tenant_id: str, request: AdmitRequest) -> Admission: ...
    async def resume(self, tenant_id: str, request: AdmitRequest) -> Admission: ...
    async def admit_test(self, tenant_id: str, call_sid: str) -> Admission: ...
    async def validate(
        self, tenant_id: str, url: str, params: dict[str, str], signature: str
    ) -> bool: ...
    async def release(self, tenant_id: str, call_sid: str) -> None: ...
    async def queue_wait(
        self, tenant_id: str, call_sid: str, queue_sid: str, since: int
    ) -> None: ...
    async def queue_left(self, tenant_id: str, call_sid: str) -> None: ...
    async def return_caller(self, tenant_id: str, call_sid: str) -> None: ...
    async def reload(self, tenant_id: str) -> None: ...
    async def fetch_recordings(self, tenant_id: str, recording_sids: list[str]) -> None: ...
    async def delete_recording(self, tenant_id: str, recording_sid: str) -> None: ...
    async def pool_stats(self) -> dict[str, Any]: ...
