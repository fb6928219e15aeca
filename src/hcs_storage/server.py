"""Server mode: a Tiled server on a data directory (``hcs serve``).

The server serves the same data directory as the embedded catalog
(:func:`hcs_storage.catalog.open_catalog`): the SQLite catalog in it by default, or a
PostgreSQL catalog for a facility that serves many microscopes. Its rules:

- it listens on the loopback interface (127.0.0.1) unless told otherwise;
- writing needs the API key; reading needs it too unless ``public_read`` is set;
- the key never travels on a command line: it comes from ``$HCS_TILED_API_KEY``, a key
  file, or is generated and written to a key file readable by its owner only;
- it reads files only under the data directory's ``frames/`` and ``tiled/``: an asset
  pointing anywhere else (after resolving ``..`` and symlinks) is refused when it is
  registered and again whenever it would be read
  (:func:`~hcs_storage.storage_guard.install_readable_storage_guard`);
- its logs never hold the key: ``?api_key=`` values and the key itself are redacted
  from every log record (:func:`~hcs_storage.redact.redact_secrets_in_logs`).

:func:`serve` runs a server in the foreground (the command line);
:class:`~hcs_storage.tiled_server.TiledServer` runs one in a child process (tests,
notebooks, scripts). The key handling is in :mod:`hcs_storage.api_key`, the guard in
:mod:`hcs_storage.storage_guard`, the log redaction in :mod:`hcs_storage.redact`.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

from hcs_storage.api_key import API_KEY_ENV, check_api_key
from hcs_storage.redact import redact_secrets_in_logs
from hcs_storage.storage_guard import install_readable_storage_guard

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000


def is_loopback(host: str) -> bool:
    """True if ``host`` names the loopback interface only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_server_app(
    data_dir: str | Path,
    *,
    api_key: str,
    catalog_uri: str | None = None,
    tables_uri: str | None = None,
    public_read: bool = False,
) -> Any:
    """The Tiled web application serving a data directory.

    Args:
        data_dir: the data directory.
        api_key: the single-user API key: required for writing, and for reading
            unless ``public_read``.
        catalog_uri: the catalog's SQL URI (``postgresql://user@host/db``); the data
            directory's SQLite catalog by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.

    Returns:
        A FastAPI application (ASGI), ready for uvicorn. Every Tiled catalog in this
        process then refuses assets outside its readable storage (see
        :func:`~hcs_storage.storage_guard.install_readable_storage_guard`).
    """
    from tiled.config import Authentication
    from tiled.server.app import build_app

    from hcs_storage.catalog import catalog_adapter

    install_readable_storage_guard()
    tree = catalog_adapter(data_dir, catalog_uri, tables_uri=tables_uri)
    authentication = Authentication(
        single_user_api_key=check_api_key(api_key), allow_anonymous_access=public_read
    )
    return build_app(tree, authentication=authentication)


@dataclass(frozen=True)
class ServerAddress:
    """Where a server listens and how to connect to it.

    Attributes:
        host: the interface it listens on.
        port: the port.
        api_key: the API key.
        public_read: whether reading needs no key.
    """

    host: str
    port: int
    api_key: str
    public_read: bool = False

    @property
    def url(self) -> str:
        """The server's base URL (no key in it)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def web_ui(self) -> str:
        """The browser address of Tiled's web interface, with the key (never log it)."""
        return f"{self.url}/ui/?api_key={quote_plus(self.api_key)}"

    def connect(self, *, with_key: bool = True) -> Any:
        """A Tiled client on this server (anonymous if ``with_key`` is False)."""
        from tiled.client import from_uri

        if with_key:
            return from_uri(self.url, api_key=self.api_key)
        return from_uri(self.url)


def connection_help(address: ServerAddress, *, key_origin: str) -> str:
    """What ``hcs serve`` prints: the address, where the key is, and how to connect.

    The key itself is never part of it (the output often ends up in a log file).

    Args:
        address: where the server listens.
        key_origin: where the key is (see :func:`~hcs_storage.api_key.resolve_api_key`).
    """
    if address.api_key in key_origin:
        raise ValueError("key_origin must say where the key is, not contain it")
    reading = (
        "anyone who can connect may read; writing needs the key"
        if address.public_read
        else "reading and writing need the key"
    )
    return "\n".join(
        [
            f"Tiled server on {address.url} ({reading})",
            f"  API key:  {key_origin}",
            f"  web UI:   {address.url}/ui/?api_key=<API key>",
            "  Python:   from tiled.client import from_uri",
            f'            catalog = from_uri("{address.url}", api_key="<API key>")',
            f"  (set {API_KEY_ENV} or pass --api-key-file to reuse a key across restarts)",
        ]
    )


def serve(
    data_dir: str | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    api_key: str,
    catalog_uri: str | None = None,
    tables_uri: str | None = None,
    public_read: bool = False,
    log_level: str = "info",
) -> None:
    """Run a Tiled server on a data directory in the foreground, until interrupted.

    Args:
        data_dir: the data directory.
        host: the interface to listen on (loopback by default).
        port: the port.
        api_key: the API key (see :func:`build_server_app`).
        catalog_uri: the catalog's SQL URI; SQLite in the data directory by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.
        log_level: uvicorn's log level. Whatever it is, no log record of this process
            holds the key or an ``api_key=`` value (see
            :func:`~hcs_storage.redact.redact_secrets_in_logs`).
    """
    import uvicorn

    redact_secrets_in_logs([api_key])
    app = build_server_app(
        data_dir,
        api_key=api_key,
        catalog_uri=catalog_uri,
        tables_uri=tables_uri,
        public_read=public_read,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on now (another process may take it before you)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hcs_storage.server DATA_DIR``: the child process of a ``TiledServer``.

    The API key comes from ``$HCS_TILED_API_KEY`` only (never the command line).
    """
    parser = argparse.ArgumentParser(prog="python -m hcs_storage.server")
    parser.add_argument("data_dir", type=Path)
    parser.add_argument("--host", default=DEFAULT_HOST)
    parser.add_argument("--port", type=int, default=DEFAULT_PORT)
    parser.add_argument("--catalog-uri", default=None)
    parser.add_argument("--tables-uri", default=None)
    parser.add_argument("--public-read", action="store_true")
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    api_key = os.environ.get(API_KEY_ENV)
    if not api_key:
        parser.error(f"set {API_KEY_ENV}")
    serve(
        args.data_dir,
        host=args.host,
        port=args.port,
        api_key=api_key,
        catalog_uri=args.catalog_uri,
        tables_uri=args.tables_uri,
        public_read=args.public_read,
        log_level=args.log_level,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
