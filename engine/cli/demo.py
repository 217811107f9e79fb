"""`neurosphere demo`: start everything offline, place one simulated call, print it. I/O: all
of the engine's, plus the simulated caller."""

from __future__ import annotations

import argparse
import asyncio
import time

from engine.cli import common


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.cli import scenario
    from engine.cli.runtime import start_engine
    from memory import tenants

    settings = common.settings()
    began = time.monotonic()
    engine = start_engine(settings)
    common.out(
        f"engine up in {time.monotonic() - began:.1f} s (Ray, Serve, Postgres, "
        f"{engine.config.warm_calls} warm call actors)"
    )
    try:
        tenant_id, token = asyncio.run(
            tenants.ensure_tenant(
                engine.database.app_url,
                engine_secret=engine.config.jwt_secret,
                name="Demo Insurance Agency",
                number=common.DEMO_NUMBER,
                auth_token=None,
                agent_name="Ava",
            )
        )

        engine.warm_tenants()

        async def call() -> scenario.CallReportView:
            if engine.simulator is not None:
                await scenario.register_lines(
                    engine.config.openai_base_url,
                    common.DEMO_CALLER,
                    scenario.DEMO_LINES,
                    scenario.DEMO_REPLIES,
                )
            return await scenario.place_and_read(
                webhook_base=engine.webhook_base,
                public_base_url=engine.config.public_base_url,
                auth_token=token,
                app_database_url=engine.database.app_url,
                tenant_id=tenant_id,
                from_number=common.DEMO_CALLER,
                to_number=common.DEMO_NUMBER,
                lines=scenario.DEMO_LINES,
            )

        view = asyncio.run(call())
        common.out(scenario.render(view))
        ok = (
            view.record is not None and view.record.outcome == "caller_hung_up" and bool(view.turns)
        )
    finally:
        engine.stop()
    return 0 if ok else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    demo = sub.add_parser(
        "demo", help="start everything offline, place one simulated call, print its transcript"
    )
    demo.set_defaults(func=cmd_demo)
