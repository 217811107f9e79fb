"""Admin passwords: the policy (length, common passwords) and argon2id hashing off the event loop.

Parameters: argon2id, t=3, m=64 MiB, p=1 - above OWASP's minimums (m=19 MiB t=2, or m=46 MiB
t=1) and about 160 ms per hash on the 2-core reference machine (bench/admin_api.py measures
it). A hash made with other parameters still verifies, and `needs_rehash` says to store a new
one at the next successful login.

Hashing runs in worker threads (argon2-cffi releases the GIL), at most `max_parallel` at once:
more than the cores buys no throughput, and each one holds `memory_kib` of RAM while it runs.

Unknown accounts cost the same as known ones: `verify(None, password)` checks the password
against a dummy hash made with the same parameters, and says no.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from admin_api.common_passwords import COMMON_PASSWORDS

MIN_LENGTH = 12
MAX_LENGTH = 128


@dataclass(frozen=True, slots=True)
class HashParams:
    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 1


DEFAULT_PARAMS = HashParams()


class PasswordRejected(ValueError):
    """A password the policy refuses; the message says why."""


def normalize(password: str) -> str:
    """NFKC form: the same password typed on two keyboards hashes the same."""
    return unicodedata.normalize("NFKC", password)


_SUFFIX = re.compile(r"[\d\W_]+$")
_PREFIX = re.compile(r"^[\d\W_]+")


_RUNS = (
    "01234567890123456789012345678901234567890",
    "09876543210987654321098765432109876543210",
    "abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
    "qwertyuiopasdfghjklzxcvbnmqwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)


def _is_common(lowered: str) -> bool:
    if lowered in COMMON_PASSWORDS:
        return True
    core = _PREFIX.sub("", _SUFFIX.sub("", lowered))
    if core in COMMON_PASSWORDS:
        return True  # a common word with digits or symbols around it: "Password123!"
    if any(lowered in run or lowered in run[::-1] for run in _RUNS):
        return True  # a keyboard or counting run: "123456789012", "qwertyuiopas"
    for size in range(1, 6):  # a short unit repeated: "abcabcabcabc", "aaaaaaaaaaaa"
        if len(lowered) % size == 0 and lowered[:size] * (len(lowered) // size) == lowered:
            return True
    half = len(lowered) // 2  # a common word twice: "qwertyqwerty"
    return (
        len(lowered) % 2 == 0
        and lowered[:half] == lowered[half:]
        and (lowered[:half] in COMMON_PASSWORDS)
    )


def check_policy(password: str, *, email: str | None = None) -> str:
    """The normalized password, or PasswordRejected saying what is wrong with it."""
    value = normalize(password)
    if len(value) < MIN_LENGTH:
        raise PasswordRejected(f"password must be at least {MIN_LENGTH} characters")
    if len(value) > MAX_LENGTH:
        raise PasswordRejected(f"password must be at most {MAX_LENGTH} characters")
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise PasswordRejected("password must not contain control characters")
    lowered = value.lower()
    if _is_common(lowered):
        raise PasswordRejected("password is too common; choose a longer, less predictable one")
    if email is not None:
        local = email.split("@", 1)[0].lower()
        if len(local) >= 4 and local in lowered:
            raise PasswordRejected("password must not contain your email address")
    return value


class Passwords:
    """argon2id hashing and verification in worker threads, bounded in parallelism."""

    def __init__(self, params: HashParams = DEFAULT_PARAMS, *, max_parallel: int | None = None):
        self.params = params
        self._hasher = PasswordHasher(
            time_cost=params.time_cost,
            memory_cost=params.memory_kib,
            parallelism=params.parallelism,
            hash_len=32,
            salt_len=16,
            type=Type.ID,
        )
        self._slots = asyncio.Semaphore(max_parallel or max(1, os.cpu_count() or 1))
        self._dummy = self._hasher.hash(secrets.token_urlsafe(32))

    async def hash(self, password: str) -> str:
        async with self._slots:
            return await asyncio.to_thread(self._hasher.hash, normalize(password))

    def _verify(self, stored: str, password: str) -> bool:
        try:
            return self._hasher.verify(stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    async def verify(self, stored: str | None, password: str) -> bool:
        """True when `password` matches `stored`; None (no such account) costs the same."""
        candidate = normalize(password)[: MAX_LENGTH * 4]
        async with self._slots:
            ok = await asyncio.to_thread(self._verify, stored or self._dummy, candidate)
        return ok and stored is not None

    def needs_rehash(self, stored: str) -> bool:
        try:
            return self._hasher.check_needs_rehash(stored)
        except InvalidHashError:
            return True
