"""Serve an emulator on a pseudo-terminal until SIGINT or SIGTERM (for ``hcs emulate``)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from hcs_devices.serial.pty_server import PtyServer, WireDevice


def add_link_options(parser: argparse.ArgumentParser, default_name: str) -> None:
    """Add ``--directory`` and ``--link-name``: where an emulator's port symlink goes."""
    parser.add_argument(
        "--directory",
        type=Path,
        default=None,
        help="directory of the port's symlink (default: a new temporary directory)",
    )
    parser.add_argument(
        "--link-name",
        default=default_name,
        help=f"file name of the port's symlink (default {default_name})",
    )


@contextmanager
def stop_on_signal() -> Iterator[threading.Event]:
    """An event set by SIGINT or SIGTERM; the previous handlers come back on exit."""
    stop = threading.Event()

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def announce_and_wait(path: Path | str, banner: str, stop: threading.Event) -> None:
    """Print the serial device path (stdout) and a banner (stderr), then wait for ``stop``."""
    print(path, flush=True)
    print(banner, file=sys.stderr, flush=True)
    while not stop.wait(0.5):
        pass


def serve_until_signal(
    device: WireDevice, *, link_name: str, directory: Path | None, banner: str
) -> int:
    """Serve ``device`` on a pseudo-terminal, print its path, and run until interrupted.

    Args:
        device: the emulator.
        link_name: file name of the stable symlink to the pseudo-terminal.
        directory: where the symlink lives (a new temporary directory if None).
        banner: one line describing the emulator, printed after the path.

    Returns:
        the process exit code (0).
    """
    with (
        stop_on_signal() as stop,
        PtyServer(device, link_name=link_name, directory=directory) as server,
    ):
        announce_and_wait(server.path, banner, stop)
    return 0
