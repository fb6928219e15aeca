"""The camera's detector logics: trigger set-up, the acquisition loop, TIFF data."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
from ophyd_async.core import (
    DetectorAcquireLogic,
    DetectorDataLogic,
    DetectorTriggerLogic,
    PathProvider,
    StreamableDataProvider,
    StreamResourceDataProvider,
    StreamResourceInfo,
    TriggerInfo,
)

from hcs_devices.camera.settings import ExposureSettings, FrameSource
from hcs_devices.camera.writer import (
    FRAME_TEMPLATE,
    FrameEncoder,
    FrameWriteError,
    TiffSequenceWriter,
    write_tiff,
)
from hcs_devices.memory_signals import memory_signal_r_and_setter
from hcs_devices.ownership import HardwareOwner
from hcs_devices.timing import sleep_precisely

#: Mimetype of a TIFF sequence, as bluesky-tiled-plugins' TiledWriter consolidates it.
TIFF_SEQUENCE_MIMETYPE = "multipart/related;type=image/tiff"

#: Called before frame ``i`` of a burst: a hardware sequence (z, channel) steps here.
#: It may return an exposure (ms) for that frame, overriding the burst's exposure.
FrameStep = Callable[[int], Awaitable[float | None]]
#: Called once a stepped burst has taken its exposures (or stopped): light off.
BurstEnd = Callable[[], Awaitable[None]]


class AcquisitionPlan:
    """What the next acquisition does: how many frames, at what settings.

    Shared by the trigger logic (which fills it at prepare) and the acquire logic
    (which runs it).
    """

    def __init__(self) -> None:
        self.frames = 1
        self.exposure_ms: float | None = None
        self.deadtime_s = 0.0
        self.step: FrameStep | None = None
        self.end: BurstEnd | None = None


class CameraTriggerLogic(DetectorTriggerLogic):
    """Internally timed exposures: one per trigger, or a burst of N per kickoff."""

    def __init__(
        self,
        plan: AcquisitionPlan,
        owner: HardwareOwner,
        name: Callable[[], str],
        check_exposure: Callable[[float], None],
    ) -> None:
        self._plan = plan
        self._owner = owner
        self._name = name
        self._check_exposure = check_exposure

    async def prepare_internal(self, num: int, livetime: float, deadtime: float) -> None:
        """Set the frame count, and the exposure when ``livetime`` is given (seconds)."""
        self._owner.check(self._name(), "prepare")
        if livetime:
            self._check_exposure(livetime * 1000.0)
        self._plan.frames = num
        self._plan.exposure_ms = livetime * 1000.0 if livetime else None
        self._plan.deadtime_s = deadtime

    async def default_trigger_info(self) -> TriggerInfo:
        """One frame at the current exposure."""
        return TriggerInfo()


class CameraAcquireLogic(DetectorAcquireLogic):
    """Runs the acquisition loop: expose, hand the frame to the writer, repeat."""

    def __init__(
        self,
        source: FrameSource,
        plan: AcquisitionPlan,
        settings: Callable[[], Awaitable[ExposureSettings]],
        sink: Callable[[np.ndarray], Awaitable[None]],
        owner: HardwareOwner,
        name: Callable[[], str],
        set_acquiring: Callable[[bool], None],
        held: Callable[[], bool] = lambda: False,
    ) -> None:
        self._source = source
        self._held = held
        self._plan = plan
        self._settings = settings
        self._sink = sink
        self._owner = owner
        self._name = name
        self._set_acquiring = set_acquiring
        self._task: asyncio.Task[None] | None = None
        #: The loop being stopped (cancelled, and awaited until it ends).
        self._stopping: asyncio.Task[None] | None = None

    async def start_acquiring(self) -> None:
        """Start the loop for the prepared number of frames (not while the run is paused)."""
        self._owner.check(self._name(), "start")
        await self.ensure_stopped()
        if self._held():
            return
        settings = await self._settings()
        if self._plan.exposure_ms is not None:
            settings = ExposureSettings(
                self._plan.exposure_ms, settings.gain, settings.binning, settings.roi
            )
        self._set_acquiring(True)
        self._task = asyncio.create_task(
            self._loop(settings, self._plan.frames, self._plan.step, self._plan.end)
        )

    async def _loop(
        self,
        settings: ExposureSettings,
        frames: int,
        step: FrameStep | None,
        end: BurstEnd | None,
    ) -> None:
        try:
            await self._run(settings, frames, step)
        finally:
            try:
                if end is not None:
                    await end()
            finally:
                self._set_acquiring(False)

    async def _run(self, settings: ExposureSettings, frames: int, step: FrameStep | None) -> None:
        next_start = time.monotonic()
        frame_settings = settings
        for index in range(frames):
            if step is not None:
                exposure_ms = await step(index)
                wanted_ms = settings.exposure_ms if exposure_ms is None else exposure_ms
                if wanted_ms != frame_settings.exposure_ms:  # else the last frame's settings
                    frame_settings = replace(settings, exposure_ms=wanted_ms)
            delay = next_start - time.monotonic()
            if delay > 0:
                await sleep_precisely(delay)
            self._raise_if_stopping()
            # Each frame's own exposure sets its period (a sequence may vary it).
            frame_period = max(
                self._source.min_frame_period_s(frame_settings),
                frame_settings.exposure_ms / 1000.0 + self._plan.deadtime_s,
            )
            next_start = max(next_start + frame_period, time.monotonic())
            frame = await self._source.expose(frame_settings)
            await self._sink(frame)

    def _raise_if_stopping(self) -> None:
        """End the loop before an exposure once it is being stopped.

        The cancellation that stops it can be lost on the way: Python 3.11's
        ``asyncio.wait_for`` (device code awaits it in a frame's set-up) drops one that
        arrives as its awaitable completes. No exposure starts after a stop all the same.
        """
        if asyncio.current_task() is self._stopping:
            raise asyncio.CancelledError

    def running(self) -> asyncio.Future[None] | None:
        """The acquisition loop started last (done with its error if it failed), if any."""
        return self._task

    async def wait_for_idle(self) -> None:
        """Wait for the loop to end, raising what it raised."""
        if self._task is not None:
            task, self._task = self._task, None
            await task

    async def ensure_stopped(self) -> None:
        """Stop the loop now (safe to call at any time)."""
        if self._task is not None:
            task, self._task = self._task, None
            self._stopping = task
            task.cancel()
            try:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            finally:
                self._stopping = None
        self._set_acquiring(False)


class TiffSequenceDataLogic(DetectorDataLogic):
    """Frames as a TIFF sequence per frame set, announced by StreamResource/StreamDatum."""

    def __init__(
        self,
        path_provider: PathProvider,
        frame_shape: Callable[[], Awaitable[tuple[int, int]]],
        *,
        writer_capacity: int = 8,
        fsync: bool = False,
    ) -> None:
        self._path_provider = path_provider
        #: The directory frame sets are written under (for disk-space checks).
        self.frames_root = Path(str(path_provider(None).directory_path))
        self._frame_shape = frame_shape
        self._capacity = writer_capacity
        #: Count a frame as written (and announce it) only once it is on stable storage.
        self.fsync = fsync
        self._writer: TiffSequenceWriter | None = None
        self._shape: tuple[int, int] | None = None
        self._failed: asyncio.Future[None] | None = None
        #: Writes each frame into its file (replace to throttle or fail writes in tests).
        self.encode: FrameEncoder = write_tiff
        self.frames_written, self._set_written = memory_signal_r_and_setter(int, 0)

    @property
    def directory(self) -> Path | None:
        """Directory of the open frame set, if any."""
        return self._writer.directory if self._writer else None

    async def prepare_unbounded(self, datakey_name: str) -> StreamableDataProvider:
        """Open a new frame set (a directory of TIFF files) and describe it."""
        info = self._path_provider(datakey_name)
        directory = Path(str(info.directory_path)) / info.filename
        height, width = await self._frame_shape()
        self._shape = (height, width)
        self._set_written(0)
        loop = asyncio.get_running_loop()

        def on_written(count: int) -> None:
            loop.call_soon_threadsafe(self._set_written, count)

        failed: asyncio.Future[None] = loop.create_future()
        self._failed = failed

        def on_error(error: FrameWriteError) -> None:
            def report() -> None:
                if not failed.done():
                    failed.set_exception(error)

            loop.call_soon_threadsafe(report)

        self._writer = TiffSequenceWriter(
            directory,
            on_written,
            capacity=self._capacity,
            fsync=self.fsync,
            encode=self.encode,
            on_error=on_error,
        )
        resource = StreamResourceInfo(
            data_key=datakey_name,
            shape=(height, width),
            chunk_shape=(1, height, width),
            dtype_numpy=np.dtype(np.uint16).str,
            parameters={"template": FRAME_TEMPLATE},
        )
        return StreamResourceDataProvider(
            uri=f"{info.directory_uri}{info.filename}/",
            resources=[resource],
            mimetype=TIFF_SEQUENCE_MIMETYPE,
            collections_written_signal=self.frames_written,
        )

    def frames_queued(self) -> int:
        """Frames of the open frame set handed to the writer so far (0 when none is open)."""
        return self._writer.frames_queued if self._writer is not None else 0

    async def put(self, frame: np.ndarray) -> None:
        """Hand a frame to the writer (waits while the writer's queue is full)."""
        if self._writer is None:
            raise RuntimeError("the camera's frame set is not open: prepare the camera first")
        if frame.shape != self._shape:
            raise ValueError(
                f"frame shape {frame.shape} differs from the prepared {self._shape}; "
                "change binning or ROI before a run, not during it"
            )
        await self._writer.put(frame)

    async def drain(self) -> None:
        """Return once every frame handed over so far is on disk (or failed to be)."""
        if self._writer is not None:
            await asyncio.get_running_loop().run_in_executor(None, self._writer.drain)

    def write_failure(self) -> asyncio.Future[None] | None:
        """The open frame set's write error, as a future done only when a write fails."""
        return self._failed

    async def stop(self) -> None:
        """Finish writing and close the frame set; safe to call when nothing is open.

        Raises:
            FrameWriteError: when a write failed and the failure has not been reported
                through :meth:`failure` already (the run has failed with it then).
        """
        writer, self._writer = self._writer, None
        failed, self._failed = self._failed, None
        if writer is None:
            return
        try:
            await asyncio.get_running_loop().run_in_executor(None, writer.close)
        except FrameWriteError:
            if failed is None or not failed.done():
                raise
            failed.exception()  # reported already (and marked as retrieved)

    def get_hinted_fields(self, datakey_name: str) -> Sequence[str]:
        """The image is the hinted field."""
        return [datakey_name]
