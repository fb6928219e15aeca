"""A wheel built from the repository runs ``hcs demo`` outside the checkout.

The wheel is built from a copy of the working tree's files (so the shared checkout gets
no ``build/``), installed with ``--no-deps`` into a fresh venv whose dependencies come
from the project venv's site-packages through a ``.pth`` file that leaves out the
editable install of ``src/``. ``hcs demo`` then runs in an empty directory.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def _run(args: list[str | Path], cwd: Path, timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{args}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def _copy_sources(destination: Path) -> None:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file() and name.split("/")[0] in ("src", "pyproject.toml", "README.md"):
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def test_wheel_runs_hcs_demo_from_an_empty_directory_when_installed(tmp_path: Path) -> None:
    tree, wheels, venv, work = (tmp_path / n for n in ("tree", "wheels", "venv", "work"))
    for directory in (tree, wheels, work):
        directory.mkdir()
    _copy_sources(tree)
    _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", tree, "-w", wheels], tmp_path, 600
    )
    (wheel,) = wheels.glob("hcs-*.whl")

    _run([sys.executable, "-m", "venv", venv], tmp_path, 120)
    python = venv / "bin" / "python"
    site = Path(
        _run(
            [python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], work, 60
        ).strip()
    )
    # Dependencies from the project venv; its __editable__ .pth files (src/) are not read,
    # because only .pth files in the new venv's own site-packages are processed.
    (site / "project-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    _run([python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel], work, 300)

    where = _run(
        [python, "-c", "import hcs_devices, hcs_orchestrator; print(hcs_devices.__file__)"],
        work,
        120,
    ).strip()
    assert Path(where).is_relative_to(venv), where
    assert not Path(where).is_relative_to(REPO / "src"), where

    out = _run([venv / "bin" / "hcs", "demo", "--data-dir", "data"], work, 600)
    assert "exit status: success" in out, out
    assert (work / "data" / "catalog.db").exists() or any((work / "data").iterdir())
    assert (work / "data" / "demo-overview.png").is_file()
