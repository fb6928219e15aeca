"""A Tiled server on a data directory, in a child process (tests, notebooks, scripts)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from hcs_storage.api_key import API_KEY_ENV, check_api_key, new_api_key
from hcs_storage.server import DEFAULT_HOST, ServerAddress, free_port
from hcs_storage.server_error import ServerError

#: Longest wait for a server to start or stop.
STARTUP_TIMEOUT_S = 60.0


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
