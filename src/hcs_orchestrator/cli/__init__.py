"""The ``hcs`` command line.

Each subcommand lives in its own module with a ``register(commands)`` function that
adds its parser; registering one more is one ``module.register(commands)`` line in
:func:`build_parser`. An unexpected error ends a command with one line
(``error: ...``) and exit code 1; ``--debug`` shows its traceback instead.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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
from hcs_orchestrator.cli.options import CommandParser, HcsParser, add_debug_option


def version() -> str:
    """The installed hcs version (``unknown`` when hcs runs from sources not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as installed

    try:
        return installed("hcs")
    except PackageNotFoundError:
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hcs`` command, with one sub-parser per command."""
    parser = HcsParser(prog="hcs", description="High-content screening and MERFISH acquisition.")
    parser.add_argument("--version", action="version", version=f"hcs {version()}")
    add_debug_option(parser)
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=CommandParser
    )
    acquire.register(commands)
    emulate.register(commands)
    serve.register(commands)
    console.register(commands)
    forward.register(commands)
    export.register(commands)
    lab.register(commands)
    merfish.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hcs`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BrokenPipeError:
        # The reader went away (``hcs ... | head``): nothing more to say, to anyone.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        print("(run again with --debug to see where it happened)", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """An exception as one line: its message's first line, or its type if it has none."""
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


if __name__ == "__main__":
    sys.exit(main())
