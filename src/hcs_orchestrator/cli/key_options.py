"""The API-key options every hcs command that talks to Tiled shares.

A key is read from a file (``--api-key-file``) or the environment
(``$HCS_TILED_API_KEY``), never from the command line: ``--api-key`` is refused, not
absent, because a key given there has already been exposed (``ps``, shell history) and
the user must be told so.
"""

from __future__ import annotations

import argparse
import sys
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


def server_key(
    args: argparse.Namespace, generated_key_file: Path, what: str
) -> tuple[str, str] | None:
    """The API key of a server command (and where it came from), or None if refused.

    Refuses a key given on the command line and an unreadable key file, with a one-line
    error; warns when the server listens beyond loopback.

    Args:
        args: the command's arguments (``api_key``, ``api_key_file``, ``host``).
        generated_key_file: where a generated key is kept when none is given.
        what: what listens, as the warning names it (``this server``, ``the console``).
    """
    from hcs_storage.api_key import resolve_api_key
    from hcs_storage.server import is_loopback
    from hcs_storage.server_error import ServerError

    if key_on_command_line(args):
        print(f"error: {REFUSED_KEY_MESSAGE}", file=sys.stderr)
        return None
    try:
        key = resolve_api_key(args.api_key_file, generated_key_file=generated_key_file)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if not is_loopback(args.host):
        print(
            f"warning: listening on {args.host}: other machines can reach {what}, "
            "and HTTP sends the API key unencrypted; put it behind an HTTPS proxy.",
            file=sys.stderr,
        )
    return key
