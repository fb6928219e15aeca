"""Live view: the camera free-running for the preview tap, writing nothing to disk.

:class:`LiveStream` is a child of the camera: setting its ``enabled`` signal starts the
camera exposing frame after frame at its current settings (a change of exposure applies
from the next frame), each frame going to the preview tap with its metadata; clearing it
(or ``stop``) ends it. A plan drives it through messages (``set``, ``stop``), so live
view starts and ends through the RunEngine like every other hardware command, and needs
no run: live view records nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

from ophyd_async.core import AsyncStatus, Device, soft_signal_rw

from hcs_devices.camera.preview import PreviewTap, frame_meta
from hcs_devices.camera.settings import ExposureSettings, FrameSource
from hcs_devices.ownership import HardwareOwner
from hcs_devices.timing import sleep_precisely

#: The channel and the stage position (x, y, z in micrometres) now.
FrameContext = Callable[[], Awaitable[tuple[str, tuple[float, float, float]]]]


async def no_context() -> tuple[str, tuple[float, float, float]]:
    """Context of a camera on its own: no channel known, no stage."""
    return "", (float("nan"), float("nan"), float("nan"))


class LiveStream(Device):
    """The camera free-running for viewers (nothing is written to disk).

    Args:
        source: where frames come from.
        settings: the camera's settings for the next exposure.
        tap: where frames go.
        owner: who may command the hardware now.
        context: the channel and stage position, for each frame's metadata.
        name: device name.

    Attributes:
        frames: frames taken since the last kickoff.
    """

    def __init__(
        self,
        source: FrameSource,
        settings: Callable[[], Awaitable[ExposureSettings]],
        tap: PreviewTap,
        owner: HardwareOwner,
        *,
        context: FrameContext = no_context,
        name: str = "",
    ) -> None:
        self._source = source
        self._settings = settings
        self._tap = tap
        self._owner = owner
        self._context = context
        self._task: asyncio.Task[None] | None = None
        self._stop: asyncio.Event | None = None
        self.frames = 0
        self.enabled = soft_signal_rw(bool, False, setter=self._set_enabled)
        super().__init__(name=name)

    @property
    def running(self) -> bool:
        """Whether the camera is free-running now."""
        return self._task is not None and not self._task.done()

    async def _set_enabled(self, value: bool | None) -> None:
        """Start (or stop) free-running; refused while another client's run owns the camera."""
        self._owner.check(self.name or "live", "enabled")
        await self.halt()
        if value:
            self.frames = 0
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(self._loop(self._stop), name="hcs-live-view")

    def failure(self) -> BaseException | None:
        """The error that ended free-running, if an exposure failed."""
        task = self._task
        if task is None or not task.done() or task.cancelled():
            return None
        return task.exception()

    @AsyncStatus.wrap
    async def stop(self, success: bool = True) -> None:
        """Stop free-running; the frame being exposed is dropped."""
        await self.halt()

    async def halt(self) -> None:
        """Stop free-running now (safe to call at any time)."""
        task, self._task = self._task, None
        if self._stop is not None:
            # Also a flag: a cancellation that arrives as an exposure's frame does can
            # be lost (Python 3.11), and the loop must end all the same.
            self._stop.set()
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self, stop: asyncio.Event) -> None:
        next_start = time.monotonic()
        while not stop.is_set():
            settings = await self._settings()
            delay = next_start - time.monotonic()
            if delay > 0:
                await sleep_precisely(delay)
            period = max(self._source.min_frame_period_s(settings), settings.exposure_ms / 1e3)
            next_start = max(next_start + period, time.monotonic())
            frame = await self._source.expose(settings)
            if stop.is_set():
                return
            self.frames += 1
            channel, position = await self._context()
            meta = frame_meta(
                self._tap.next_seq(),
                channel=channel,
                exposure_ms=settings.exposure_ms,
                position_um=position,
                mode="live",
            )
            self._tap.offer(frame, meta)
