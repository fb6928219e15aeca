"""``hcs forward``: lab mode's forwarder, draining a data directory's spool into Tiled.

The API key is read from ``--api-key-file`` or ``$HCS_TILED_API_KEY``, never from the
command line (every user of the machine can read command lines). The handler imports
Tiled when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from hcs_orchestrator.cli.key_options import api_key_file_option, key_command_settings

DESCRIPTION = (
    "Lab mode: forward a data directory's spool to a Tiled server until stopped (SIGTERM "
    "or Ctrl-C). The API key comes from --api-key-file, else $HCS_TILED_API_KEY; never "
    "from the command line."
)


def register(app: typer.Typer) -> None:
    """Add ``hcs forward``."""
    app.command(
        "forward",
        **key_command_settings(
            DESCRIPTION, "forward a data directory's spool to a Tiled server (lab mode)"
        ),
    )(forward)


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


def forward(
    ctx: typer.Context,
    data_dir: Annotated[Path, typer.Option("--data-dir", metavar="DIR", help="the data directory")],
    tiled_uri: Annotated[
        str,
        typer.Option(
            "--tiled-uri", metavar="URI", help="the Tiled server, e.g. http://127.0.0.1:8000"
        ),
    ],
    api_key_file: Annotated[
        Path | None,
        api_key_file_option(
            "file holding a Tiled API key allowed to write (default: $HCS_TILED_API_KEY)"
        ),
    ] = None,
    batch_docs: Annotated[
        int | None,
        typer.Option("--batch-docs", metavar="N", help="documents per batch (default 500)"),
    ] = None,
    backoff_max_s: Annotated[
        float | None,
        typer.Option(
            "--backoff-max-s", metavar="SECONDS", help="longest retry delay (default 30 s)"
        ),
    ] = None,
    log_level: Annotated[
        str, typer.Option("--log-level", metavar="LEVEL", help="logging level")
    ] = "INFO",
) -> int:
    """``hcs forward``."""
    from hcs_storage.redact import redact_secrets_in_logs
    from hcs_storage.server_error import ServerError

    try:
        api_key = forwarder_api_key(api_key_file)
    except ServerError as exc:
        ctx.fail(str(exc))
    redact_secrets_in_logs([api_key])
    logging.basicConfig(level=log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from hcs_storage.lab_forwarder import forward_until_stopped

    options: dict[str, Any] = {}
    if batch_docs is not None:
        options["batch_docs"] = batch_docs
    if backoff_max_s is not None:
        options["backoff_max_s"] = backoff_max_s
    forward_until_stopped(data_dir, tiled_uri, api_key, **options)
    return 0
