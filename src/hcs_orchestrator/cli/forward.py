"""``hcs forward``: lab mode's forwarder, draining a data directory's spool into Tiled.

The API key is read from ``--api-key-file`` or ``$HCS_TILED_API_KEY``, never from the
command line (every user of the machine can read command lines). The handler imports
Tiled when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import argparse
import logging
import os
from functools import partial
from pathlib import Path
from typing import Any, cast

from hcs_orchestrator.cli.key_options import (
    REFUSED_KEY_MESSAGE,
    add_key_options,
    key_on_command_line,
)

#: The option that used to take the key on the command line (now refused).


def register(commands: Any) -> None:
    """Add ``hcs forward`` to the ``hcs`` parser."""
    forward = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "forward",
            help="forward a data directory's spool to a Tiled server (lab mode)",
            description=(
                "Lab mode: forward a data directory's spool to a Tiled server until "
                "stopped (SIGTERM or Ctrl-C). The API key comes from --api-key-file, "
                "else $HCS_TILED_API_KEY; never from the command line."
            ),
            allow_abbrev=False,  # so that --api-key is never taken for --api-key-file
        ),
    )
    forward.add_argument("--data-dir", required=True, type=Path, help="the data directory")
    forward.add_argument(
        "--tiled-uri", required=True, help="the Tiled server, e.g. http://127.0.0.1:8000"
    )
    add_key_options(
        forward, "file holding a Tiled API key allowed to write (default: $HCS_TILED_API_KEY)"
    )
    forward.add_argument(
        "--batch-docs", type=int, default=None, help="documents per batch (default 500)"
    )
    forward.add_argument(
        "--backoff-max-s", type=float, default=None, help="longest retry delay (default 30 s)"
    )
    forward.add_argument("--log-level", default="INFO", help="logging level (default INFO)")
    forward.set_defaults(run=partial(_forward, forward))


def forwarder_api_key(key_file: Path | None) -> str:
    """The forwarder's API key: from ``key_file``, else ``$HCS_TILED_API_KEY``.

    Raises:
        ServerError: neither gives a key, or the file cannot be read.
    """
    from hcs_storage.api_key import API_KEY_ENV, read_api_key_file
    from hcs_storage.server_error import ServerError

    if key_file is not None:
        return read_api_key_file(key_file)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ServerError(
            f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH "
            "(a key allowed to write to the Tiled server)"
        )
    return key


def _forward(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    if key_on_command_line(args):
        parser.error(REFUSED_KEY_MESSAGE)
    from hcs_storage.redact import redact_secrets_in_logs
    from hcs_storage.server_error import ServerError

    try:
        api_key = forwarder_api_key(args.api_key_file)
    except ServerError as exc:
        parser.error(str(exc))
    redact_secrets_in_logs([api_key])
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from hcs_storage.lab_forwarder import forward_until_stopped

    options: dict[str, Any] = {}
    if args.batch_docs is not None:
        options["batch_docs"] = args.batch_docs
    if args.backoff_max_s is not None:
        options["backoff_max_s"] = args.backoff_max_s
    forward_until_stopped(args.data_dir, args.tiled_uri, api_key, **options)
    return 0
