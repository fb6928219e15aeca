"""``hcs console``: the web console on the simulated (or configured) microscope.

The handler imports the web stack when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hcs_orchestrator.cli.key_options import api_key_file_option, key_command_settings, server_key
from hcs_orchestrator.cli.options import DEFAULT_DATA_DIR, DEFAULT_HOST, Config, DataDir, Host, Port

#: Mirrors ``hcs_orchestrator.console.server`` (not imported here: it pulls in uvicorn).
DEFAULT_PORT = 8010
#: Where ``hcs console`` writes the key it generates, in the data directory (mode 0600).
CONSOLE_KEY_FILE = "console-api-key"

DESCRIPTION = (
    "Open a session on the microscope and serve the web console. Commands (live view, "
    "moves, acquisitions) always need the API key; watching needs it too unless "
    "--public-read. The key comes from --api-key-file, else $HCS_TILED_API_KEY, else a new "
    f"random key is written to DATA_DIR/{CONSOLE_KEY_FILE} (readable by you only)."
)


def register(app: typer.Typer) -> None:
    """Add ``hcs console``."""
    app.command(
        "console",
        **key_command_settings(
            DESCRIPTION,
            "a web page to watch and steer the microscope: live view, plate map, progress",
        ),
    )(console)


def console(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    config: Config = None,
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    api_key_file: Annotated[
        Path | None,
        api_key_file_option("file holding the API key (default: $HCS_TILED_API_KEY, else new)"),
    ] = None,
    public_read: Annotated[
        bool, typer.Option("--public-read", help="let anyone who can connect watch, keyless")
    ] = False,
    lab: Annotated[
        Path | None,
        typer.Option(
            "--lab",
            metavar="LAB_DIR",
            help="a lab started with hcs lab up: the page shows its queue and history",
        ),
    ] = None,
    shared_memory: Annotated[
        bool,
        typer.Option(
            "--shared-memory",
            help="also publish the preview frames in shared memory, for napari "
            "(python -m hcs_orchestrator.viewers.napari_viewer)",
        ),
    ] = False,
) -> int:
    """``hcs console``."""
    if lab is not None:  # a lab directory with no lab is refused before anything opens
        from hcs_orchestrator.console.lab_queue import lab_settings

        lab_settings(lab)
    key = server_key(api_key_file, host, data_dir / CONSOLE_KEY_FILE, "the console")
    if key is None:
        return 2
    api_key, origin = key
    from hcs_orchestrator.console.server import serve_console
    from hcs_orchestrator.console.wiring import console_for
    from hcs_orchestrator.session import open_session

    session = open_session(config, data_dir)
    try:
        served = console_for(
            session,
            api_key=api_key,
            public_read=public_read,
            lab_dir=lab,
            shared_memory=shared_memory,
        )
    except BaseException:
        session.close()
        raise
    print(f"console: http://{host}:{port}/  (API key: {origin})", flush=True)
    print("open it with #key=YOUR_KEY after the address, or type the key in the page")
    if served.slot is not None:
        print(
            f"preview in shared memory: {served.slot.name} (napari: python -m "
            "hcs_orchestrator.viewers.napari_viewer)"
        )
    try:
        serve_console(served.app, host, port)
    finally:
        served.close()
        session.close()
    return 0
