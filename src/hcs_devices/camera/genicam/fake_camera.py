"""Aravis's GigE Vision fake camera, served on loopback by its own process.

``python -m hcs_devices.camera.genicam.fake_camera --serial HCS01`` (or
``hcs emulate camera --serial HCS01``) serves ``Aravis.GvFakeCamera`` on 127.0.0.1: a
2048 x 2048 camera (Mono8, Mono16, Bayer, RGB8) speaking the real GigE Vision protocols
(GVCP for control, GVSP for frames), written by the Aravis project. It checks for
software triggers ``--trigger-hz`` times a second (1000 by default; the command-line
``arv-fake-gv-camera-0.8`` checks 25 times). It prints ``ready ADDRESS SERIAL line
HOST:PORT`` once it listens and runs until SIGTERM or SIGINT.

``line HOST:PORT`` is the end of an emulated trigger wire into the camera's ``Line0``
(:mod:`.trigger_line`): each UDP datagram sent there is one rising edge, and makes the
camera take one frame when it is on hardware trigger from Line0. ``hcs emulate squid
--trigger-wire HOST:PORT`` connects the emulated Squid board's trigger output to it.

The control port of GigE Vision is fixed (UDP 3956) and the fake camera serves only on
an address a network interface has, so one machine serves one fake camera on
127.0.0.1 at a time: :class:`FakeCameraProcess` takes a lock for it, so concurrent test
processes wait for each other instead of failing.

Each frame of the fake camera is a diagonal ramp that moves with its frame id, scaled
by gain and exposure: :func:`mono16_pattern` computes it, so a test can check every
pixel received against what the camera sent.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path
from types import TracebackType
from typing import IO

import numpy as np

from hcs_devices.camera.genicam.aravis import GVCP_PORT, load_aravis
from hcs_devices.camera.genicam.trigger_line import LineCounts, LineInput, query_counts

#: Where the fake camera listens.
LOOPBACK = "127.0.0.1"
#: Its software-trigger check frequency by default (Hz).
TRIGGER_HZ = 1000.0


def mono16_pattern(
    frame_id: int, width: int, height: int, *, exposure_ms: float = 10.0, gain: int = 0
) -> np.ndarray:
    """The Mono16 frame the fake camera sends as ``frame_id`` (its diagonal ramp).

    Pixel (x, y) is ``((256 * (x + y + frame_id)) % 65535) * scale``, clipped to 16 bits
    and truncated, with ``scale = 1 + gain + log10(exposure_us / 10000)`` (exactly 1 at
    gain 0 and 10 ms, 2 at gain 1 and 10 ms, 3 at gain 1 and 100 ms). A pixel depends on
    ``x + y`` only, so row ``y`` is the diagonal line from ``y`` on: the frame is returned
    as a read-only view of that line.
    """
    diagonal = np.arange(width + height - 1, dtype=np.int64)
    ramp = ((256 * (diagonal + frame_id)) % 65535).astype(np.float64)
    scale = 1.0 + gain + np.log10(round(exposure_ms * 1000) / 10000.0)
    line = np.clip(ramp * scale, 0, 65535).astype(np.uint16)
    return np.lib.stride_tricks.sliding_window_view(line, width)[:height]


def _port_free(address: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, GVCP_PORT))
        except OSError:
            return False
    return True


def serve(address: str, serial: str, trigger_hz: float, line_port: int = 0) -> int:
    """Serve the fake camera until SIGTERM or SIGINT; 1 when its port is taken.

    ``line_port`` is the UDP port of the emulated wire into Line0 on 127.0.0.1 (0: a
    free one, printed on the ``ready`` line).
    """
    if not _port_free(address):
        print(f"error: GVCP port {GVCP_PORT} on {address} is in use", file=sys.stderr)
        return 1
    aravis = load_aravis()
    glib = importlib.import_module("gi.repository.GLib")
    camera = aravis.GvFakeCamera.new(address, serial)
    if not camera.is_running():
        print(f"error: the fake camera could not listen on {address}", file=sys.stderr)
        return 1
    fake = camera.get_fake_camera()
    fake.set_trigger_frequency(trigger_hz)
    try:
        line = LineInput(fake, line_port)
    except OSError as exc:
        print(f"error: the Line0 input cannot listen on UDP {line_port}: {exc}", file=sys.stderr)
        return 1
    loop = glib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        glib.unix_signal_add(glib.PRIORITY_DEFAULT, sig, loop.quit)
    host, port = line.address
    print(f"ready {address} {serial} line {host}:{port}", flush=True)
    try:
        loop.run()
    finally:
        line.close()
    del camera
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line: serve the fake camera."""
    parser = argparse.ArgumentParser(
        prog="hcs emulate camera", description="serve Aravis's GigE Vision fake camera"
    )
    parser.add_argument("--serial", default="HCS01", help="the camera's serial number")
    parser.add_argument("--address", default=LOOPBACK, help="a local interface's address")
    parser.add_argument(
        "--trigger-hz", type=float, default=TRIGGER_HZ, help="software-trigger checks per second"
    )
    parser.add_argument(
        "--line-port",
        type=int,
        default=0,
        help="UDP port on 127.0.0.1 of the emulated trigger wire into Line0 (default: a free one)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.line_port <= 65535:
        parser.error(f"--line-port must be in 0..65535, got {args.line_port}")
    return serve(args.address, args.serial, args.trigger_hz, args.line_port)


class FakeCameraProcess:
    """The fake camera in a child process on 127.0.0.1, for tests and benchmarks.

    A context manager: entering takes the machine-wide lock of the GigE Vision port
    (waiting while another process's fake camera runs), starts the
    camera and waits for it to listen; leaving stops it and releases the lock.
    :meth:`kill` ends it abruptly (a camera unplugged). :attr:`line_address` is where
    trigger edges for its Line0 go (:mod:`.trigger_line`), :meth:`line_counts` what
    that input has seen.

    Args:
        serial: the camera's serial number.
        trigger_hz: software-trigger checks per second.
    """

    def __init__(self, serial: str = "HCS01", *, trigger_hz: float = TRIGGER_HZ) -> None:
        self.serial = serial
        self.address = LOOPBACK
        self.trigger_hz = trigger_hz
        self.process: subprocess.Popen[str] | None = None
        #: (host, port) of the emulated wire into Line0, once started.
        self.line_address: tuple[str, int] | None = None
        self._lock: IO[str] | None = None

    @staticmethod
    def lock_path() -> Path:
        """The lock file of the fake camera's port on this machine."""
        return Path(tempfile.gettempdir()) / f"hcs-gvcp-{LOOPBACK}-{GVCP_PORT}.lock"

    def _take_lock(self) -> None:
        lock = open(self.lock_path(), "a")  # noqa: SIM115 (held until stop)
        fcntl.flock(lock, fcntl.LOCK_EX)  # waits while another fake camera runs
        self._lock = lock

    def start(self) -> FakeCameraProcess:
        """Start the camera; return once it listens."""
        self._take_lock()
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "hcs_devices.camera.genicam.fake_camera",
                    "--serial",
                    self.serial,
                    "--trigger-hz",
                    str(self.trigger_hz),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert self.process.stdout is not None
            line = self.process.stdout.readline()
            if not line.startswith("ready"):
                _, err = self.process.communicate(timeout=10)
                raise RuntimeError(f"the fake camera did not start: {line}{err}")
            host, port = line.split()[-1].rsplit(":", 1)
            self.line_address = (host, int(port))
        except BaseException:
            self.stop()
            raise
        return self

    def line_counts(self) -> LineCounts:
        """Edges the camera's Line0 input received, frames they started, edges ignored."""
        if self.line_address is None:
            raise RuntimeError("the fake camera is not running")
        return query_counts(self.line_address)

    def kill(self) -> None:
        """End the camera process at once (SIGKILL), as if the camera were unplugged."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def stop(self) -> None:
        """Stop the camera and release the port's lock (safe to repeat)."""
        process, self.process = self.process, None
        self.line_address = None
        if process is not None:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            for pipe in (process.stdout, process.stderr):
                if pipe is not None:
                    pipe.close()
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.close()  # releases the flock

    def __enter__(self) -> FakeCameraProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


if __name__ == "__main__":
    sys.exit(main())
