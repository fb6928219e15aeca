"""The ``hcs`` command line, built on typer.

Each command (or command group) lives in its own module with a ``register(app)``
function that adds it; registering one more is one ``module.register(app)`` line in
:func:`build_app`. A usage mistake ends a command with two lines (``hcs CMD: error:
...`` and where help is) and exit code 2; an unexpected error with one line
(``error: ...``) and exit code 1, or with ``--debug`` its traceback.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from hcs_orchestrator.cli import (
    acquire,
    console,
    emulate,
    export,
    forward,
    lab,
    merfish,
    serve,
)
from hcs_orchestrator.cli.app import command_group, remember_debug, usage_error


def version() -> str:
    """The installed hcs version (``unknown`` when hcs runs from sources not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hcs")
    except PackageNotFoundError:
        return "unknown"


def _print_version(value: bool) -> None:
    if value:
        print(f"hcs {version()}")
        raise typer.Exit(0)


def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            expose_value=False,
            help="print hcs's version and exit",
        ),
    ] = False,
    debug: Annotated[
        bool,
        typer.Option(
            "--debug",
            callback=remember_debug,
            expose_value=False,
            help="on an error, show the full traceback (for a bug report)",
        ),
    ] = False,
) -> None:
    """``hcs``: the options before the command."""


def build_app() -> typer.Typer:
    """The ``hcs`` typer application, with every command."""
    app = command_group("High-content screening and MERFISH acquisition.", root=True)
    app.callback()(_root)
    acquire.register(app)
    emulate.register(app)
    serve.register(app)
    console.register(app)
    forward.register(app)
    export.register(app)
    lab.register(app)
    merfish.register(app)
    return app


def build_command() -> Any:
    """The ``hcs`` command as click sees it (for its help, and to read its options)."""
    return typer.main.get_command(build_app())


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hcs`` command; returns the process exit code."""
    command = build_command()
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        return int(command.main(args, prog_name="hcs", standalone_mode=False) or 0)
    except typer.TyperException as exc:  # a usage mistake: unknown option, bad value, ...
        print(usage_error(exc), file=sys.stderr)
        return exc.exit_code
    except typer.Abort:  # end of input while a command read it
        print("aborted", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
