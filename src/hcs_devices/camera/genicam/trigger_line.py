"""The emulation of a trigger wire into the fake camera's input line ``Line0``.

A real camera on hardware trigger starts one exposure per rising edge on its input
line; the Squid board sends that edge down a cable. Aravis's fake camera has no input
line: it makes frames only in free run or on its software trigger. :class:`LineInput`
emulates the cable's end, not the camera: a UDP socket on 127.0.0.1 where each datagram
is one rising edge. On an edge, when the camera is acquiring in TriggerMode On with
TriggerSource Line0, it makes the fake camera take exactly one frame through the fake
camera's own registers: it switches TriggerSource to Software, sets TriggerSoftware,
waits until the camera acknowledges it (the camera's stream loop clears the register
as it starts the frame) and switches TriggerSource back to Line0. An edge in any other
mode, or while the camera is not acquiring, is ignored, as a real camera ignores it.

The datagram :data:`COUNTS_QUERY` is not an edge: the input answers it with its
counters as JSON (:class:`LineCounts`), so a test in another process can check that
every edge sent started one frame. :func:`send_edge` and :func:`query_counts` are the
two ends a test or an emulated board uses.

Settings a client writes while an edge is being turned into a frame (a millisecond)
may be overwritten when TriggerSource is switched back: send edges only while the
camera's trigger settings stay put, as a real acquisition does.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

#: The datagram that asks for the counters instead of being an edge.
COUNTS_QUERY = b"counts?"
#: What an edge datagram carries (any datagram but the query is an edge).
EDGE = b"\x01"
#: Fake camera registers (Aravis's ``FAKE_CAMERA_REGISTER_*``).
ACQUISITION_REGISTER = 0x124
TRIGGER_MODE_REGISTER = 0x300
TRIGGER_SOURCE_REGISTER = 0x304
TRIGGER_SOFTWARE_REGISTER = 0x30C
#: TriggerSource values of the fake camera.
SOURCE_LINE0 = 0
SOURCE_SOFTWARE = 1
#: Time allowed for the camera to take up a trigger (its check runs at ``trigger_hz``;
#: a loaded machine can hold the camera's thread up for a while).
ACKNOWLEDGE_TIMEOUT_S = 2.0
#: Interval between checks for the acknowledgement.
POLL_S = 0.0002


@dataclass(frozen=True)
class LineCounts:
    """What the line input has seen.

    Attributes:
        edges: rising edges received.
        frames: frames they started (one per edge in Line0 mode while acquiring).
        ignored: edges in another mode or while the camera was not acquiring.
    """

    edges: int = 0
    frames: int = 0
    ignored: int = 0


class LineInput:
    """A UDP socket on 127.0.0.1 standing for the wire into the fake camera's Line0.

    Args:
        camera: the ``Aravis.FakeCamera`` whose registers to drive (``GvFakeCamera.
            get_fake_camera()``).
        port: UDP port (0: a free one; :attr:`address` says which).
    """

    def __init__(self, camera: Any, port: int = 0) -> None:
        self._camera = camera
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind(("127.0.0.1", port))
        self._socket.settimeout(0.1)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counts = LineCounts()
        self._thread = threading.Thread(target=self._run, name="fake-camera-line0", daemon=True)
        self._thread.start()

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) where edges are sent."""
        host, port = self._socket.getsockname()
        return str(host), int(port)

    @property
    def counts(self) -> LineCounts:
        """The counters now."""
        with self._lock:
            return self._counts

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, sender = self._socket.recvfrom(64)
            except TimeoutError:
                continue
            except OSError:
                return  # closed
            if data == COUNTS_QUERY:
                self._socket.sendto(json.dumps(asdict(self.counts)).encode(), sender)
            else:
                self._edge()

    def _register(self, address: int) -> int:
        return int(self._camera.read_register(address)[1])

    def _edge(self) -> None:
        """One rising edge: one frame in Line0 mode while acquiring, else nothing."""
        armed = (
            self._register(ACQUISITION_REGISTER) != 0
            and self._register(TRIGGER_MODE_REGISTER) == 1
            and self._register(TRIGGER_SOURCE_REGISTER) == SOURCE_LINE0
        )
        started = armed and self._one_frame()
        with self._lock:
            c = self._counts
            self._counts = LineCounts(
                c.edges + 1, c.frames + int(started), c.ignored + int(not started)
            )

    def _one_frame(self) -> bool:
        """Have the camera take one frame through its software trigger; whether it did."""
        camera = self._camera
        camera.write_register(TRIGGER_SOURCE_REGISTER, SOURCE_SOFTWARE)
        camera.write_register(TRIGGER_SOFTWARE_REGISTER, 1)
        deadline = time.monotonic() + ACKNOWLEDGE_TIMEOUT_S
        taken = False
        while not self._stop.is_set():
            if self._register(TRIGGER_SOFTWARE_REGISTER) == 0:
                taken = True
                break
            if time.monotonic() > deadline:
                break
            self._stop.wait(POLL_S)
        if not taken:  # the camera stopped acquiring meanwhile
            camera.write_register(TRIGGER_SOFTWARE_REGISTER, 0)
        camera.write_register(TRIGGER_SOURCE_REGISTER, SOURCE_LINE0)
        return taken

    def close(self) -> None:
        """Stop listening (safe to repeat)."""
        self._stop.set()
        self._socket.close()
        if self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)


def send_edge(address: tuple[str, int]) -> None:
    """Send one rising edge to a line input at ``address``."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as wire:
        wire.sendto(EDGE, address)


def query_counts(address: tuple[str, int], timeout_s: float = 2.0) -> LineCounts:
    """Ask the line input at ``address`` for its counters.

    On loopback a datagram is queued at the receiver when ``sendto`` returns, and the
    input handles datagrams in order: the answer counts every edge sent before.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        probe.settimeout(timeout_s)
        probe.sendto(COUNTS_QUERY, address)
        data, _ = probe.recvfrom(1024)
    return LineCounts(**json.loads(data))
