"""`neurosphere serve`: run the engine for real Twilio traffic until SIGTERM or Ctrl-C. I/O: all
of the engine's (see engine.cli.runtime)."""

from __future__ import annotations

import argparse
import signal
import threading

from engine.cli import common


def cmd_serve(args: argparse.Namespace) -> int:
    from engine.cli.runtime import start_engine

    settings = common.settings()
    overrides = {"http_host": args.host, "http_port": args.port}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    if settings.openai_api_key is None:
        common.out("!" * 78)
        common.out("!! OPENAI_API_KEY is not set: calls go to the OFFLINE REALTIME SIMULATOR.")
        common.out("!! Callers will hear synthetic audio, not a real AI agent.")
        common.out("!" * 78)
    engine = start_engine(settings, dashboard=not args.no_dashboard, actor_logs=True)
    public = settings.public_url()
    common.out(f"Webhook URL for your Twilio number (A call comes in): {public}/twilio/voice")
    common.out(f"Status callback URL: {public}/twilio/status")
    common.out(f"Listening on {engine.webhook_base}; health at {engine.webhook_base}/healthz")
    if any(engine.reconciled.values()):
        r = engine.reconciled
        common.out(
            f"calls left open by an earlier crash: {r.get('closed', 0)} closed from Twilio's"
            f" record, {r.get('hung_up', 0)} hung up, {r.get('live', 0)} still live (left to"
            f" resume), {r.get('failed', 0)} not checked (Twilio could not be asked)"
        )
    if engine.dashboard_url:
        common.out(f"Ray dashboard (localhost only): {engine.dashboard_url}")
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    common.out(
        f"draining: no new calls; live calls may go on for up to {settings.drain_timeout_s:.0f} s"
        " (NEUROSPHERE_DRAIN_TIMEOUT_S), then they are ended"
    )
    result = engine.drain()
    common.out(
        f"drained: {result['live']} live call(s), {result['finished']} finished, "
        f"{result['ended']} ended at the bound; shutting down"
    )
    engine.stop()
    return 0


def _port(value: str) -> int:
    port = int(value)
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a TCP port (1-65535)")
    return port


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    serve = sub.add_parser(
        "serve", help="run the engine for real Twilio traffic (until SIGTERM or Ctrl-C)"
    )
    serve.add_argument(
        "--host",
        help="address the webhook port binds (default NEUROSPHERE_HTTP_HOST, 127.0.0.1; "
        "put a TLS proxy in front)",
    )
    serve.add_argument(
        "--port", type=_port, help="the webhook port (default NEUROSPHERE_HTTP_PORT, 8000)"
    )
    serve.add_argument("--no-dashboard", action="store_true", help="do not start the Ray dashboard")
    serve.set_defaults(func=cmd_serve)
