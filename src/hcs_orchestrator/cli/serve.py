"""``hcs serve``: a Tiled server on a data directory.

The handler imports Tiled when it runs, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hcs_orchestrator.cli.key_options import api_key_file_option, key_command_settings, server_key
from hcs_orchestrator.cli.options import DEFAULT_DATA_DIR, DEFAULT_HOST, DataDir, Host, Port

#: Mirrors ``hcs_storage.server`` (not imported here: it pulls in Tiled).
DEFAULT_PORT = 8000

DESCRIPTION = (
    "Serve a data directory with Tiled. Writing always needs the API key; reading needs "
    "it too unless --public-read. The key comes from --api-key-file, else "
    "$HCS_TILED_API_KEY, else a new random key is written to DATA_DIR/server-api-key "
    "(readable by you only). The key is never taken from the command line, printed, or "
    "logged."
)


def register(app: typer.Typer) -> None:
    """Add ``hcs serve``."""
    app.command(
        "serve",
        **key_command_settings(DESCRIPTION, "serve a data directory's catalog with a Tiled server"),
    )(serve)


def serve(
    data_dir: DataDir = DEFAULT_DATA_DIR,
    host: Host = DEFAULT_HOST,
    port: Port = DEFAULT_PORT,
    api_key_file: Annotated[
        Path | None,
        api_key_file_option(
            "file holding the API key (default: $HCS_TILED_API_KEY, else a new key)"
        ),
    ] = None,
    catalog_uri: Annotated[
        str | None,
        typer.Option(
            "--catalog-uri",
            metavar="URI",
            help="catalog database, e.g. postgresql://user@dbhost/hcs "
            "(default: DATA_DIR/catalog.db)",
        ),
    ] = None,
    tables_uri: Annotated[
        str | None,
        typer.Option(
            "--tables-uri",
            metavar="URI",
            help="database for event tables (default: DATA_DIR/tables.duckdb)",
        ),
    ] = None,
    public_read: Annotated[
        bool, typer.Option("--public-read", help="let anyone who can connect read, keyless")
    ] = False,
) -> int:
    """``hcs serve``."""
    from hcs_storage.api_key import GENERATED_KEY_FILE
    from hcs_storage.catalog import redact_uri
    from hcs_storage.server import ServerAddress, connection_help
    from hcs_storage.server import serve as serve_catalog

    key = server_key(api_key_file, host, data_dir / GENERATED_KEY_FILE, "this server")
    if key is None:
        return 2
    api_key, origin = key
    catalog = redact_uri(catalog_uri) if catalog_uri else "catalog.db"
    print(f"serving {data_dir.resolve()} (catalog: {catalog})", flush=True)
    address = ServerAddress(host=host, port=port, api_key=api_key, public_read=public_read)
    print(connection_help(address, key_origin=origin), flush=True)
    serve_catalog(
        data_dir,
        host=host,
        port=port,
        api_key=api_key,
        catalog_uri=catalog_uri,
        tables_uri=tables_uri,
        public_read=public_read,
    )
    return 0
