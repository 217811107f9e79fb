"""`neurosphere admin create|list`: platform admin accounts. There are no default accounts;
`create` is how the first one comes to be. I/O: the terminal (password) and the database."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import re
import sys
from datetime import datetime

from engine.cli import common

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s]{1,60}$")


def _read_password() -> str:
    """Prompted twice on a terminal (never echoed); otherwise the first line of stdin."""
    if sys.stdin.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Repeat password: ") != first:
            raise SystemExit("error: the passwords do not match")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def cmd_create(args: argparse.Namespace) -> int:
    from admin_api.passwords import PasswordRejected, Passwords, check_policy
    from memory.users import EmailTaken

    settings = common.settings()
    email = args.email.strip().lower()
    if not EMAIL.match(email):
        common.err(f"error: {args.email!r} is not an email address")
        return 2
    try:
        password = check_policy(_read_password(), email=email)
    except PasswordRejected as exc:
        common.err(f"error: {exc}")
        return 2

    async def run() -> str:
        from memory import users
        from memory.audit import Actor

        async with common.app_pool(settings) as pool:
            if await users.find_login(pool, email) is not None:
                raise EmailTaken("an account with this email already exists")
            new = users.NewUser(
                tenant_id=None,
                email=email,
                role="platform_admin",
                password_hash=await Passwords().hash(password),
            )
            created = await users.create_user(pool, new, Actor(None, "cli"))
            return created.user_id

    try:
        user_id = asyncio.run(run())
    except EmailTaken as exc:
        common.err(f"error: {exc}")
        return 2
    common.out(f"platform admin {email} created (user {user_id}); log in at /api/v1/auth/login")
    return 0


def _when(moment: datetime | None) -> str:
    return moment.isoformat(timespec="seconds") if moment is not None else "-"


def cmd_list(args: argparse.Namespace) -> int:
    settings = common.settings()

    async def run() -> list[str]:
        from memory import users

        async with common.app_pool(settings) as pool:
            found = await users.list_users(pool, None)
        return [
            f"{u.user_id}  {u.email:<32} {'disabled' if u.disabled_at else 'active':<8} "
            f"last login {_when(u.last_login_at)}"
            for u in found
        ]

    lines = asyncio.run(run())
    for line in lines:
        common.out(line)
    common.out(f"{len(lines)} platform admin(s)")
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    admin = sub.add_parser("admin", help="platform admin accounts of the admin API")
    actions = admin.add_subparsers(dest="action", required=True)
    create = actions.add_parser(
        "create", help="create a platform admin (password prompted, or read from stdin)"
    )
    create.add_argument("--email", required=True, help="the new admin's email (their login)")
    create.set_defaults(func=cmd_create)
    listing = actions.add_parser("list", help="every platform admin: id, email, status, last login")
    listing.set_defaults(func=cmd_list)
