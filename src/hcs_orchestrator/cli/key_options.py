"""The API-key options every hcs command that talks to Tiled shares.

A key is read from a file (``--api-key-file``) or the environment
(``$HCS_TILED_API_KEY``), never from the command line: ``--api-key`` is refused, not
unknown, because a key given there has already been exposed (``ps``, shell history) and
the user must be told so. The refusal never repeats the key.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from hcs_orchestrator.cli.app import HcsCommand, command_settings

REFUSED_KEY_OPTION = "--api-key"

REFUSED_KEY_MESSAGE = (
    f"{REFUSED_KEY_OPTION} is not accepted: a key on the command line can be read by every "
    "user of this machine (ps) and stays in your shell history; treat that key as "
    "exposed. Set $HCS_TILED_API_KEY or use --api-key-file PATH."
)


def key_on_command_line(args: list[str]) -> bool:
    """Whether ``args`` give a key with the refused option (``--api-key [KEY|=KEY]``)."""
    for arg in args:
        if arg == "--":
            return False
        if arg == REFUSED_KEY_OPTION or arg.startswith(f"{REFUSED_KEY_OPTION}="):
            return True
    return False


class KeyCommand(HcsCommand):
    """A command that reads an API key: ``--api-key`` is refused before anything is parsed."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Refuse a key on the command line (a usage error, exit code 2); else parse."""
        if key_on_command_line(args):
            ctx.fail(REFUSED_KEY_MESSAGE)
        return super().parse_args(ctx, args)


def key_command_settings(help_text: str, short_help: str) -> dict[str, Any]:
    """``app.command(...)`` keywords of a command that reads an API key."""
    return command_settings(help_text, short_help) | {"cls": KeyCommand}


def api_key_file_option(help_text: str) -> Any:
    """``--api-key-file PATH``, with this command's help (where the key comes from otherwise)."""
    return typer.Option("--api-key-file", metavar="PATH", help=help_text)


def server_key(
    api_key_file: Path | None, host: str, generated_key_file: Path, what: str
) -> tuple[str, str] | None:
    """The API key of a server command (and where it came from), or None if refused.

    Refuses an unreadable key file with a one-line error; warns when the server listens
    beyond loopback.

    Args:
        api_key_file: ``--api-key-file`` (None: the environment, else a generated key).
        host: the interface the server listens on.
        generated_key_file: where a generated key is kept when none is given.
        what: what listens, as the warning names it (``this server``, ``the console``).
    """
    from hcs_storage.api_key import resolve_api_key
    from hcs_storage.server import is_loopback
    from hcs_storage.server_error import ServerError

    try:
        key = resolve_api_key(api_key_file, generated_key_file=generated_key_file)
    except ServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return None
    if not is_loopback(host):
        print(
            f"warning: listening on {host}: other machines can reach {what}, "
            "and HTTP sends the API key unencrypted; put it behind an HTTPS proxy.",
            file=sys.stderr,
        )
    return key
