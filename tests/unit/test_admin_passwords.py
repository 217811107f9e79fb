"""Password policy and argon2id hashing: what is refused, what verifies, when to rehash."""

from __future__ import annotations

import asyncio
import hashlib
import time

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError

from admin_api.passwords import (
    DEFAULT_PARAMS,
    MAX_LENGTH,
    MIN_LENGTH,
    HashParams,
    PasswordRejected,
    Passwords,
    check_policy,
)

FAST = HashParams(time_cost=1, memory_kib=8 * 1024, parallelism=1)


@pytest.mark.parametrize(
    ("password", "reason"),
    [
        ("short-1A!", "at least 12"),
        ("x" * (MAX_LENGTH + 1), "at most 128"),
        ("password1234", "too common"),
        ("Password123!", "too common"),
        ("!!Qwerty2024", "too common"),
        ("qwertyqwerty", "too common"),
        ("123456789012", "too common"),
        ("zyxwvutsrqpo", "too common"),
        ("aaaaaaaaaaaaaaa", "too common"),
        ("abcabcabcabcabc", "too common"),
        ("iloveyou2025", "too common"),
        ("correct\x00horse battery", "control characters"),
        ("jane.doe.rocks.2031", "your email"),
    ],
)
def test_policy_refuses(password: str, reason: str) -> None:
    with pytest.raises(PasswordRejected, match=reason):
        check_policy(password, email="Jane.Doe@agency.example")


@pytest.mark.parametrize(
    "password",
    [
        "correct horse battery staple",
        "Tr0ub4dor&3-and-more",
        "x7#Kp2!vQz9m",  # exactly 12
        "".join(chr(0x430 + i % 32) + "ü" for i in range(32)),  # 64 non-ASCII characters
        hashlib.sha512(b"x").hexdigest(),  # 128 characters, the maximum
    ],
)
def test_policy_accepts(password: str) -> None:
    assert check_policy(password) == password


def test_bounds_meet_the_issue() -> None:
    assert MIN_LENGTH == 12
    assert MAX_LENGTH >= 64


def test_default_parameters_are_argon2id_within_owasp_guidance() -> None:
    # OWASP: argon2id with m >= 19 MiB and t >= 2, or m >= 46 MiB and t >= 1 (or stronger).
    p = DEFAULT_PARAMS
    assert (p.memory_kib >= 19 * 1024 and p.time_cost >= 2) or (
        p.memory_kib >= 46 * 1024 and p.time_cost >= 1
    )
    assert p.parallelism >= 1
    stored = PasswordHasher(
        time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism, type=Type.ID
    ).hash("x" * 12)
    assert stored.startswith(f"$argon2id$v=19$m={p.memory_kib},t={p.time_cost},p={p.parallelism}$")


async def test_hash_and_verify() -> None:
    passwords = Passwords(FAST)
    stored = await passwords.hash("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert await passwords.verify(stored, "correct horse battery")
    assert not await passwords.verify(stored, "correct horse batterY")
    assert not await passwords.verify("not-a-hash", "correct horse battery")


async def test_unknown_account_verifies_against_a_dummy_and_says_no() -> None:
    passwords = Passwords(FAST)
    assert not await passwords.verify(None, "anything at all here")


async def test_nfkc_equivalent_passwords_match() -> None:
    passwords = Passwords(FAST)
    stored = await passwords.hash("ｆｕｌｌｗｉｄｔｈ ｐａｓｓ")
    assert await passwords.verify(stored, "fullwidth pass")


async def test_rehash_when_parameters_change() -> None:
    old = Passwords(FAST)
    stored = await old.hash("correct horse battery")
    new = Passwords(HashParams(time_cost=2, memory_kib=8 * 1024, parallelism=1))
    assert await new.verify(stored, "correct horse battery")  # old hashes still verify
    assert new.needs_rehash(stored)
    assert not new.needs_rehash(await new.hash("correct horse battery"))
    assert new.needs_rehash("garbage")


async def test_hashing_runs_off_the_event_loop() -> None:
    passwords = Passwords(HashParams(time_cost=2, memory_kib=32 * 1024, parallelism=1))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.get_running_loop().create_task(ticker())
    began = time.perf_counter()
    await passwords.hash("correct horse battery")
    elapsed = time.perf_counter() - began
    task.cancel()
    # The loop kept ticking while the hash ran in a thread.
    assert ticks >= max(1, int(elapsed / 0.005) // 4)


def test_argon2_refuses_garbage_hashes_as_invalid() -> None:
    with pytest.raises(InvalidHashError):
        PasswordHasher().check_needs_rehash("garbage")
