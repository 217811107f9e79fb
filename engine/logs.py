"""structlog configuration: JSON in production, console in dev, PII redaction. No I/O beyond
the log stream itself.

Phone numbers, transcripts, prompts and tool arguments are logged only under keys prefixed
`pii_`; in production (`redact_pii=True`) their values are replaced before anything is written.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

PII_PREFIX = "pii_"


def redact_pii(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        if key.startswith(PII_PREFIX):
            event[key] = "[redacted]"
    return event


def configure_actor(config: Any) -> None:
    """Configure an actor's process like the driver's, from its frozen EngineConfig (JSON when
    JSON is on, production's PII redaction). Called first in every actor's constructor: Ray
    starts actors in fresh worker processes that never ran the driver's configuration. A process
    already configured (the driver, a test capturing logs, an actor built in-process) is left as
    it is, so building an actor never replaces its process's logging."""
    if structlog.is_configured():
        return
    configure(config.log_format, redact=config.redact_pii)


def configure(fmt: str = "console", *, redact: bool = False, level: int = logging.INFO) -> None:
    """Configure structlog for this process (driver or actor). Idempotent."""
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if redact:
        processors.append(redact_pii)
    if fmt == "json":
        processors += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer()]
    else:
        processors.append(structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        # sys.stderr looked up per logger, not bound once: a stream replaced later (a test's
        # capture) is never written to after it is closed
        logger_factory=lambda *_: structlog.PrintLogger(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
