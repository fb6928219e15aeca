"""One owner per data directory: an exclusive lock that names its holder.

An acquisition session owns its data directory: it moves the stage, writes frames
into ``frames/``, appends to the journals in ``spool/`` and forwards them into the
catalog. Two sessions on one directory would interleave all of that, so the second
one is refused at once, before anything moves or is written::

    hcs-data is in use by pid 1234 (hcs acquire plate.yaml) on host scope1 since
    2026-11-30 14:02:11 UTC: ...

The lock is ``DATA_DIR/owner.lock``, locked with ``flock``: the kernel drops it when the
holding process ends, however it ends (``kill -9`` included), so a crash never leaves a
directory locked. The file's content only describes the holder (pid, host, command,
start time) for that message; it is rewritten by each new owner and emptied on release.
The file itself is never deleted (deleting a lock file lets two processes lock two
different files of the same name).

``flock`` is a local lock: on a network file system two machines may not see each
other's lock. Keep a data directory on a disk local to the microscope's computer.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import shlex
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

OWNER_FILE = "owner.lock"


@dataclass(frozen=True)
class Holder:
    """Who holds a data directory.

    Attributes:
        pid: the holding process's id.
        host: the machine it runs on.
        command: its command line (e.g. ``hcs acquire plate.yaml``).
        since: when it took the directory (seconds since the epoch).
    """

    pid: int
    host: str
    command: str
    since: float

    def describe(self) -> str:
        """``pid 1234 (hcs acquire plate.yaml) on host scope1 since 2026-11-30 ... UTC``."""
        when = datetime.datetime.fromtimestamp(self.since, tz=datetime.UTC)
        return (
            f"pid {self.pid} ({self.command}) on host {self.host} "
            f"since {when:%Y-%m-%d %H:%M:%S} UTC"
        )


class DataDirInUseError(RuntimeError):
    """Another live process owns the data directory.

    Attributes:
        data_dir: the directory.
        holder: who holds it (None if it has not written its description yet).
    """

    def __init__(self, data_dir: Path, holder: Holder | None) -> None:
        self.data_dir = data_dir
        self.holder = holder
        who = holder.describe() if holder is not None else "another process"
        super().__init__(
            f"{data_dir} is in use by {who}: one acquisition session at a time may own a "
            "data directory. Wait for it to finish (or stop it), or give this one another "
            "--data-dir."
        )


def current_command() -> str:
    """This process's command line, program name first (``hcs acquire plate.yaml``)."""
    argv = list(sys.argv) or [sys.executable]
    program = Path(argv[0]).name or Path(sys.executable).name
    return shlex.join([program, *argv[1:]])


def read_holder(data_dir: str | Path) -> Holder | None:
    """The holder described in a data directory's lock file (None if none is described).

    The description may be stale: it is only true while the lock is held.
    """
    try:
        text = (Path(data_dir) / OWNER_FILE).read_text()
        fields: dict[str, Any] = json.loads(text)
        return Holder(
            pid=int(fields["pid"]),
            host=str(fields["host"]),
            command=str(fields["command"]),
            since=float(fields["since"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


class DataDirOwner:
    """The exclusive owner lock of a data directory (a context manager).

    ``DataDirOwner(data_dir).acquire()`` takes the lock or raises
    :class:`DataDirInUseError` at once (it never waits); :meth:`release` (or leaving
    the ``with`` block) gives it back, and so does the end of the process.

    Args:
        data_dir: the data directory (created if missing).
        command: how to describe the holder; this process's command line by default.
    """

    def __init__(self, data_dir: str | Path, *, command: str | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.path = self.data_dir / OWNER_FILE
        self.command = command or current_command()
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        """True while this object holds the lock."""
        return self._fd is not None

    def acquire(self) -> DataDirOwner:
        """Take the lock and describe this process in the lock file.

        Returns:
            self.

        Raises:
            DataDirInUseError: another process holds it (named in the message).
        """
        if self._fd is not None:
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirInUseError(self.data_dir, read_holder(self.data_dir)) from None
        except BaseException:
            os.close(fd)
            raise
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": self.command,
            "since": time.time(),
        }
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(holder).encode() + b"\n", 0)
        except BaseException:
            os.close(fd)  # releases the lock
            raise
        self._fd = fd
        return self

    def release(self) -> None:
        """Empty the holder's description and unlock (safe to call twice)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor drops the flock

    def __enter__(self) -> DataDirOwner:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
