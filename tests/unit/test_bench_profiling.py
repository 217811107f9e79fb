"""Where the bench finds py-spy: beside the Python running it (a venv's bin) before PATH."""

from __future__ import annotations

from pathlib import Path

from bench.profiling import find_py_spy


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return path


def test_py_spy_beside_the_interpreter_is_found_when_not_on_path(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    python = venv_bin / "python"  # need not exist: only its directory is looked in
    py_spy = _executable(venv_bin / "py-spy")
    empty = tmp_path / "empty"
    empty.mkdir()

    assert find_py_spy(str(python), path=str(empty)) == str(py_spy)


def test_py_spy_on_path_is_found_and_none_without_it(tmp_path: Path) -> None:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    on_path = tmp_path / "tools"
    on_path.mkdir()
    python = str(venv_bin / "python")

    assert find_py_spy(python, path=str(on_path)) is None
    py_spy = _executable(on_path / "py-spy")
    assert find_py_spy(python, path=str(on_path)) == str(py_spy)
