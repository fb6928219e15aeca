"""The preview tap: the camera's latest frames for viewers, on a data plane of its own.

Every frame the camera takes is offered to a :class:`PreviewTap` (in live view every
frame, during an acquisition one in ``every_n``). Offering never waits: the tap keeps
at most ``depth`` frames, dropping the oldest, and a publisher thread hands the newest
to each viewer. Each viewer (:class:`PreviewSubscription`) holds one frame; a viewer
slower than the camera misses frames (counted in ``dropped``), the camera and the frame
writer never do. Frames never go through the RunEngine or the documents (rule 5).

Frames are not copied: the tap keeps a reference to the array the camera made, which
nobody writes to afterwards.
"""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: Frames of an acquisition offered to viewers: one in this many, by default.
DEFAULT_EVERY_N = 10


@dataclass(frozen=True)
class FrameMeta:
    """What a viewer shows next to a frame.

    Attributes:
        seq: the frame's number in the tap (1, 2, ...), counting offered frames.
        channel: the channel (or light source) the frame was taken with.
        exposure_ms: exposure time.
        x_um: stage x when the frame was taken.
        y_um: stage y.
        z_um: focus height.
        time_s: when the frame was taken (seconds since the epoch).
        mode: ``"live"`` or ``"acquisition"``.
    """

    seq: int
    channel: str
    exposure_ms: float
    x_um: float
    y_um: float
    z_um: float
    time_s: float
    mode: str

    def as_dict(self) -> dict[str, Any]:
        """The metadata as plain JSON-able data."""
        return asdict(self)


@dataclass(frozen=True)
class PreviewFrame:
    """One frame and its metadata."""

    pixels: np.ndarray
    meta: FrameMeta


class PreviewSubscription:
    """One viewer's latest frame: it holds one, a newer one replaces it.

    Attributes:
        delivered: frames the viewer took.
        dropped: frames replaced before the viewer took them.
    """

    def __init__(self, tap: PreviewTap) -> None:
        self._tap = tap
        self._cond = threading.Condition()
        self._frame: PreviewFrame | None = None
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._closed = False
        self.delivered = 0
        self.dropped = 0

    def push(self, frame: PreviewFrame) -> None:
        """Offer the viewer a newer frame (never waits; called by the tap's thread)."""
        with self._cond:
            if self._frame is not None:
                self.dropped += 1
            self._frame = frame
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)

    def _take(self) -> PreviewFrame | None:
        frame, self._frame = self._frame, None
        if frame is not None:
            self.delivered += 1
        return frame

    def get(self, timeout_s: float | None = None) -> PreviewFrame | None:
        """The next frame (waiting up to ``timeout_s``), or None when none came or closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._frame is not None or self._closed, timeout_s)
            return self._take()

    async def aget(self, timeout_s: float | None = None) -> PreviewFrame | None:
        """The next frame, from an event loop (None when none came in time, or closed)."""
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._frame is not None or self._closed:
                return self._take()
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            pass
        finally:
            with self._cond:
                self._waiters = [w for w in self._waiters if w[1] is not future]
        with self._cond:
            return self._take()

    def close(self) -> None:
        """Stop receiving frames; a waiting ``get`` returns None."""
        self._tap.unsubscribe(self)
        with self._cond:
            self._closed = True
            waiters, self._waiters = self._waiters, []
            self._cond.notify_all()
        for loop, future in waiters:
            loop.call_soon_threadsafe(_wake, future)


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


#: Something that receives each published frame (a shared-memory slot, say).
FrameSink = Callable[[PreviewFrame], None]


class PreviewTap:
    """The camera's latest frames, handed to viewers without ever holding the camera up.

    Args:
        depth: frames kept waiting for the publisher thread (the oldest is dropped).
        every_n: during an acquisition, offer one frame in this many.

    Attributes:
        offered: frames offered to the tap.
        published: frames handed to the viewers.
        dropped: frames dropped before the publisher thread took them.
    """

    def __init__(self, *, depth: int = 2, every_n: int = DEFAULT_EVERY_N) -> None:
        if depth < 1:
            raise ValueError(f"preview depth {depth} must be at least 1")
        self.every_n = check_every_n(every_n)
        self._pending: collections.deque[PreviewFrame] = collections.deque(maxlen=depth)
        self._cond = threading.Condition()
        self._subscriptions: list[PreviewSubscription] = []
        self._sinks: list[FrameSink] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        self._publishing = False
        self.latest: PreviewFrame | None = None
        self.offered = 0
        self.published = 0
        self.dropped = 0

    @property
    def has_viewers(self) -> bool:
        """Whether anyone looks at the frames (else offering them costs nothing)."""
        return bool(self._subscriptions or self._sinks)

    def wants(self, index: int) -> bool:
        """Whether acquisition frame ``index`` (from 0) is previewed: one in ``every_n``."""
        return index % self.every_n == 0

    def offer(self, pixels: np.ndarray, meta: FrameMeta) -> None:
        """Keep ``pixels`` as the latest frame; never waits (drops the oldest kept)."""
        frame = PreviewFrame(pixels, meta)
        with self._cond:
            self.offered += 1
            self.latest = frame
            if not self.has_viewers or self._closed:
                return
            if len(self._pending) == self._pending.maxlen:
                self.dropped += 1
            self._pending.append(frame)
            self._cond.notify()

    def next_seq(self) -> int:
        """The number the next offered frame gets."""
        return self.offered + 1

    def subscribe(self) -> PreviewSubscription:
        """A new viewer of the frames offered from now on."""
        subscription = PreviewSubscription(self)
        with self._cond:
            self._subscriptions.append(subscription)
            self._start()
        return subscription

    def unsubscribe(self, subscription: PreviewSubscription) -> None:
        """Stop handing frames to ``subscription``."""
        with self._cond:
            if subscription in self._subscriptions:
                self._subscriptions.remove(subscription)

    def add_sink(self, sink: FrameSink) -> None:
        """Hand every published frame to ``sink`` too (from the publisher thread)."""
        with self._cond:
            self._sinks.append(sink)
            self._start()

    def remove_sink(self, sink: FrameSink) -> None:
        """Stop handing frames to ``sink``; returns once it is not being called."""
        with self._cond:
            if sink in self._sinks:
                self._sinks.remove(sink)
            self._cond.wait_for(lambda: not self._publishing, 5.0)

    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(target=self._run, name="hcs-preview", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending or self._closed)
                if self._closed:
                    return
                frame = self._pending.pop()
                self.dropped += len(self._pending)
                self._pending.clear()
                sinks, subscriptions = list(self._sinks), list(self._subscriptions)
                self._publishing = True
            try:
                for sink in sinks:
                    sink(frame)
                for subscription in subscriptions:
                    subscription.push(frame)
            finally:
                with self._cond:
                    self._publishing = False
                    self.published += 1
                    self._cond.notify_all()

    def close(self) -> None:
        """Stop the publisher thread and release the viewers (safe to call twice)."""
        with self._cond:
            self._closed = True
            self._pending.clear()
            thread, self._thread = self._thread, None
            subscriptions = list(self._subscriptions)
            self._cond.notify_all()
        if thread is not None:
            thread.join(5.0)
        for subscription in subscriptions:
            subscription.close()


def check_every_n(every_n: int) -> int:
    """Return ``every_n`` if it is a valid decimation.

    Raises:
        ValueError: naming the value and the allowed range.
    """
    if not isinstance(every_n, int) or every_n < 1:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise ValueError(f"preview every_n {every_n!r} must be a whole number >= 1")
    return every_n


def frame_meta(
    seq: int,
    *,
    channel: str,
    exposure_ms: float,
    position_um: tuple[float, float, float],
    mode: str,
) -> FrameMeta:
    """Metadata of a frame taken now."""
    x, y, z = position_um
    return FrameMeta(seq, channel, exposure_ms, x, y, z, time.time(), mode)
