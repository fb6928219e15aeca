"""``hcs console``: the web console on the simulated (or configured) microscope.

The handler imports the web stack when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, cast

from hcs_orchestrator.cli.key_options import add_key_options, server_key
from hcs_orchestrator.cli.options import add_data_dir_option

#: Mirrors ``hcs_orchestrator.console.server`` (not imported here: it pulls in uvicorn).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010
#: Where ``hcs console`` writes the key it generates, in the data directory (mode 0600).
CONSOLE_KEY_FILE = "console-api-key"


def register(commands: Any) -> None:
    """Add ``hcs console`` to the ``hcs`` parser."""
    console = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "console",
            help="a web page to watch and steer the microscope: live view, plate map, progress",
            description=(
                "Open a session on the microscope and serve the web console. Commands "
                "(live view, moves, acquisitions) always need the API key; watching needs "
                "it too unless --public-read. The key comes from --api-key-file, else "
                "$HCS_TILED_API_KEY, else a new random key is written to "
                f"DATA_DIR/{CONSOLE_KEY_FILE} (readable by you only)."
            ),
            allow_abbrev=False,
        ),
    )
    add_data_dir_option(console, must_exist=False)
    console.add_argument("--config", type=Path, default=None, help="microscope configuration")
    console.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"interface to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    console.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})"
    )
    add_key_options(console, "file holding the API key (default: $HCS_TILED_API_KEY, else new)")
    console.add_argument(
        "--public-read", action="store_true", help="let anyone who can connect watch, keyless"
    )
    console.add_argument(
        "--lab",
        type=Path,
        default=None,
        metavar="LAB_DIR",
        help="a lab started with hcs lab up: the page shows its queue and history",
    )
    console.add_argument(
        "--shared-memory",
        action="store_true",
        help="also publish the preview frames in shared memory, for napari "
        "(python -m hcs_orchestrator.viewers.napari_viewer)",
    )
    console.set_defaults(run=_console)


def _console(args: argparse.Namespace) -> int:
    if args.lab is not None:  # a lab directory with no lab is refused before anything opens
        from hcs_orchestrator.console.lab_queue import lab_settings

        lab_settings(args.lab)
    key = server_key(args, args.data_dir / CONSOLE_KEY_FILE, "the console")
    if key is None:
        return 2
    api_key, origin = key
    from hcs_orchestrator.console.server import serve_console
    from hcs_orchestrator.console.wiring import console_for
    from hcs_orchestrator.session import open_session

    session = open_session(args.config, args.data_dir)
    try:
        console = console_for(
            session,
            api_key=api_key,
            public_read=args.public_read,
            lab_dir=args.lab,
            shared_memory=args.shared_memory,
        )
    except BaseException:
        session.close()
        raise
    print(f"console: http://{args.host}:{args.port}/  (API key: {origin})", flush=True)
    print("open it with #key=YOUR_KEY after the address, or type the key in the page")
    if console.slot is not None:
        print(
            f"preview in shared memory: {console.slot.name} (napari: python -m "
            "hcs_orchestrator.viewers.napari_viewer)"
        )
    try:
        serve_console(console.app, args.host, args.port)
    finally:
        console.close()
        session.close()
    return 0
