"""A console served on a free loopback port over a real session, for the console tests."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from plate_harness import SessionHarness, open_test_session

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.console.server import ConsoleServer
from hcs_orchestrator.console.wiring import Console, console_for

#: The console's API key in these tests.
CONSOLE_KEY = "consoletestkey0123456789"


@dataclass
class ServedConsole:
    """A session, its console, and the server serving it."""

    harness: SessionHarness
    console: Console
    server: ConsoleServer

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ws_url(self) -> str:
        return f"ws://{self.server.host}:{self.server.port}/ws/live"


@contextlib.contextmanager
def served_console(
    config: MicroscopeConfig,
    data_dir: Path,
    *,
    public_read: bool = False,
    lab_dir: Path | None = None,
    shared_memory: bool = False,
) -> Iterator[ServedConsole]:
    """A real session with its console served on 127.0.0.1, port chosen by the system."""
    with open_test_session(config, data_dir) as harness:
        console = console_for(
            harness.session,
            api_key=CONSOLE_KEY,
            public_read=public_read,
            lab_dir=lab_dir,
            shared_memory=shared_memory,
        )
        try:
            with ConsoleServer(console.app) as server:
                yield ServedConsole(harness, console, server)
        finally:
            console.close()
