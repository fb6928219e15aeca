"""The ``hcs`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from hcs_orchestrator.cli import acquire, emulate, export, forward, lab, serve


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``hcs`` command, with one sub-parser per command."""
    parser = argparse.ArgumentParser(
        prog="hcs", description="High-content screening and MERFISH acquisition."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    acquire.register(commands)
    emulate.register(commands)
    serve.register(commands)
    forward.register(commands)
    export.register(commands)
    lab.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``hcs`` command; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.run(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
