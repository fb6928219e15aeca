"""The options several ``hcs`` commands share, and the command to suggest in hints."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

#: The data directory every command uses unless given ``--data-dir``.
DEFAULT_DATA_DIR = Path("hcs-data")


def existing_data_dir(text: str | Path) -> Path:
    """``--data-dir`` of a command that reads: the directory must exist (none is created).

    Raises:
        typer.BadParameter: naming the path that does not exist.
    """
    path = Path(text)
    if not path.is_dir():
        what = "is not a directory" if path.exists() else "does not exist"
        raise typer.BadParameter(
            f"{path.resolve()} {what}; give the data directory `hcs acquire` or `hcs demo` wrote to"
        )
    return path


#: ``--data-dir`` of a command that writes: created if missing.
DataDir = Annotated[
    Path, typer.Option("--data-dir", metavar="DIR", help="data directory (created if missing)")
]
#: ``--data-dir`` of a command that only reads: it must exist.
ExistingDataDir = Annotated[
    Path,
    typer.Option("--data-dir", metavar="DIR", parser=existing_data_dir, help="data directory"),
]
#: ``--config``: a microscope configuration file (the simulated microscope by default).
Config = Annotated[
    Path | None,
    typer.Option("--config", metavar="FILE", help="microscope configuration (default: simulated)"),
]

#: ``--host`` of a command that serves: the interface to listen on.
Host = Annotated[
    str,
    typer.Option(
        "--host", metavar="ADDRESS", help="interface to listen on (this machine only by default)"
    ),
]
#: ``--port`` of a command that serves.
Port = Annotated[int, typer.Option("--port", metavar="PORT", help="port")]
#: Where a command that serves listens by default: this machine only.
DEFAULT_HOST = "127.0.0.1"


def hcs_command(argv0: str | None = None) -> str:
    """How to run ``hcs`` again from the user's shell, for hints such as "browse: ...".

    ``hcs`` when the ``hcs`` on PATH is the one running; otherwise the running script's
    absolute path (``./dev demo`` runs ``.venv/bin/hcs``, which is not on PATH), or
    ``python -m hcs_orchestrator.cli`` when hcs was started that way.

    Args:
        argv0: the running program (``sys.argv[0]`` by default).
    """
    script = Path(argv0 if argv0 is not None else sys.argv[0])
    if script.name != "hcs":
        return f"{shlex.quote(sys.executable)} -m hcs_orchestrator.cli"
    on_path = shutil.which("hcs")
    if on_path is not None and Path(on_path).resolve() == script.resolve():
        return "hcs"
    return shlex.quote(str(script.resolve()))
