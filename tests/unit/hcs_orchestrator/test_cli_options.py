"""What every ``hcs`` subcommand shares: the command to suggest, help defaults, ``--version``,
short usage errors, ``--debug``."""

from __future__ import annotations

import io
import os
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from hcs_orchestrator.cli import main
from hcs_orchestrator.cli.options import hcs_command
from hcs_orchestrator.cli.runs_table import print_runs
from hcs_storage.runs import RunSummary


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


def test_limit_refuses_zero_and_words_naming_the_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for value, why in (("0", "greater than or equal to 1"), ("ten", "a valid integer")):
        assert main(["runs", "--data-dir", str(tmp_path), "--limit", value]) == 2
        err = capsys.readouterr().err.splitlines()
        assert err[0].startswith("hcs runs: error: Invalid value for '--limit': ")
        assert why in err[0]
        assert err[1:] == ["(`hcs runs --help` lists the options)"]


def test_help_states_the_defaults_of_options_that_have_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["runs", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "data directory [default: hcs-data]" in out
    assert "[default: 50; x>=1]" in out and "[default: 1; x>=1]" in out


def test_help_of_every_command_states_its_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, default in (
        (["serve"], "[default: 8000]"),
        (["console"], "[default: 127.0.0.1]"),
        (["export"], "[default: ome-zarr]"),
        (["lab", "logs"], "[default: 40]"),
        (["lab", "up"], "[default: hcs-lab]"),
        (["merfish", "run"], "[default: 10; x>=0]"),
    ):
        assert main([*argv, "--help"]) == 0
        assert default in " ".join(capsys.readouterr().out.split()), argv


def test_version_prints_the_installed_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"hcs {version('hcs')}\n"


def test_an_unknown_option_is_one_line_naming_it_with_exit_code_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["runs", "--limt", "3"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "hcs runs: error: No such option: --limt (Possible options: --limit)",
        "(`hcs runs --help` lists the options)",
    ]


def test_a_missing_argument_and_a_bad_choice_name_what_is_wrong(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["merfish", "validate"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "hcs merfish validate: error: Missing argument 'PROTOCOL'."
    )
    assert main(["lab", "restart", "redi"]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "hcs lab restart: error: Invalid value for 'SERVICE': 'redi' is not one of 'redis', "
        "'tiled', 'forwarder', 're-manager', 'watcher'."
    )
    assert main([]) == 2
    assert capsys.readouterr().err.splitlines()[0] == "hcs: error: Missing command."


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
    # --debug after the command, before it, and after a group's name: the error is raised
    for argv in (
        ["runs", "--data-dir", str(tmp_path), "--debug"],
        ["--debug", "runs", "--data-dir", str(tmp_path)],
    ):
        with pytest.raises(Exception, match="file is not a database"):
            main(argv)
    assert capsys.readouterr().err == ""


def test_debug_is_accepted_by_every_command_and_group(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["lab", "--debug", "down", "--help"], ["merfish", "status", "--debug", "-h"]):
        assert main(argv) == 0
        assert "--debug" in capsys.readouterr().out


def test_a_traceback_reaches_stderr_only_with_debug(tmp_path: Path) -> None:
    """As a process (what a user sees): one line without ``--debug``, a traceback with it."""
    import subprocess

    (tmp_path / "catalog.db").write_text("not a database")
    command = [sys.executable, "-m", "hcs_orchestrator.cli", "runs", "--data-dir", str(tmp_path)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    debug = subprocess.run(
        [*command, "--debug"], capture_output=True, text=True, timeout=60, check=False
    )
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("error: file is not a database")
    assert debug.returncode == 1
    assert debug.stderr.startswith("Traceback (most recent call last):")
    assert debug.stderr.rstrip().endswith("file is not a database")


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


RUNS = [
    RunSummary("abcdef12-0000", 1.7e9, "acquire_plate", "exp-1", 108, 90, "abort"),
    RunSummary("fedcba98-0000", 1.6e9, "acquire_plate", "exp-0", None, None, "open"),
]


def test_runs_are_plain_columns_when_not_a_terminal() -> None:
    out = io.StringIO()
    print_runs(RUNS, out)
    lines = out.getvalue().splitlines()
    assert lines[0].split() == ["start", "(UTC)", "uid", "plan", "experiment", "images",
                                "planned", "status"]  # fmt: skip
    assert lines[1].split()[2:] == ["abcdef12", "acquire_plate", "exp-1", "90", "108", "abort"]
    assert lines[2].split()[2:] == ["fedcba98", "acquire_plate", "exp-0", "?", "open"]
    assert "\x1b" not in out.getvalue()


def test_runs_are_a_table_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    out = Terminal()
    print_runs(RUNS, out)
    text = out.getvalue()
    assert "───" in text  # a drawn table
    for cell in ("start (UTC)", "uid", "images", "planned", "abcdef12", "90", "108", "?"):
        assert cell in text, cell
