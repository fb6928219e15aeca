"""The main camera: an ophyd-async StandardDetector writing TIFF sequences."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import replace
from typing import Any, cast

from bluesky.protocols import StreamAsset
from ophyd_async.core import (
    AsyncStatus,
    PathProvider,
    SignalR,
    StandardDetector,
    TriggerInfo,
    WatchableAsyncStatus,
    WatcherUpdate,
    wait_for_value,
)

from hcs_devices.camera.field import FieldSequence, FrameRecipe, FrameRows
from hcs_devices.camera.live import FrameContext, LiveStream, no_context
from hcs_devices.camera.logic import (
    AcquisitionPlan,
    CameraAcquireLogic,
    CameraTriggerLogic,
    TiffSequenceDataLogic,
)
from hcs_devices.camera.preview import PreviewTap, check_every_n, frame_meta
from hcs_devices.camera.settings import (
    ExpectedFrame,
    ExposureSettings,
    FrameLookahead,
    FrameSource,
    Roi,
)
from hcs_devices.config.models import CameraConfig
from hcs_devices.connector import BackendConnector
from hcs_devices.memory_signals import memory_signal_r_and_setter, memory_signal_rw, read_now
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner
from hcs_devices.sequencer import FrameSequencer

#: Time allowed, beyond the exposures themselves, for a field's frames to reach disk
#: before the camera counts as not answering (a simulated camera's first view of a
#: well builds that well's cells; a slow disk or a busy machine adds to it).
FIRST_FRAME_ALLOWANCE_S = 60.0


#: How often, and how far apart, a pause cancels the waits for frames left.
RELEASE_ATTEMPTS = 100
RELEASE_PERIOD_S = 0.01


class _FieldProgress:
    """Where the camera is in the field of view it was last prepared for."""

    def __init__(self, field: FieldSequence, start: int) -> None:
        self.field = field
        #: The run's image index of the field's first frame.
        self.start = start
        #: Frames of the field on disk when the camera was last prepared for it.
        self.done = 0

    @property
    def remaining(self) -> int:
        return len(self.field.frames) - self.done


class Camera(StandardDetector):
    """A scientific camera: exposure, gain, binning and ROI; frames go to TIFF files.

    Step scans trigger one frame per event. A hardware-timed burst is prepared for N
    frames (``TriggerInfo(number_of_events=N)``), kicked off once, and collected: the
    frames are written while acquisition runs and announced in a few StreamDatum
    documents. Frame writing runs in a thread behind a bounded queue, so a slow disk
    slows acquisition down instead of losing frames.

    A field of view is prepared as a :class:`FieldSequence` and taken as one burst
    (kickoff, complete): before each frame the camera has it set up (focus, filter,
    light) by ``sequencer`` when the field is hardware-timed, else by
    ``software_sequencer``, and records the image's row in :attr:`rows`, collected
    with the images (:mod:`.field`).

    Every frame taken is offered to the preview tap :attr:`preview` (one in
    ``preview_every_n`` during an acquisition), which never holds the camera or the
    writer up. :attr:`live` free-runs the camera for live view: its frames go to the
    preview tap only, never to disk (:mod:`.live`).

    Args:
        source: where frames come from (the simulated specimen or a camera SDK).
        config: the camera section of the microscope configuration.
        path_provider: where each run's frame sets go.
        sequencer: steps focus and channel frame by frame in a burst, where the
            hardware can.
        software_sequencer: sets each frame of a field up through the devices,
            where the hardware cannot (or a plan asks for software triggers).
        owner: who may command the hardware now.
        writer_capacity: frames that may wait in memory for the disk.
        fsync: make every frame durable before counting it as written.
        light_strobed: each exposure's trigger strobes the light (a Squid board on
            hardware trigger): plans leave the light off around triggers.
        name: device name.
    """

    def __init__(
        self,
        source: FrameSource,
        config: CameraConfig,
        path_provider: PathProvider,
        *,
        sequencer: FrameSequencer | None = None,
        software_sequencer: FrameSequencer | None = None,
        owner: HardwareOwner = DEFAULT_OWNER,
        writer_capacity: int = 8,
        fsync: bool = False,
        light_strobed: bool = False,
        name: str = "",
    ) -> None:
        self.source = source
        self.config = config
        #: The source, when it can make frames before they are exposed.
        self._lookahead = source if isinstance(source, FrameLookahead) else None
        #: Each trigger strobes the light for its exposure (plans do not switch it on).
        self.light_strobed = light_strobed
        self.sequencer = sequencer
        self.software_sequencer = software_sequencer
        self._owner = owner
        #: The latest frames, for viewers (never holds the camera up).
        self.preview = PreviewTap()
        #: Where the stage is and which channel is set, for each previewed frame's
        #: metadata (the microscope sets it; frames of a field use their rows).
        self.frame_context: FrameContext = no_context
        self._progress: _FieldProgress | None = None
        #: Tasks waiting for frames (trigger, complete), and those a pause released.
        self._waiting: set[asyncio.Task[Any]] = set()
        self._released: set[asyncio.Task[Any]] = set()
        #: A ``prepare`` still under way (an abort can unstage while it runs).
        self._preparing: asyncio.Task[Any] | None = None
        #: The ``prepare`` that unstaging cancelled (it ends quietly).
        self._abandoned: asyncio.Task[Any] | None = None
        #: The run is paused: nothing starts acquiring until it resumes.
        self._paused = False
        #: Images of the current frame set announced (collected) so far.
        self._announced = 0
        #: Every image's row, collected as the ``frames`` stream.
        self.rows = FrameRows(announced=lambda: self._announced)
        self.exposure_ms = memory_signal_rw(float, 20.0, units="ms", setter=self._set_exposure)
        self.gain = memory_signal_rw(float, 1.0, setter=self._checked("gain"))
        self.binning = memory_signal_rw(int, 1, setter=self._set_binning)
        self.roi_x = memory_signal_rw(int, 0, units="px", setter=self._checked("roi_x"))
        self.roi_y = memory_signal_rw(int, 0, units="px", setter=self._checked("roi_y"))
        self.roi_width = memory_signal_rw(
            int, config.sensor_width_px, units="px", setter=self._checked("roi_width")
        )
        self.roi_height = memory_signal_rw(
            int, config.sensor_height_px, units="px", setter=self._checked("roi_height")
        )
        self.preview_every_n = memory_signal_rw(
            int, self.preview.every_n, setter=self._set_preview_every_n
        )
        self.acquiring: SignalR[bool]
        self.acquiring, set_acquiring = memory_signal_r_and_setter(bool, False)
        self._plan = AcquisitionPlan()
        self._acquire = CameraAcquireLogic(
            source,
            self._plan,
            self.exposure_settings,
            self._put_frame,
            owner,
            self._device_name,
            set_acquiring,
            held=lambda: self._paused,
        )
        self.data = TiffSequenceDataLogic(
            path_provider, self._frame_shape, writer_capacity=writer_capacity, fsync=fsync
        )
        self.add_detector_logics(
            CameraTriggerLogic(self._plan, owner, self._device_name, self.check_exposure),
            self._acquire,
            self.data,
        )
        self.add_config_signals(
            self.exposure_ms,
            self.gain,
            self.binning,
            self.roi_x,
            self.roi_y,
            self.roi_width,
            self.roi_height,
        )
        self.live = LiveStream(
            source,
            self.exposure_settings,
            self.preview,
            owner,
            context=lambda: self.frame_context(),
            name="live",
        )
        super().__init__(name=name, connector=BackendConnector(source.connect))

    async def _put_frame(self, frame: Any) -> None:
        index = self.data.frames_queued()
        await self.data.put(frame)
        if self.preview.wants(index):
            await self._preview(frame, index)

    async def _preview(self, frame: Any, index: int) -> None:
        """Offer an acquisition frame to the preview tap, with its row's metadata."""
        row = self.rows.peek(index)
        if row is None:  # a frame outside a field of view (a plain trigger)
            channel, position = await self.frame_context()
            exposure_ms = await read_now(self.exposure_ms)
        else:
            channel, exposure_ms = str(row["channel"]), float(row["exposure_ms"])
            position = (float(row["x_um"]), float(row["y_um"]), float(row["z_um"]))
        meta = frame_meta(
            self.preview.next_seq(),
            channel=channel,
            exposure_ms=exposure_ms,
            position_um=position,
            mode="acquisition",
        )
        self.preview.offer(frame, meta)

    async def _set_preview_every_n(self, value: int | None) -> None:
        self.preview.every_n = check_every_n(int(value or 0))

    async def _wait_for_index(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> AsyncIterator[WatcherUpdate[int]]:
        """Wait for frames as ``StandardDetector`` does, but fail as soon as a write fails.

        Without this, a failed write (a full disk) or a failed exposure would leave
        ``trigger``/``complete`` waiting for frames that never come until the exposure
        timeout, and then report a ``TimeoutError`` instead of the cause. A pause ends
        the wait instead (:meth:`pause`): the replayed messages wait for the rest.
        """
        updates = cast(
            AsyncGenerator[WatcherUpdate[int], None], super()._wait_for_index(*args, **kwargs)
        )
        # The acquisition loop and the frame writer interrupt the waiting task only when
        # one of them fails (a callback on each, no task): waiting costs nothing per frame.
        if self._paused:
            return  # a status started as the run paused: its frames are taken on resume
        waiting = asyncio.current_task()
        assert waiting is not None
        self._waiting.add(waiting)
        failed: list[BaseException] = []

        def interrupt(watch: asyncio.Future[None]) -> None:
            error = None if watch.cancelled() else watch.exception()
            if error is not None and not failed:  # the first failure is the cause
                failed.append(error)
                waiting.cancel()

        watches = (self._acquire.running(), self.data.write_failure())
        watched = [watch for watch in watches if watch is not None]
        for watch in watched:
            watch.add_done_callback(interrupt)
        try:
            async for update in updates:
                if failed:  # the cancellation came with a value: Python 3.11 dropped it
                    while waiting.cancelling():
                        waiting.uncancel()
                    raise failed[0]
                yield update
        except asyncio.CancelledError:
            if failed:
                raise failed[0] from None  # the write or acquisition error
            if waiting in self._released:
                while waiting.cancelling():  # a pause ended the wait: not an error
                    waiting.uncancel()
                return
            raise
        finally:
            self._waiting.discard(waiting)
            self._released.discard(waiting)
            for watch in watched:
                watch.remove_done_callback(interrupt)
            await updates.aclose()

    def _device_name(self) -> str:
        return self.name or "camera"

    def _checked(self, what: str):
        async def setter(value: object) -> None:
            self._owner.check(self._device_name(), what)

        return setter

    def check_exposure(self, exposure_ms: float) -> None:
        """Refuse an exposure outside the camera's range.

        Raises:
            ValueError: naming the value and the allowed range.
        """
        low, high = self.config.min_exposure_ms, self.config.max_exposure_ms
        if not low <= exposure_ms <= high:
            raise ValueError(
                f"{self._device_name()}: exposure_ms {exposure_ms} is outside the camera's range "
                f"[{low}, {high}] ms"
            )

    async def _set_exposure(self, value: float | None) -> None:
        self._owner.check(self._device_name(), "exposure_ms")
        self.check_exposure(float(value or 0.0))

    async def _set_binning(self, value: int | None) -> None:
        self._owner.check(self._device_name(), "binning")
        if value not in self.config.binning_allowed:
            raise ValueError(
                f"{self._device_name()}: binning {value} is not one of "
                f"{list(self.config.binning_allowed)}"
            )

    async def exposure_settings(self) -> ExposureSettings:
        """The settings the next exposure will use."""
        roi = Roi(
            await read_now(self.roi_x),
            await read_now(self.roi_y),
            await read_now(self.roi_width),
            await read_now(self.roi_height),
        )
        return ExposureSettings(
            await read_now(self.exposure_ms),
            await read_now(self.gain),
            await read_now(self.binning),
            roi,
        )

    async def _frame_shape(self) -> tuple[int, int]:
        return (await self.exposure_settings()).shape

    async def exposures_done(self) -> None:
        """Return once the acquisition loop has taken all its exposures.

        Frames may still be on their way to disk; ``complete`` waits for those.
        """
        await wait_for_value(self.acquiring, False, timeout=None)

    async def settle(self) -> None:
        """Stop acquiring and return once every frame taken is on disk (or failed to be).

        ``get_index`` then counts exactly the frames on disk, so they can all be
        announced.
        """
        await self._acquire.ensure_stopped()
        await self.data.drain()

    @AsyncStatus.wrap
    async def stop(self, *, success: bool = True) -> None:
        """Stop acquiring; every frame taken is on disk (or failed) when this is done."""
        await self.settle()

    async def pause(self) -> None:
        """The RunEngine pauses: stop, keeping every frame taken and its row.

        A ``trigger`` or ``complete`` still waiting for frames ends (it is not an error:
        those frames will not come). When the run resumes, the RunEngine replays the
        field's messages; preparing the camera again for the same field goes on from
        the first frame not on disk.
        """
        self._paused = True
        await self.settle()
        await self._release_waiters()

    async def _release_waiters(self) -> None:
        """End every wait for frames, until none is left.

        Python 3.11's ``asyncio.wait_for`` drops a cancellation that arrives as the
        awaited value does (a frame counted at the moment of the pause): a wait that
        survives one cancellation is cancelled again once no frame can arrive.
        """
        for _ in range(RELEASE_ATTEMPTS):
            if not self._waiting:
                return
            for task in list(self._waiting):
                self._released.add(task)
                task.cancel()
            await asyncio.sleep(RELEASE_PERIOD_S)
        raise RuntimeError(f"{self._device_name()}: waits for frames did not end at the pause")

    async def resume(self) -> None:
        """Acquire again: the replayed ``prepare`` picks the field up where it stopped."""
        self._paused = False

    @AsyncStatus.wrap
    async def stage(self) -> None:
        """Idle, with no field of view and no rows: a new run's frame set comes next."""
        self._progress = None
        self._plan.step = self._plan.end = None
        self._announced = 0
        self._paused = False
        self.rows.clear()
        await super().stage()

    @AsyncStatus.wrap
    async def prepare(self, value: TriggerInfo | FieldSequence) -> None:  # type: ignore[override]
        """Prepare for frames as ``StandardDetector`` does, or for one field of view.

        Args:
            value: a ``TriggerInfo``, or the field of view to take next. Preparing for
                the field already in progress keeps its frames on disk and prepares
                for the rest.
        """
        self._paused = False  # only a running (or resumed) run prepares the camera
        preparing = self._preparing = asyncio.current_task()
        try:
            await self._prepare(value)
        except asyncio.CancelledError:
            if preparing is None or preparing is not self._abandoned:
                raise
            # Unstaged meanwhile (a plan prepares for the next field while the stage
            # travels, and the run ended then): nothing was taken, nothing failed.
            preparing.uncancel()
        finally:
            self._preparing = None

    async def _prepare(self, value: TriggerInfo | FieldSequence) -> None:
        if not isinstance(value, FieldSequence):
            self._progress = None
            self._plan.step = self._plan.end = None
            await super().prepare(value)
            return
        if self._sequencer_for(value) is None:
            raise ValueError(
                f"{self._device_name()}: this camera has no "
                f"{'hardware' if value.hardware_timed else 'software'} sequencer to set "
                f"field {value.key!r} up frame by frame"
            )
        written = await self.get_index() if self._prepare_ctx is not None else 0
        progress = self._progress
        if progress is not None and progress.field.key == value.key:
            await self.settle()
            written = await self.get_index()
        else:
            progress = self._progress = _FieldProgress(value, written)
        progress.done = written - progress.start
        lookahead = self._lookahead
        if lookahead is not None and lookahead.looks_ahead():
            coming = value.frames[progress.done :] + value.following
            lookahead.expect(await self._expected(coming))
        burst = progress.remaining > 0
        self._plan.step = self._step if burst else None
        self._plan.end = self._end_burst if burst else None
        events = progress.remaining if burst else 1
        exposures_s = sum(f.settings.exposure_ms for f in value.frames[progress.done :]) / 1e3
        await super().prepare(
            TriggerInfo(
                number_of_events=events,
                exposure_timeout=exposures_s + FIRST_FRAME_ALLOWANCE_S,
            )
        )

    async def _expected(self, frames: Sequence[FrameRecipe]) -> list[ExpectedFrame]:
        """The frames of a field as the frame source may expect them."""
        settings = await self.exposure_settings()
        return [
            ExpectedFrame(
                settings=replace(settings, exposure_ms=f.settings.exposure_ms),
                x_um=float(f.row["x_um"]),
                y_um=float(f.row["y_um"]),
                z_um=f.settings.z_um,
                source=f.settings.source,
                intensity_percent=f.settings.intensity_percent,
                filter_position=f.settings.filter_position,
            )
            for f in frames
            if "x_um" in f.row and "y_um" in f.row
        ]

    def _sequencer_for(self, field: FieldSequence) -> FrameSequencer | None:
        """What sets a field's frames up: the hardware's sequencer, or the software one."""
        return self.sequencer if field.hardware_timed else self.software_sequencer

    async def _step(self, i: int) -> float:
        """Set frame ``i`` of the burst up and record its image's row."""
        progress = self._progress
        assert progress is not None
        sequencer = self._sequencer_for(progress.field)
        assert sequencer is not None
        k = progress.done + i
        recipe = progress.field.frames[k]
        await sequencer.apply(recipe.settings)
        row = dict(recipe.row, z_um=sequencer.moved_z_um())
        self.rows.record(progress.start + k, row)
        return recipe.settings.exposure_ms

    async def _end_burst(self) -> None:
        assert self._progress is not None
        sequencer = self._sequencer_for(self._progress.field)
        assert sequencer is not None
        await sequencer.finish()

    def _field_done(self) -> bool:
        """The prepared field has all its frames on disk (nothing to kick off)."""
        return self._progress is not None and self._progress.remaining == 0

    def kickoff(self) -> AsyncStatus:  # type: ignore[override]
        """Start the prepared burst (nothing to do for a field already taken)."""
        if self._field_done():
            return AsyncStatus(_nothing())
        return super().kickoff()

    def complete(self) -> WatchableAsyncStatus:  # type: ignore[override]
        """Wait for the burst's frames on disk (nothing to do for a field already taken)."""
        if self._field_done():
            return WatchableAsyncStatus(_no_updates())
        return super().complete()

    def trigger(self) -> WatchableAsyncStatus:  # type: ignore[override]
        """Take one exposure; refused at once while another client's run owns the camera.

        Raises:
            ValueError: when the camera is prepared for a field of view, which is taken
                with ``kickoff`` and ``complete``.
        """
        self._owner.check(self._device_name(), "trigger")
        if self._progress is not None:
            raise ValueError(
                f"{self._device_name()}: prepared for field {self._progress.field.key!r}, "
                "which is taken with kickoff and complete, not trigger"
            )
        return super().trigger()

    async def collect_asset_docs(self, index: int | None = None) -> AsyncIterator[StreamAsset]:
        """Announce the images on disk; their rows follow in ``rows``."""
        if index is None:
            index = await self.get_index()
        async for doc in super().collect_asset_docs(index):
            yield doc
        self._announced = max(self._announced, index)

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        """Stop acquiring and close the frame set, whatever state the camera is in."""
        self._plan.step = self._plan.end = None
        self._progress = None
        await self.live.halt()
        await self._cancel_prepare()
        await super().unstage()

    async def _cancel_prepare(self) -> None:
        """End a ``prepare`` still under way, so it opens no frame set after unstaging.

        The RunEngine does not cancel a device's pending statuses when a run is aborted:
        a prepare left running would open a frame set (and its writer thread) after the
        run was unstaged.
        """
        task = self._preparing
        if task is None or task.done() or task is asyncio.current_task():
            return
        self._abandoned = task
        task.cancel()
        await asyncio.wait({task})


async def _nothing() -> None:
    return None


async def _no_updates() -> AsyncIterator[WatcherUpdate[int]]:
    return
    yield
