"""Settings from the environment: aliases, URL shapes, the JWT secret rules, the engine config."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.config import DEFAULT_OPENAI_BASE_URL, EngineConfig, MediaAddress
from engine.settings import ConfigError, Settings, engine_config, load_settings

STRONG_SECRET = "k" * 32


def load() -> Settings:
    return Settings.model_validate({})


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(data))
    return data


def test_defaults(data_dir: Path) -> None:
    s = load()
    assert s.env == "dev"
    assert s.data_dir == data_dir
    assert s.database_url is None
    assert s.openai_api_key is None
    assert s.jwt_secret is None
    assert s.openai_base_url == DEFAULT_OPENAI_BASE_URL
    assert s.realtime_model == "gpt-realtime"
    assert s.public_url() == "http://127.0.0.1:8000"
    assert s.media_public_url == "ws://127.0.0.1:{port}/stream/{call_sid}"
    assert s.media_port_range() == (20000, 20999)
    assert (s.warm_calls, s.calls_per_actor, s.call_slots, s.memory_actors) == (100, 50, None, 2)
    assert s.node_call_slots() == 50 * (os.cpu_count() or 1)
    assert s.admit_cpu is None
    assert s.log_format == "console"


def test_the_defaults_run_a_call_process_per_core() -> None:
    """A node's default slots fill one call actor per core. Split finer, each process wakes up
    for fewer frames at a time and a call costs more CPU (bench/README.md, tenth round)."""
    s = load()
    cores = os.cpu_count() or 1
    assert s.node_call_slots() == cores * s.calls_per_actor
    assert s.ray_call_slots() == (cores + 1) * s.calls_per_actor  # and a spare actor's for Ray


def test_environment_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "NEUROSPHERE_ENV": "production",
        "DATABASE_URL": "postgresql://admin:pw@db/ns",
        "NEUROSPHERE_APP_DATABASE_URL": "postgresql://app:pw@db/ns",
        "OPENAI_API_KEY": "sk-test-123",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "NEUROSPHERE_REALTIME_MODEL": "gpt-realtime-mini",
        "TWILIO_ACCOUNT_SID": "AC123",
        "TWILIO_AUTH_TOKEN": "twilio-token-abc",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:7",
        "ELEVENLABS_API_KEY": "el-key",
        "PUBLIC_BASE_URL": "https://app.example.com/",
        "MEDIA_PUBLIC_URL": "wss://media.example.com:{port}/stream/{call_sid}",
        "NEUROSPHERE_MEDIA_HOST": "0.0.0.0",
        "NEUROSPHERE_MEDIA_PORTS": "30000-30009",
        "NEUROSPHERE_HTTP_HOST": "0.0.0.0",
        "NEUROSPHERE_HTTP_PORT": "9000",
        "RAY_ADDRESS": "auto",
        "NEUROSPHERE_WARM_CALLS": "7",
        "NEUROSPHERE_CALL_SLOTS": "40",
        "NEUROSPHERE_MEMORY_ACTORS": "3",
        "NEUROSPHERE_JWT_SECRET": STRONG_SECRET,
        "NEUROSPHERE_LOG_FORMAT": "json",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    s = load()
    assert s.env == "production"
    assert s.database_url is not None
    assert s.database_url.get_secret_value() == "postgresql://admin:pw@db/ns"
    assert s.app_database_url is not None
    assert s.app_database_url.get_secret_value() == "postgresql://app:pw@db/ns"
    assert s.openai_api_key is not None
    assert s.openai_api_key.get_secret_value() == "sk-test-123"
    assert s.openai_base_url == "http://127.0.0.1:9/v1"
    assert s.realtime_model == "gpt-realtime-mini"
    assert s.twilio_account_sid == "AC123"
    assert s.twilio_auth_token is not None
    assert s.twilio_auth_token.get_secret_value() == "twilio-token-abc"
    assert s.twilio_api_base_url == "http://127.0.0.1:7"
    assert s.elevenlabs_api_key is not None
    assert s.elevenlabs_api_key.get_secret_value() == "el-key"
    assert s.public_url() == "https://app.example.com"  # trailing slash dropped
    assert s.media_public_url == "wss://media.example.com:{port}/stream/{call_sid}"
    assert s.media_bind_host == "0.0.0.0"
    assert s.media_port_range() == (30000, 30009)
    assert (s.http_host, s.http_port) == ("0.0.0.0", 9000)
    assert s.ray_address == "auto"
    assert (s.warm_calls, s.call_slots, s.memory_actors) == (7, 40, 3)
    assert s.resolved_jwt_secret() == STRONG_SECRET
    assert s.log_format == "json"


def test_environment_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("neurosphere_warm_calls", "9")
    assert load().warm_calls == 9


def test_secrets_do_not_show_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-very-secret")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    text = repr(load())
    assert "sk-very-secret" not in text
    assert STRONG_SECRET not in text


@pytest.mark.parametrize(
    "url",
    [
        "ws://127.0.0.1:{port}/stream",
        "wss://media.example.com/stream/{call_sid}",
        "wss://media.example.com/{host}/{port}/stream/{call_sid}",
    ],
)
def test_media_url_accepted(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MEDIA_PUBLIC_URL", url)
    if "{call_sid}" not in url:  # one call per actor: its port alone names the call
        monkeypatch.setenv("NEUROSPHERE_CALLS_PER_ACTOR", "1")
    assert load().media_public_url == url


@pytest.mark.parametrize(
    "url",
    [
        "https://media.example.com/stream",
        "http://127.0.0.1:{port}/stream",
        "wss://media.example.com/stream?call={call_sid}",
        "media.example.com/stream",
        "",
    ],
)
def test_media_url_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("MEDIA_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match="MEDIA_PUBLIC_URL must be a ws:// or wss:// URL"):
        load()


@pytest.mark.parametrize(
    "url",
    [
        "wss://media.example.com/{node}/{port}/stream/{call_sid}",
        "wss://media.example.com/{port/stream/{call_sid}",
        "wss://media.example.com/{0}/stream",
    ],
)
def test_media_url_with_unknown_placeholders_refused(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("MEDIA_PUBLIC_URL", url)
    with pytest.raises(ValidationError, match=r"MEDIA_PUBLIC_URL may use only \{host\}"):
        load()


def test_media_url_names_the_node_of_the_call_actor() -> None:
    config = EngineConfig(
        app_database_url="postgresql://app@db/ns",
        jwt_secret=STRONG_SECRET,
        media_public_url="wss://media.example.com/{host}/{port}/stream/{call_sid}",
    )
    one = config.media_url(MediaAddress("10.0.1.17", 20001), "CA1")
    other = config.media_url(MediaAddress("10.0.2.9", 20001), "CA2")
    assert one == "wss://media.example.com/10.0.1.17/20001/stream/CA1"
    assert other == "wss://media.example.com/10.0.2.9/20001/stream/CA2"


def test_public_base_url_must_be_http(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLIC_BASE_URL", "ftp://example.com")
    with pytest.raises(ValidationError, match="PUBLIC_BASE_URL must be an http"):
        load()


def test_public_url_unset_follows_the_webhook_port(monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve --port 9100` (or NEUROSPHERE_HTTP_PORT) without PUBLIC_BASE_URL: what Twilio is
    told to call, and what signatures are checked on, is that port - not 8000."""
    monkeypatch.setenv("NEUROSPHERE_HTTP_PORT", "9100")
    assert load().public_url() == "http://127.0.0.1:9100"
    moved = load().model_copy(update={"http_host": "::1", "http_port": 9200})
    assert moved.public_url() == "http://[::1]:9200"
    assert engine_config(moved, "postgresql://a@b/c").public_base_url == "http://[::1]:9200"
    monkeypatch.setenv("PUBLIC_BASE_URL", "https://voice.example.com/")
    assert load().model_copy(update={"http_port": 9200}).public_url() == (
        "https://voice.example.com"
    )


@pytest.mark.parametrize(
    ("env", "name"), [("NEUROSPHERE_ENV", "staging"), ("NEUROSPHERE_LOG_FORMAT", "xml")]
)
def test_literal_fields_are_checked(monkeypatch: pytest.MonkeyPatch, env: str, name: str) -> None:
    monkeypatch.setenv(env, name)
    with pytest.raises(ValidationError):
        load()


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("NEUROSPHERE_WARM_CALLS", "-1"),
        ("NEUROSPHERE_MEMORY_ACTORS", "65"),
        ("NEUROSPHERE_CALL_SLOTS", "0"),
    ],
)
def test_numeric_bounds(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        load()


@pytest.mark.parametrize(
    ("ports", "expected"), [("20000-20999", (20000, 20999)), ("25000", (25000, 25000))]
)
def test_media_port_range(
    monkeypatch: pytest.MonkeyPatch, ports: str, expected: tuple[int, int]
) -> None:
    monkeypatch.setenv("NEUROSPHERE_MEDIA_PORTS", ports)
    assert load().media_port_range() == expected


@pytest.mark.parametrize("ports", ["80-90", "30000-20000", "60000-70000", "a-b", "20000-x"])
def test_media_port_range_refused(monkeypatch: pytest.MonkeyPatch, ports: str) -> None:
    monkeypatch.setenv("NEUROSPHERE_MEDIA_PORTS", ports)
    with pytest.raises(ValidationError, match="NEUROSPHERE_MEDIA_PORTS"):
        load()


# --- the JWT secret ---------------------------------------------------------------------------


def test_production_refuses_a_missing_secret(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path
) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    with pytest.raises(ValueError, match="must be set in production"):
        load().resolved_jwt_secret()
    assert not data_dir.exists()  # nothing generated


@pytest.mark.parametrize("secret", ["changeme", "CHANGEME", "secret", "password", "x" * 31])
def test_production_refuses_placeholder_or_short_secrets(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", secret)
    with pytest.raises(ValueError, match="placeholder or shorter than 32"):
        load().resolved_jwt_secret()


def test_production_accepts_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    assert load().resolved_jwt_secret() == STRONG_SECRET


def test_dev_uses_a_given_secret_as_is(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", "changeme")
    assert load().resolved_jwt_secret() == "changeme"
    assert not data_dir.exists()


def test_dev_generates_and_persists_a_secret(data_dir: Path) -> None:
    first = load().resolved_jwt_secret()
    path = data_dir / "jwt_secret"
    assert path.read_text() == first
    assert len(first) >= 64
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    # A new process (new Settings) reads the same secret back.
    assert load().resolved_jwt_secret() == first


def test_dev_secrets_differ_perdata_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, data_dir: Path
) -> None:
    first = load().resolved_jwt_secret()
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(tmp_path / "other"))
    assert load().resolved_jwt_secret() != first


def test_dev_reads_a_secret_file_with_a_trailing_newline(data_dir: Path) -> None:
    data_dir.mkdir()
    secret = "s" * 40
    (data_dir / "jwt_secret").write_text(secret + "\n")
    assert load().resolved_jwt_secret() == secret


def test_dev_refuses_an_unusable_secret_file(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "jwt_secret").write_text("short\n")
    with pytest.raises(ValueError, match="no usable JWT secret"):
        load().resolved_jwt_secret()


@pytest.mark.parametrize("name", ["OPENAI_API_KEY", "TWILIO_AUTH_TOKEN"])
def test_production_refuses_placeholder_api_secrets(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv(name, "changeme")
    assert load().problems() == []  # dev: allowed
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abc")
    monkeypatch.setenv(name, "changeme")
    assert load().problems() == [f"{name} is a placeholder value"]


def test_production_accepts_real_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-abc")
    assert load().problems() == []
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "0123456789abcdef")
    assert load().problems() == []


def test_production_refuses_to_run_without_an_openai_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    (problem,) = load().problems()
    assert problem.startswith("OPENAI_API_KEY must be set in production")


def test_every_problem_is_listed_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("DATABASE_URL", "postgresql://owner@db/ns")
    problems = load().problems()
    assert [p.split(" ", 1)[0] for p in problems] == [
        "NEUROSPHERE_JWT_SECRET",
        "NEUROSPHERE_APP_DATABASE_URL",
        "OPENAI_API_KEY",
    ]


def test_load_settings_names_each_bad_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_WARM_CALLS", "many")
    monkeypatch.setenv("NEUROSPHERE_MEDIA_PORTS", "20000-x")
    monkeypatch.setenv("NEUROSPHERE_HTTP_PORT", "70000")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert sorted(re.split(r"[: ]", p, maxsplit=1)[0] for p in caught.value.problems) == [
        "NEUROSPHERE_HTTP_PORT",
        "NEUROSPHERE_MEDIA_PORTS",
        "NEUROSPHERE_WARM_CALLS",
    ]
    assert all("\n" not in p for p in caught.value.problems)


# --- engine_config ----------------------------------------------------------------------------


def test_engine_config_copies_fields(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    for key, value in {
        "NEUROSPHERE_JWT_SECRET": STRONG_SECRET,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "NEUROSPHERE_REALTIME_MODEL": "gpt-realtime-mini",
        "PUBLIC_BASE_URL": "https://app.example.com",
        "MEDIA_PUBLIC_URL": "wss://media.example.com:{port}/s/{call_sid}",
        "NEUROSPHERE_MEDIA_HOST": "0.0.0.0",
        "NEUROSPHERE_MEDIA_PORTS": "30000-30009",
        "TWILIO_API_BASE_URL": "http://127.0.0.1:7",
        "TWILIO_ACCOUNT_SID": "AC1",
        "TWILIO_AUTH_TOKEN": "tok",
        "NEUROSPHERE_WARM_CALLS": "2",
        "NEUROSPHERE_MEMORY_ACTORS": "5",
        "NEUROSPHERE_LOG_FORMAT": "json",
    }.items():
        monkeypatch.setenv(key, value)
    config = engine_config(load(), "postgresql://app@db/ns")
    assert config == EngineConfig(
        app_database_url="postgresql://app@db/ns",
        jwt_secret=STRONG_SECRET,
        openai_base_url="http://127.0.0.1:9/v1",
        openai_api_key="sk-test",
        realtime_model="gpt-realtime-mini",
        public_base_url="https://app.example.com",
        media_public_url="wss://media.example.com:{port}/s/{call_sid}",
        media_bind_host="0.0.0.0",
        media_port_range=(30000, 30009),
        twilio_api_base_url="http://127.0.0.1:7",
        twilio_account_sid="AC1",
        twilio_auth_token="tok",
        warm_calls=2,
        calls_per_actor=50,
        call_capacity=50 * (os.cpu_count() or 1),
        memory_actors=5,
        log_format="json",
        recordings_dir=str((data_dir / "recordings").resolve()),
        spool_dir=str((data_dir / "spool").resolve()),
    )
    assert config.media_url(MediaAddress("10.0.0.7", 30001), "CA9") == (
        "wss://media.example.com:30001/s/CA9"
    )
    for secret in (STRONG_SECRET, "sk-test", "postgresql://app@db/ns"):
        assert secret not in repr(config)


def test_recordings_dir_defaults_under_the_data_dir_or_is_set(
    monkeypatch: pytest.MonkeyPatch, data_dir: Path, tmp_path: Path
) -> None:
    assert engine_config(load(), "postgresql://a@b/c").recordings_dir == str(
        (data_dir / "recordings").resolve()
    )
    monkeypatch.setenv("NEUROSPHERE_RECORDINGS_DIR", str(tmp_path / "rec"))
    assert engine_config(load(), "postgresql://a@b/c").recordings_dir == str(tmp_path / "rec")


def test_engine_config_with_absent_secrets(data_dir: Path) -> None:
    config = engine_config(load(), "postgresql://app@db/ns")
    assert config.openai_api_key is None
    assert config.twilio_auth_token is None
    assert config.jwt_secret == (data_dir / "jwt_secret").read_text()


def test_engine_config_refuses_a_production_placeholder(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", "changeme")
    with pytest.raises(ValueError, match="placeholder"):
        engine_config(load(), "postgresql://app@db/ns")


def test_a_call_actor_must_fit_the_nodes_slots(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEUROSPHERE_CALL_SLOTS", "20")
    with pytest.raises(ValidationError, match=r"NEUROSPHERE_CALL_SLOTS \(20\) is below"):
        load()
    monkeypatch.setenv("NEUROSPHERE_CALLS_PER_ACTOR", "20")
    assert load().node_call_slots() == 20
    monkeypatch.setenv("RAY_ADDRESS", "ray://head:10001")  # a cluster's nodes say for themselves
    monkeypatch.setenv("NEUROSPHERE_CALLS_PER_ACTOR", "25")
    assert load().calls_per_actor == 25
