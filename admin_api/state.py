"""What the admin API holds per Serve replica: the key ring, the password hasher, the login
rate limits (counted in Postgres, so shared by all replicas: admin_api.ratelimit) and the
recordings store it serves files from. I/O: none at construction beyond hashing the dummy
password. It holds no Twilio credentials and downloads nothing: recordings are fetched by the
tenant's actor (actors.recording_downloads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from admin_api.passwords import Passwords
from admin_api.ratelimit import Limit, SharedLimits
from engine.config import EngineConfig
from engine.tokens import KeyRing
from memory import login_throttle
from memory.recording_files import RecordingStore


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    access_ttl_s: int = 15 * 60
    refresh_ttl_s: int = 24 * 3600  # a refresh token unused for a day expires
    session_ttl_s: int = 7 * 24 * 3600  # log in again after a week, whatever happens
    lock_after: int = 5  # failures before the first lock
    base_lock_s: int = 30  # doubling with each further failure
    max_lock_s: int = 3600
    # Failures older than this are forgotten; memory actor 0 prunes rows past this default.
    failure_window_s: int = login_throttle.FAILURE_WINDOW_S
    login_per_ip: int = 30  # per minute
    login_per_account: int = 10  # per minute
    refresh_per_ip: int = 120  # per minute

    def __post_init__(self) -> None:
        if self.failure_window_s > login_throttle.FAILURE_WINDOW_S:
            # The prune would forget failures this policy still counts.
            raise ValueError("failure_window_s must not exceed login_throttle.FAILURE_WINDOW_S")


class AdminState:
    def __init__(
        self,
        config: EngineConfig,
        *,
        passwords: Passwords | None = None,
        policy: AuthPolicy | None = None,
    ) -> None:
        self.config = config
        self.policy = policy or AuthPolicy()
        self.ring = KeyRing.single(config.jwt_secret)
        self.passwords = passwords or Passwords()
        self.limits = SharedLimits(config.jwt_secret)
        self.login_by_ip = Limit("login-ip", self.policy.login_per_ip, 60)
        self.login_by_account = Limit("login-account", self.policy.login_per_account, 60)
        self.refresh_by_ip = Limit("refresh-ip", self.policy.refresh_per_ip, 60)
        self.recordings = RecordingStore(Path(config.recordings_dir))
