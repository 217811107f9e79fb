"""The command line's surface: configuration mistakes are `error:` lines naming the variable,
printed before anything starts; every option has help; --version; bench without its extra."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import cli
from engine.cli import common, tools

STRONG_SECRET = "k" * 32


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    data = tmp_path / "data"
    monkeypatch.setenv("NEUROSPHERE_DATA_DIR", str(data))
    monkeypatch.setattr(common, "configure", lambda *args, **kwargs: None)
    return data


def _errors(capsys: pytest.CaptureFixture[str]) -> list[str]:
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err.splitlines()


def test_production_without_keys_names_each_variable_before_starting(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    # Ray is refused in unit tests and Postgres would create data_dir/pg: neither is reached
    assert cli.main(["serve"]) == 2
    lines = _errors(capsys)
    assert [line.split(" ", 2)[1] for line in lines] == ["NEUROSPHERE_JWT_SECRET", "OPENAI_API_KEY"]
    assert all(line.startswith("error: ") for line in lines)
    assert not data_dir.exists()


def test_production_refuses_to_serve_the_simulator(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    monkeypatch.setenv("NEUROSPHERE_ENV", "production")
    monkeypatch.setenv("NEUROSPHERE_JWT_SECRET", STRONG_SECRET)
    assert cli.main(["serve", "--port", "18080"]) == 2
    (line,) = _errors(capsys)
    assert line.startswith("error: OPENAI_API_KEY must be set in production")
    assert not data_dir.exists()


@pytest.mark.parametrize(
    ("name", "value", "command"),
    [
        ("NEUROSPHERE_WARM_CALLS", "lots", ["serve"]),
        ("NEUROSPHERE_ENV", "staging", ["demo"]),
        ("MEDIA_PUBLIC_URL", "https://media.example.com", ["serve"]),
        ("NEUROSPHERE_MEDIA_PORTS", "80-90", ["serve"]),
        ("NEUROSPHERE_HTTP_PORT", "0", ["serve"]),
        ("PUBLIC_BASE_URL", "voice.example.com", ["tenant", "list"]),
        ("DATABASE_URL", "postgresql://owner@db.example/ns", ["db", "migrate"]),
        ("NEUROSPHERE_LOG_FORMAT", "xml", ["admin", "list"]),
    ],
)
def test_one_bad_variable_is_one_error_line(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    data_dir: Path,
    name: str,
    value: str,
    command: list[str],
) -> None:
    monkeypatch.setenv(name, value)
    assert cli.main(command) == 2
    (line,) = _errors(capsys)
    assert line.startswith("error: ")
    # DATABASE_URL alone: the line names what is missing beside it
    expected = "NEUROSPHERE_APP_DATABASE_URL" if name == "DATABASE_URL" else name
    assert expected in line
    assert not data_dir.exists()


def test_a_bad_dev_secret_file_is_named_before_postgres_starts(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    data_dir.mkdir()
    (data_dir / "jwt_secret").write_text("short")
    assert cli.main(["serve"]) == 2
    (line,) = _errors(capsys)
    assert line.startswith("error: NEUROSPHERE_JWT_SECRET is unset and ")
    assert sorted(p.name for p in data_dir.iterdir()) == ["jwt_secret"]


def test_the_installed_entry_point_prints_no_traceback(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("NEUROSPHERE_", "OPENAI_", "DATABASE_URL"))
    }
    env |= {
        "NEUROSPHERE_ENV": "production",
        "NEUROSPHERE_DATA_DIR": str(tmp_path / "d"),
        "NEUROSPHERE_CALL_SLOTS": "none",
        "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
    }
    done = subprocess.run(
        [sys.executable, "-m", "engine.cli", "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert [line.split(" ", 2)[1].rstrip(":") for line in lines] == ["NEUROSPHERE_CALL_SLOTS"], (
        done.stderr
    )
    assert "Traceback" not in done.stderr


def _actions(parser: argparse.ArgumentParser, path: str) -> list[tuple[str, argparse.Action]]:
    """Every option and argument of every command, and every command itself (its line in the
    parent's help), walked from `parser` down."""
    found: list[tuple[str, argparse.Action]] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            found += [(path, command) for command in action._choices_actions]
            assert len(action._choices_actions) == len(action.choices), (
                f"{path}: a command unlisted"
            )
            for name, child in action.choices.items():
                found += _actions(child, f"{path} {name}")
        else:
            found.append((path, action))
    return found


def test_every_option_and_command_has_help() -> None:
    parser = cli.build_parser()
    missing = [
        f"{path} {action.dest}"
        for path, action in _actions(parser, "neurosphere")
        if not action.help or action.help == argparse.SUPPRESS
    ]
    assert missing == []
    walked = {f"{path} {action.dest}" for path, action in _actions(parser, "neurosphere")}
    assert {"neurosphere serve", "neurosphere tenant list", "neurosphere admin list"} <= walked
    assert {"neurosphere serve host", "neurosphere serve port", "neurosphere version"} <= walked
    assert parser.description is not None
    assert "insurance agencies" in parser.description


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith("neurosphere 0.")


@pytest.mark.parametrize("port", ["0", "70000", "http"])
def test_serve_port_is_checked(port: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["serve", "--port", port])
    assert done.value.code == 2
    assert "--port" in capsys.readouterr().err


def test_bench_without_its_extra_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tools, "BENCH_MODULES", ("matplotlib", "neurosphere_not_installed"))
    assert cli.main(["bench", "calls"]) == 2
    (line,) = _errors(capsys)
    assert line == (
        "error: neurosphere bench needs the `bench` extra (neurosphere_not_installed missing): "
        "pip install 'neurosphere-voice[bench]'"
    )


def test_the_runtime_file_is_written_where_nothing_made_the_data_dir(data_dir: Path) -> None:
    """`serve` with its own DATABASE_URL and JWT secret: no embedded Postgres and no generated
    secret create the data dir, and start-up wrote runtime.json last - into nothing."""
    from engine.cli.runtime import Database, Engine
    from engine.config import EngineConfig
    from engine.settings import Settings

    settings = Settings.model_validate(
        {"NEUROSPHERE_DATA_DIR": data_dir, "NEUROSPHERE_JWT_SECRET": STRONG_SECRET}
    )
    config = EngineConfig(app_database_url="postgresql://nowhere/none", jwt_secret=STRONG_SECRET)
    engine = Engine(settings, config, Database("owner", "app"), "http://127.0.0.1:8000")
    assert not data_dir.exists()
    path = engine.write_runtime_file()
    assert path.parent == data_dir
    assert '"webhook_base": "http://127.0.0.1:8000"' in path.read_text()
    assert data_dir.stat().st_mode & 0o777 == 0o700


def test_pool_drain_without_ray_address_says_so(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    assert cli.main(["pool", "drain"]) == 2
    assert _errors(capsys) == ["error: RAY_ADDRESS must name the Ray cluster the engine runs on"]


@pytest.mark.parametrize("bound", ["-1", "soon", "90000"])
def test_pool_drain_bound_is_checked(bound: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        cli.main(["pool", "drain", "--bound", bound])
    assert done.value.code == 2
    assert "--bound" in capsys.readouterr().err
