"""Server mode: a Tiled server on a data directory (``hcs serve``).

The server serves the same data directory as the embedded catalog
(:func:`hcs_storage.catalog.open_catalog`): the SQLite catalog in it by default, or a
PostgreSQL catalog for a facility that serves many microscopes. Its rules:

- it listens on the loopback interface (127.0.0.1) unless told otherwise;
- writing needs the API key; reading needs it too unless ``public_read`` is set;
- it reads files only under the data directory's ``frames/`` and ``tiled/``: a data
  source pointing anywhere else is refused.

:func:`serve` runs a server in the foreground (the command line);
:class:`TiledServer` runs one in a child process (tests, notebooks, scripts).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote_plus

from hcs_storage.catalog import catalog_adapter

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
#: Environment variable holding the API key (kept off the command line, where other
#: users of the machine could read it).
API_KEY_ENV = "HCS_TILED_API_KEY"
#: Shortest API key accepted.
MIN_API_KEY_LENGTH = 16
#: Longest wait for a server to start or stop.
STARTUP_TIMEOUT_S = 60.0


class ServerError(RuntimeError):
    """The server could not be configured or started."""


def new_api_key() -> str:
    """A random API key (64 hexadecimal characters)."""
    return secrets.token_hex(32)


def check_api_key(key: str) -> str:
    """Return ``key`` if Tiled accepts it as an API key and it is long enough.

    Raises:
        ServerError: the key is too short or has characters other than letters and
            digits (Tiled requires that, so that ``?api_key=`` URLs stay unambiguous).
    """
    if len(key) < MIN_API_KEY_LENGTH:
        raise ServerError(f"the API key must have at least {MIN_API_KEY_LENGTH} characters")
    if not (key.isascii() and key.isalnum()):
        raise ServerError("the API key may contain only letters and digits")
    return key


def resolve_api_key(given: str | None) -> tuple[str, str]:
    """The API key to use and where it came from.

    Returns:
        ``(key, source)``: the key given, else ``$HCS_TILED_API_KEY``, else a new
        random one; ``source`` is ``"given"``, ``"env"`` or ``"generated"``.
    """
    if given:
        return check_api_key(given), "given"
    if os.environ.get(API_KEY_ENV):
        return check_api_key(os.environ[API_KEY_ENV]), "env"
    return new_api_key(), "generated"


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
        A FastAPI application (ASGI), ready for uvicorn.
    """
    from tiled.config import Authentication
    from tiled.server.app import build_app

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
        """The browser address of Tiled's web interface, with the key."""
        return f"{self.url}/ui/?api_key={quote_plus(self.api_key)}"

    def connect(self, *, with_key: bool = True) -> Any:
        """A Tiled client on this server (anonymous if ``with_key`` is False)."""
        from tiled.client import from_uri

        if with_key:
            return from_uri(self.url, api_key=self.api_key)
        return from_uri(self.url)


def connection_help(address: ServerAddress, *, key_source: str = "generated") -> str:
    """What ``hcs serve`` prints: the address, the key, and how to connect."""
    given = f"${API_KEY_ENV}" if key_source == "env" else "--api-key"
    key_line = (
        f"  API key:  {address.api_key}"
        if key_source == "generated"
        else f"  API key:  the one you gave ({given})"
    )
    reading = (
        "anyone who can connect may read; writing needs the key"
        if address.public_read
        else "reading and writing need the key"
    )
    return "\n".join(
        [
            f"Tiled server on {address.url} ({reading})",
            key_line,
            f"  web UI:   {address.url}/ui/?api_key=<API key>",
            "  Python:   from tiled.client import from_uri",
            f'            catalog = from_uri("{address.url}", api_key="<API key>")',
            f"  (set {API_KEY_ENV} to reuse a key across restarts)",
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
        log_level: uvicorn's log level.
    """
    import uvicorn

    app = build_server_app(
        data_dir,
        api_key=api_key,
        catalog_uri=catalog_uri,
        tables_uri=tables_uri,
        public_read=public_read,
    )
    uvicorn.run(app, host=host, port=port, log_level=log_level)


class TiledServer:
    """A Tiled server on a data directory, in a child process.

    Use it as a context manager; the server stops when the block ends::

        with TiledServer("hcs-data") as server:
            catalog = server.address.connect()

    The server runs in its own process (``python -m hcs_storage.server``) because
    Tiled keeps some settings (the API key among them) process-wide: a server built
    in a process that also has an embedded catalog open would change that catalog's key.

    Args:
        data_dir: the data directory.
        host: the interface to listen on (loopback by default).
        port: the port; 0 picks a free one.
        api_key: the API key; a random one by default.
        catalog_uri: the catalog's SQL URI; SQLite in the data directory by default.
        tables_uri: SQL URI for event tables; DuckDB in the data directory by default.
        public_read: let anyone who can connect read without the key.
    """

    def __init__(
        self,
        data_dir: str | Path,
        *,
        host: str = DEFAULT_HOST,
        port: int = 0,
        api_key: str | None = None,
        catalog_uri: str | None = None,
        tables_uri: str | None = None,
        public_read: bool = False,
    ) -> None:
        self._data_dir = Path(data_dir).resolve()
        self._host = host
        self._port = port
        self._api_key = check_api_key(api_key) if api_key else new_api_key()
        self._catalog_uri = catalog_uri
        self._tables_uri = tables_uri
        self._public_read = public_read
        self._process: subprocess.Popen[bytes] | None = None
        self._address: ServerAddress | None = None
        self._log: Any = None

    @property
    def address(self) -> ServerAddress:
        """Where the server listens (once started)."""
        if self._address is None:
            raise ServerError("the server is not running")
        return self._address

    @property
    def data_dir(self) -> Path:
        """The data directory served."""
        return self._data_dir

    @property
    def pid(self) -> int:
        """The server process's id."""
        if self._process is None:
            raise ServerError("the server is not running")
        return self._process.pid

    def start(self, timeout_s: float = STARTUP_TIMEOUT_S) -> ServerAddress:
        """Start the server and wait until it answers.

        Raises:
            ServerError: it exited, or did not answer within ``timeout_s``.
        """
        import httpx

        port = self._port or free_port(self._host)
        args = [
            sys.executable,
            "-m",
            "hcs_storage.server",
            str(self._data_dir),
            "--host",
            self._host,
            "--port",
            str(port),
            "--log-level",
            "warning",
        ]
        if self._catalog_uri:
            args += ["--catalog-uri", self._catalog_uri]
        if self._tables_uri:
            args += ["--tables-uri", self._tables_uri]
        if self._public_read:
            args.append("--public-read")
        self._log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by stop())
        self._process = subprocess.Popen(
            args,
            env={**os.environ, API_KEY_ENV: self._api_key},
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        address = ServerAddress(self._host, port, self._api_key, self._public_read)
        deadline = time.monotonic() + timeout_s
        pause = threading.Event()
        with httpx.Client(trust_env=False) as client:
            while True:
                if self._process.poll() is not None:
                    output = self.log(4000)
                    self.stop()
                    raise ServerError(f"the Tiled server exited:\n{output}")
                try:
                    if client.get(f"{address.url}/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    self.stop()
                    raise ServerError(f"the Tiled server did not answer within {timeout_s} s")
                pause.wait(0.1)  # poll interval (never set: a sleep that ruff allows)
        self._address = address
        return address

    def log(self, limit: int = 20_000) -> str:
        """The end of the server's output (its errors and uvicorn's messages)."""
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")[-limit:]

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop the server process (SIGTERM, then SIGKILL); safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout_s)
        if self._log is not None:
            self._log.close()
            self._log = None
        self._address = None

    def __enter__(self) -> TiledServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def free_port(host: str = DEFAULT_HOST) -> int:
    """A TCP port nobody listens on now (another process may take it before you)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hcs_storage.server DATA_DIR``: what :class:`TiledServer` runs.

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
