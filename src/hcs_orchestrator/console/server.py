"""Run the console: in the foreground (``hcs console``) or in a thread (tests, benchmarks).

It listens on 127.0.0.1 unless told otherwise. :class:`ConsoleServer` binds its socket
before it starts, so a test can ask for port 0 and learn the port the system chose.
"""

from __future__ import annotations

import socket
import threading
from typing import Any

import uvicorn

#: Where the console listens by default: this machine only.
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8010


class ConsoleServer:
    """A console application served by uvicorn from a thread of its own.

    Args:
        app: the ASGI application (:func:`~hcs_orchestrator.console.app.build_console_app`).
        host: interface to listen on.
        port: port (0: any free port; see :attr:`port`).
    """

    def __init__(self, app: Any, host: str = DEFAULT_HOST, port: int = 0) -> None:
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", ws="websockets-sansio", lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._socket]}, name="hcs-console"
        )

    @property
    def url(self) -> str:
        """The console's address."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout_s: float = 30.0) -> ConsoleServer:
        """Start serving; returns once the server accepts connections."""
        self._thread.start()
        ready = threading.Event()
        while not self._server.started and self._thread.is_alive():
            if ready.wait(0.01) or timeout_s <= 0:
                break
            timeout_s -= 0.01
        if not self._server.started:
            raise RuntimeError(f"the console did not start on {self.url}")
        return self

    def stop(self) -> None:
        """Stop serving and close the socket (safe to call twice)."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(30.0)
        self._socket.close()

    def __enter__(self) -> ConsoleServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def serve_console(app: Any, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
    """Serve the console in the foreground until Ctrl-C."""
    uvicorn.run(app, host=host, port=port, log_level="info", ws="websockets-sansio", lifespan="off")
