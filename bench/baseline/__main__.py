"""Run the baseline relay: `python -m bench.baseline --port P --openai-base-url URL`.

I/O: a uvicorn server on 127.0.0.1 (uvloop and httptools when installed, as uvicorn picks
them). Prints one `@bench` ready line for the bench driver, then serves until stopped.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
from collections.abc import Sequence

import uvicorn

from bench import control
from bench.baseline.relay import build_app


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--openai-base-url", required=True)
    parser.add_argument("--api-key", default="sk-baseline")
    parser.add_argument("--model", default="gpt-realtime")
    args = parser.parse_args(argv)
    app = build_app(
        openai_base_url=args.openai_base_url,
        api_key=args.api_key,
        model=args.model,
        media_ws_url=f"ws://{args.host}:{args.port}/media-stream",
    )
    config = uvicorn.Config(app, host=args.host, port=args.port, log_level="warning")
    server = uvicorn.Server(config)

    def stop_when_orphaned() -> None:  # the driver closed our stdin, or died
        for _ in sys.stdin:
            pass
        server.should_exit = True

    threading.Thread(target=stop_when_orphaned, daemon=True).start()
    control.reply({"ok": True, "pid": os.getpid(), "url": f"http://{args.host}:{args.port}"})
    server.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
