"""``hcs serve``: a Tiled server on a data directory.

The handler imports Tiled when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any, cast

from hcs_orchestrator.cli.key_options import add_key_options, server_key
from hcs_orchestrator.cli.options import add_data_dir_option

#: Mirrors ``hcs_storage.server`` (not imported here: it pulls in Tiled).
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


#: The option that used to take the key on the command line (now refused).


def register(commands: Any) -> None:
    """Add ``hcs serve`` to the ``hcs`` parser."""
    serve = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "serve",
            help="serve a data directory's catalog with a Tiled server",
            description=(
                "Serve a data directory with Tiled. Writing always needs the API key; "
                "reading needs it too unless --public-read. The key comes from "
                "--api-key-file, else $HCS_TILED_API_KEY, else a new random key is "
                "written to DATA_DIR/server-api-key (readable by you only). The key is "
                "never taken from the command line, printed, or logged."
            ),
            allow_abbrev=False,  # so that --api-key is never taken for --api-key-file
        ),
    )
    add_data_dir_option(serve, must_exist=False)
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"interface to listen on (default {DEFAULT_HOST}: this machine only)",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8000)")
    add_key_options(serve, "file holding the API key (default: $HCS_TILED_API_KEY, else a new key)")
    serve.add_argument(
        "--catalog-uri",
        default=None,
        help="catalog database, e.g. postgresql://user@dbhost/hcs (default: DATA_DIR/catalog.db)",
    )
    serve.add_argument(
        "--tables-uri",
        default=None,
        help="database for event tables (default: DATA_DIR/tables.duckdb)",
    )
    serve.add_argument(
        "--public-read", action="store_true", help="let anyone who can connect read, keyless"
    )
    serve.set_defaults(run=_serve)


def _serve(args: argparse.Namespace) -> int:
    from hcs_storage.api_key import GENERATED_KEY_FILE
    from hcs_storage.catalog import redact_uri
    from hcs_storage.server import ServerAddress, connection_help, serve

    key = server_key(args, args.data_dir / GENERATED_KEY_FILE, "this server")
    if key is None:
        return 2
    api_key, origin = key
    catalog = redact_uri(args.catalog_uri) if args.catalog_uri else "catalog.db"
    print(f"serving {args.data_dir.resolve()} (catalog: {catalog})", flush=True)
    address = ServerAddress(
        host=args.host, port=args.port, api_key=api_key, public_read=args.public_read
    )
    print(connection_help(address, key_origin=origin), flush=True)
    serve(
        args.data_dir,
        host=args.host,
        port=args.port,
        api_key=api_key,
        catalog_uri=args.catalog_uri,
        tables_uri=args.tables_uri,
        public_read=args.public_read,
    )
    return 0
