"""Request and response bodies of /webhook-endpoints and /deliveries."""

from __future__ import annotations

from datetime import datetime
from ipaddress import ip_address
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, StringConstraints

from admin_api.schemas.common import Phone, PublicModel, RequestModel, clean_text
from memory.outbox import EventType

DeliveryStatus = Literal["pending", "running", "delivered", "dead"]
_LOOPBACK_NAMES = frozenset({"localhost"})


def _loopback(host: str) -> bool:
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint_url(value: str) -> str:
    """HTTPS, no credentials in the URL; plain HTTP only to this machine (tests, the demo)."""
    parts = urlsplit(value)
    host = parts.hostname or ""
    if not host:
        raise ValueError("must be an absolute URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the body is signed instead")
    if parts.fragment:
        raise ValueError("must not have a fragment")
    if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(host)):
        raise ValueError("must be https:// (http:// only to localhost)")
    return value


EndpointUrl = Annotated[
    str,
    StringConstraints(min_length=8, max_length=2000, strip_whitespace=True),
    AfterValidator(clean_text),
    AfterValidator(check_endpoint_url),
]


class EndpointCreate(RequestModel):
    url: EndpointUrl
    events: list[EventType] = Field(
        default_factory=list, max_length=5, description="Empty: every event."
    )


class EndpointPublic(PublicModel):
    endpoint_id: str
    url: str
    events: list[EventType]
    enabled: bool
    created_at: datetime


class EndpointCreated(EndpointPublic):
    secret: str = Field(
        description="The signing secret: shown once, here. Verify `NeuroSphere-Signature: "
        't=<unix>,v1=<hex>` as HMAC-SHA256(secret, "<t>.<raw body>").'
    )


class AttemptPublic(PublicModel):
    at: datetime
    duration_ms: float
    status_code: int | None
    error: str | None


class DeliveryPublic(PublicModel):
    delivery_id: str
    event_id: str
    event_type: str
    destination: str
    status: DeliveryStatus
    attempts: int
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    next_attempt_at: datetime | None


class DeliveryDetail(DeliveryPublic):
    payload: str = Field(description="The exact body sent (JSON).")
    history: list[AttemptPublic]


StaffTextEvent = Literal["message.taken", "call.analyzed"]


def _message_taken() -> list[StaffTextEvent]:
    return ["message.taken"]


class StaffTextSet(RequestModel):
    number: Phone
    events: list[StaffTextEvent] = Field(default_factory=_message_taken, min_length=1, max_length=2)


class StaffTextPublic(PublicModel):
    number: str
    events: list[str]
    created_at: datetime


class OptOutPublic(PublicModel):
    number: str
    opted_out_at: datetime


NotionId = Annotated[str, StringConstraints(pattern=r"^[0-9a-fA-F-]{32,36}$")]


class NotionLinkSet(RequestModel):
    token: Annotated[
        str, StringConstraints(min_length=10, max_length=200), AfterValidator(clean_text)
    ] = Field(description="The integration's internal token; stored sealed, never shown again.")
    callers_database_id: NotionId
    calls_database_id: NotionId
    messages_database_id: NotionId
    tasks_database_id: NotionId


class NotionLinkPublic(PublicModel):
    callers_database_id: str
    calls_database_id: str
    messages_database_id: str
    tasks_database_id: str
    enabled: bool
    updated_at: datetime
