"""What every ``hcs`` subcommand shares: the command to suggest, help defaults, ``--version``."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import pytest

from hcs_orchestrator.cli import build_parser, main
from hcs_orchestrator.cli.options import hcs_command, positive_int


def _script(directory: Path) -> Path:
    directory.mkdir()
    script = directory / "hcs"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    return script


def test_hcs_command_is_the_script_path_when_hcs_is_not_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path / "venv-bin")
    monkeypatch.setenv("PATH", str(tmp_path / "elsewhere"))
    assert hcs_command(str(script)) == str(script.resolve())


def test_hcs_command_is_hcs_when_the_running_hcs_is_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    script = _script(tmp_path / "bin")
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    assert hcs_command(str(script)) == "hcs"


def test_hcs_command_is_python_dash_m_when_started_as_a_module() -> None:
    assert hcs_command("/x/hcs_orchestrator/cli/__main__.py").endswith(
        f"{Path(sys.executable).name} -m hcs_orchestrator.cli"
    )


def test_positive_int_refuses_zero_and_words_by_value() -> None:
    assert positive_int("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match=r"0 is too small: give a number >= 1"):
        positive_int("0")
    with pytest.raises(argparse.ArgumentTypeError, match=r"'ten' is not a whole number \(>= 1\)"):
        positive_int("ten")


def test_help_states_the_defaults_of_options_that_have_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["runs", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "data directory (default: hcs-data)" in out
    assert "(default: 50)" in out and "(default: 1)" in out


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.startswith("hcs 0.")


def test_an_unexpected_error_is_one_line_without_debug_and_a_traceback_with_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "catalog.db").write_text("not a database")  # sqlite refuses to read it
    assert main(["runs", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "error: file is not a database",
        "(run again with --debug to see where it happened)",
    ]
    with pytest.raises(Exception, match="file is not a database"):
        main(["runs", "--data-dir", str(tmp_path), "--debug"])
