"""The API-key options every hcs command that talks to Tiled shares.

A key is read from a file (``--api-key-file``) or the environment
(``$HCS_TILED_API_KEY``), never from the command line: ``--api-key`` is refused, not
absent, because a key given there has already been exposed (``ps``, shell history) and
the user must be told so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

REFUSED_KEY_OPTION = "--api-key"

REFUSED_KEY_MESSAGE = (
    f"{REFUSED_KEY_OPTION} is not accepted: a key on the command line can be read by every "
    "user of this machine (ps) and stays in your shell history; treat that key as "
    "exposed. Set $HCS_TILED_API_KEY or use --api-key-file PATH."
)


def add_key_options(parser: argparse.ArgumentParser, key_file_help: str) -> None:
    """Add ``--api-key-file PATH`` and the refused ``--api-key``.

    The parser must be made with ``allow_abbrev=False``, so that ``--api-key`` is never
    taken for ``--api-key-file``.
    """
    parser.add_argument(
        "--api-key-file", type=Path, default=None, metavar="PATH", help=key_file_help
    )
    parser.add_argument(
        REFUSED_KEY_OPTION, dest="api_key", nargs="?", const="", help=argparse.SUPPRESS
    )


def key_on_command_line(args: argparse.Namespace) -> bool:
    """Whether the user gave a key with the refused option."""
    return args.api_key is not None
