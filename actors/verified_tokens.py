"""Memory-audience tokens this process has already verified, kept until they expire.

A call sends the same token with every write (a turn batch every 0.25 s), and checking its
signature, audience, issuer and claims again each time was about a tenth of a turn write's CPU.
A token string is verified in full the first time; afterwards the same string maps to its
tenant until its `exp` (a cached token is never honoured past it: the next use verifies again,
which refuses it as today). Only tokens that verified are kept; the cache is bounded (expired
entries are dropped first, then everything). The key ring is the process's own (one secret)
and never changes, so a signature once good stays good. pyjwt is imported on first use only
(Ray imports the memory actor's module in every call actor).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.tokens import Claims, KeyRing

MAX_TOKENS = 4096


class VerifiedTokens:
    def __init__(
        self,
        secret: str,
        *,
        max_tokens: int = MAX_TOKENS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._ring: KeyRing | None = None
        self._max = max_tokens
        self._clock = clock
        self._claims: dict[str, Claims] = {}

    def ready(self) -> KeyRing:
        """The key ring, made (and pyjwt imported) now if it is not yet."""
        if self._ring is None:
            from engine.tokens import KeyRing

            self._ring = KeyRing.single(self._secret)
        return self._ring

    def tenant(self, token: str) -> str:
        """The tenant of a valid memory-audience token; TokenError otherwise."""
        now = self._clock()
        claims = self._claims.get(token)
        if claims is not None and now < claims.expires_at:
            return claims.tenant_id
        from engine.tokens import MEMORY_AUDIENCE, verify

        claims = verify(self.ready(), token, audience=MEMORY_AUDIENCE)
        if len(self._claims) >= self._max:
            self._claims = {t: c for t, c in self._claims.items() if now < c.expires_at}
            if len(self._claims) >= self._max:
                self._claims.clear()
        self._claims[token] = claims
        return claims.tenant_id
