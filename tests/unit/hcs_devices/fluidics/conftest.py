"""Fixtures for the fluidics unit tests: emulators on real pseudo-terminals, leak checks."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest

from hcs_devices.fluidics.mvp.driver import MvpChainDriver, mvp_serial_settings
from hcs_devices.fluidics.mvp.emulator import MvpChainEmulator
from hcs_devices.fluidics.pump.emulator import Minipuls3Emulator
from hcs_devices.fluidics.pump.minipuls3 import Minipuls3Driver, minipuls3_serial_settings
from hcs_devices.fluidics.transport import SerialTransport
from hcs_devices.serial.pty_server import PtyServer

OUR_THREADS = ("hcs-serial-", "pty-")


def _our_threads() -> set[str]:
    return {t.name for t in threading.enumerate() if t.name.startswith(OUR_THREADS)}


@pytest.fixture(autouse=True)
def no_leaked_threads_or_ports() -> Iterator[None]:
    """Fail a test that leaves serial worker threads, emulator threads or fds behind."""
    threads_before = _our_threads()
    fds_before = len(os.listdir("/proc/self/fd"))
    yield
    deadline = time.monotonic() + 2.0
    while _our_threads() - threads_before and time.monotonic() < deadline:
        threading.Event().wait(0.01)
    assert _our_threads() - threads_before == set(), "leaked threads"
    assert len(os.listdir("/proc/self/fd")) <= fds_before, "leaked file descriptors"


@pytest.fixture
def chain_emulator() -> MvpChainEmulator:
    return MvpChainEmulator((8, 6, 4), speed_factor=100.0)


@pytest.fixture
def chain(chain_emulator: MvpChainEmulator) -> Iterator[MvpChainDriver]:
    """A blocking MVP driver on a pty served by ``chain_emulator``."""
    with PtyServer(chain_emulator, link_name="mvp") as server:
        transport = SerialTransport(mvp_serial_settings(str(server.path)), name="test chain")
        transport.open()
        try:
            yield MvpChainDriver(
                transport, reply_timeout_s=0.15, move_timeout_s=2.0, poll_interval_s=0.005
            )
        finally:
            transport.close()


@pytest.fixture
def pump_emulator() -> Minipuls3Emulator:
    return Minipuls3Emulator(tube_ul_per_rev=50.0, unit_id=30)


@pytest.fixture
def pump_driver(pump_emulator: Minipuls3Emulator) -> Iterator[Minipuls3Driver]:
    """A blocking Minipuls 3 driver on a pty served by ``pump_emulator``."""
    with PtyServer(pump_emulator, link_name="pump") as server:
        transport = SerialTransport(minipuls3_serial_settings(str(server.path)), name="pump")
        transport.open()
        try:
            yield Minipuls3Driver(transport, unit_id=30, reply_timeout_s=0.15)
        finally:
            transport.close()
