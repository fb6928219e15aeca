"""The MERFISH supervisor restarts an orchestrator that died, and only one that died."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from hcs_orchestrator.merfish.journal import Journal, journal_path
from hcs_orchestrator.merfish.supervisor import GAVE_UP_EXIT, supervise

#: A child that dies of SIGKILL until a marker file exists, then exits with ``code``.
DIES_THEN_EXITS = (
    "import os, signal, sys, pathlib\n"
    "marker = pathlib.Path(sys.argv[1])\n"
    "count = int(marker.read_text()) if marker.exists() else 0\n"
    "marker.write_text(str(count + 1))\n"
    "if count < int(sys.argv[2]):\n"
    "    os.kill(os.getpid(), signal.SIGKILL)\n"
    "sys.exit(int(sys.argv[3]))\n"
)


def _run(tmp_path: Path, deaths: int, code: int, max_restarts: int) -> tuple[int, list, list]:
    marker = tmp_path / "starts"
    commands: list[bool] = []
    said: list[str] = []

    def command(resume: bool) -> list[str]:
        commands.append(resume)
        return [sys.executable, "-c", DIES_THEN_EXITS, str(marker), str(deaths), str(code)]

    result = supervise(
        command,
        tmp_path,
        resume=False,
        max_restarts=max_restarts,
        restart_delay_s=0.0,
        say=said.append,
    )
    return result, commands, said


@pytest.mark.parametrize("code", [0, 1, 2, 3, 130])
def test_supervisor_passes_on_the_orchestrators_own_answer_without_restarting(
    tmp_path: Path, code: int
) -> None:
    result, commands, said = _run(tmp_path, deaths=0, code=code, max_restarts=5)
    assert (result, commands, said) == (code, [False], [])


def test_supervisor_resumes_an_orchestrator_killed_by_a_signal_and_journals_each_restart(
    tmp_path: Path,
) -> None:
    Journal(journal_path(tmp_path)).close()
    result, commands, said = _run(tmp_path, deaths=2, code=0, max_restarts=5)
    assert result == 0
    assert commands == [False, True, True]  # the first run, then resumes
    assert said == [
        "the orchestrator killed by SIGKILL; resuming (restart 1)",
        "the orchestrator killed by SIGKILL; resuming (restart 2)",
    ]
    with Journal(journal_path(tmp_path)) as journal:
        assert [e for _, e, _ in journal.log_lines()] == ["restart", "restart"]


def test_supervisor_gives_up_after_its_restarts(tmp_path: Path) -> None:
    result, commands, said = _run(tmp_path, deaths=10, code=0, max_restarts=2)
    assert result == GAVE_UP_EXIT
    assert len(commands) == 3
    assert said[-1] == "the orchestrator killed by SIGKILL; gave up after 2 restarts"
