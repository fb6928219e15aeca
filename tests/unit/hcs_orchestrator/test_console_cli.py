"""``hcs console``: a key on the command line, or a lab directory with no lab, is refused
before anything opens."""

from __future__ import annotations

from pathlib import Path

import pytest

from hcs_orchestrator.cli import main
from hcs_orchestrator.cli.key_options import REFUSED_KEY_MESSAGE


def test_console_refuses_a_key_on_the_command_line_and_opens_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    code = main(["console", "--data-dir", str(data_dir), "--api-key", "abcdefabcdef0123456789"])
    assert code == 2
    assert REFUSED_KEY_MESSAGE in capsys.readouterr().err
    assert not data_dir.exists()


def test_console_listens_on_this_machine_only_by_default() -> None:
    from hcs_orchestrator.cli import build_command

    console = build_command().commands["console"]
    defaults = {p.name: p.default for p in console.params}
    assert defaults["host"] == "127.0.0.1" and defaults["public_read"] is False


def test_console_refuses_a_lab_directory_with_no_lab_and_opens_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir, lab_dir = tmp_path / "data", tmp_path / "no-lab"
    code = main(["console", "--data-dir", str(data_dir), "--lab", str(lab_dir)])
    assert code == 1
    err = capsys.readouterr().err
    assert f"--lab {lab_dir}: no lab there (no lab.json); start one with hcs lab up" in err
    assert not data_dir.exists()
