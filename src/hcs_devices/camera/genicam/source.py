"""A GenICam camera as the camera device's frame source (Aravis, GigE Vision).

:class:`GenicamFrameSource` is what the simulated specimen is for a simulated camera: the
:class:`~hcs_devices.camera.device.Camera` asks it for one exposure at a time
(``expose(settings)``) and hands each frame to the same TIFF writer and
StreamResource/StreamDatum path. How a frame is started depends on the configured
trigger:

- ``software``: one TriggerSoftware command per frame;
- ``hardware``: the camera waits for a rising edge on ``trigger_line`` per frame; a
  trigger backend (the Squid board's camera trigger output) sends it, where one is
  given, strobing the light for the exposure when ``strobe_light`` is set;
- ``free_run``: the camera runs on its own clock and ``expose`` returns the next frame
  (for live view: frames nobody asked for are not kept).

Every Aravis control call runs in one control thread (GVCP is request/response: a
camera that has gone away blocks a call for its timeout), and frames arrive through a
:class:`~.stream.StreamReader` thread: the event loop never waits on the camera. A frame
with missing packets, a frame later than its exposure plus ``frame_timeout_s``, and a
camera that stops answering are errors naming the camera and the frame; frames handed
over before the error are complete and already with the writer.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from hcs_devices.camera.genicam.aravis import glib_error, load_aravis, open_gige_camera
from hcs_devices.camera.genicam.errors import (
    CameraVanished,
    FrameIncomplete,
    FrameTimeout,
    GenicamError,
)
from hcs_devices.camera.genicam.stream import Received, StreamReader
from hcs_devices.camera.settings import ExposureSettings
from hcs_devices.camera.trigger_backend import CameraTriggerBackend
from hcs_devices.config.models import GenicamBackend

T = TypeVar("T")

#: Time allowed for the control-channel probe that tells a late frame from a lost camera.
PROBE_TIMEOUT_S = 5.0


class GenicamFrameSource:
    """Frames from a GenICam camera through Aravis (a ``camera.settings.FrameSource``).

    Args:
        backend: the camera's ``backend`` section (address, pixel format, trigger, ...).
        trigger: what sends hardware triggers (the Squid board), for ``hardware``
            triggering; without one, an external source must.
        strobe_light: have ``trigger`` strobe the selected light for each exposure
            (its on-time is the exposure time).
        camera_name: how errors name the camera.
    """

    def __init__(
        self,
        backend: GenicamBackend,
        *,
        trigger: CameraTriggerBackend | None = None,
        strobe_light: bool = False,
        camera_name: str = "camera",
    ) -> None:
        self.backend = backend
        self.trigger = trigger
        self.strobe_light = strobe_light
        self.camera_name = camera_name
        self._control = concurrent.futures.ThreadPoolExecutor(
            1, thread_name_prefix="genicam-control"
        )
        self._camera: Any = None
        self._reader: StreamReader | None = None
        self._frames: asyncio.Queue[Received] | None = None
        #: The loop frames are handed to (the one the camera was connected on).
        self._loop: asyncio.AbstractEventLoop | None = None
        self._applied: ExposureSettings | None = None
        self._acquiring = False
        self._control_lost = False
        self._min_period_s = 0.0
        #: Frames returned by :meth:`expose` since the camera was opened.
        self.frames_exposed = 0
        #: The camera's frame id of every frame returned, in order.
        self.frame_ids: list[int] = []
        #: Model and serial number read from the camera when it was opened.
        self.identity = ""

    @property
    def _who(self) -> str:
        ident = f" {self.identity}" if self.identity else ""
        return f"{self.camera_name} (GenICam{ident} at {self.backend.address})"

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._control, function, *args)

    async def connect(self) -> None:
        """Open the camera at its address and set its stream and trigger up (idempotent).

        Raises:
            GenicamError: when no camera answers at the address, or it refuses a setting.
        """
        if self._camera is not None:
            return
        self._frames = asyncio.Queue()
        self._loop = asyncio.get_running_loop()
        try:
            await self._call(self._open)
        except (ConnectionError, glib_error()) as exc:
            raise GenicamError(f"{self._who}: cannot open the camera: {exc}") from None

    def _open(self) -> None:
        """Open and configure the camera (control thread)."""
        aravis = load_aravis()
        camera = open_gige_camera(self.backend.address)
        self.identity = f"{camera.get_model_name()} {camera.get_device_serial_number()}"
        camera.get_device().connect("control-lost", self._on_control_lost)
        if self.backend.packet_size_bytes is None:
            camera.gv_auto_packet_size()
        else:
            camera.gv_set_packet_size(self.backend.packet_size_bytes)
        camera.set_pixel_format_from_string(self.backend.pixel_format)
        if camera.is_frame_rate_available():
            self._min_period_s = 1.0 / camera.get_frame_rate_bounds()[1]
        trigger = self.backend.trigger
        if trigger == "free_run":
            camera.clear_triggers()
            camera.set_acquisition_mode(aravis.AcquisitionMode.CONTINUOUS)
        else:
            camera.set_trigger("Software" if trigger == "software" else self.backend.trigger_line)
        self._camera = camera  # only a camera fully set up counts as connected

    def _on_control_lost(self, *_: Any) -> None:
        """Aravis's heartbeat found the camera gone (called from an Aravis thread)."""
        self._control_lost = True

    def trigger_source(self) -> tuple[str, str]:
        """The camera's TriggerMode and TriggerSource, read back from it (blocking)."""
        camera = self._require_open()
        return camera.get_string("TriggerMode"), camera.get_string("TriggerSource")

    def _require_open(self) -> Any:
        if self._camera is None:
            raise GenicamError(f"{self._who}: not connected: connect the camera first")
        return self._camera

    def min_frame_period_s(self, settings: ExposureSettings) -> float:
        """Shortest frame period the camera reports (its highest frame rate)."""
        return self._min_period_s

    async def expose(self, settings: ExposureSettings) -> np.ndarray:
        """Take one frame with ``settings`` and return it (uint16, ``settings.shape``).

        Raises:
            ValueError: when the camera cannot do a setting (naming it and the range).
            FrameIncomplete: when the frame arrived with packets missing.
            FrameTimeout: when it did not arrive within its exposure plus
                ``frame_timeout_s``.
            CameraVanished: when the camera stopped answering.
        """
        camera = self._require_open()
        frames = self._frames
        assert frames is not None
        number = self.frames_exposed + 1
        try:
            if settings != self._applied:
                await self._call(self._apply, settings)
            if not self._acquiring:
                await self._call(camera.start_acquisition)
                self._acquiring = True
            if self.backend.trigger != "hardware":
                _drop_waiting(frames)  # frames from before this exposure are not its frame
            if self.backend.trigger == "software":
                await self._call(camera.software_trigger)
            elif self.backend.trigger == "hardware" and self.trigger is not None:
                await self.trigger.trigger(round(settings.exposure_ms * 1000), self.strobe_light)
        except glib_error() as exc:
            timed_out = getattr(exc, "code", None) == int(load_aravis().DeviceError.TIMEOUT)
            why = f"a command failed: {exc}"
            raise await self._failure(number, why, lost=timed_out) from None
        timeout_s = settings.exposure_ms / 1000.0 + self.backend.frame_timeout_s
        try:
            received = await asyncio.wait_for(frames.get(), timeout_s)
        except TimeoutError:
            why = f"it did not arrive within {timeout_s:.3g} s"
            if self.backend.trigger == "hardware":
                why += f" (no rising edge on {self.backend.trigger_line}?)"
            raise await self._failure(number, why) from None
        if received.pixels is None:
            raise FrameIncomplete(
                f"{self._who}: frame {number} (camera frame id {received.frame_id}) arrived "
                f"incomplete ({received.status}); it is not recorded"
            )
        if received.pixels.shape != settings.shape:
            raise GenicamError(
                f"{self._who}: frame {number} is {received.pixels.shape[1]} x "
                f"{received.pixels.shape[0]} px, not the {settings.shape[1]} x "
                f"{settings.shape[0]} px asked for"
            )
        self.frames_exposed = number
        self.frame_ids.append(received.frame_id)
        return received.pixels

    async def _failure(self, number: int, why: str, *, lost: bool = False) -> GenicamError:
        """The error for frame ``number``: a lost camera, or a late or refused frame."""
        answering = not (lost or self._control_lost) and await self._answers()
        if not answering:
            return CameraVanished(
                f"{self._who}: frame {number}: the camera stopped answering ({why}); "
                f"the {self.frames_exposed} frames before it are complete"
            )
        return FrameTimeout(f"{self._who}: frame {number}: {why}")

    async def _answers(self) -> bool:
        """Whether the camera still answers a register read."""
        camera = self._camera
        try:
            await asyncio.wait_for(self._call(camera.get_exposure_time), PROBE_TIMEOUT_S)
        except (TimeoutError, glib_error()):
            return False
        return True

    def _apply(self, settings: ExposureSettings) -> None:
        """Set exposure, gain, binning and ROI (control thread); refuse what cannot be."""
        camera = self._camera
        old = self._applied
        low, high = camera.get_gain_bounds()
        if not low <= settings.gain <= high:
            raise ValueError(
                f"{self._who}: gain {settings.gain} is outside the camera's range [{low}, {high}]"
            )
        geometry = (settings.binning, settings.roi)
        if old is None or (old.binning, old.roi) != geometry or self._reader is None:
            self._restart_stream(settings)
        camera.set_exposure_time(settings.exposure_ms * 1000.0)
        camera.set_gain(settings.gain)
        self._applied = settings

    def _restart_stream(self, settings: ExposureSettings) -> None:
        """Stop, set binning and region, and open a stream sized for the new frames."""
        aravis = load_aravis()
        camera = self._camera
        self._stop_stream()
        b = settings.binning
        roi = settings.roi
        if camera.is_binning_available():
            camera.set_binning(b, b)
        elif b != 1:
            raise ValueError(f"{self._who}: binning {b}: the camera cannot bin")
        camera.set_region(roi.x // b, roi.y // b, roi.width // b, roi.height // b)
        payload = camera.get_payload()
        stream = camera.create_stream(None, None)
        if isinstance(stream, aravis.GvStream):
            # A frame whose packets are slow to come (a busy PC) is waited for as long
            # as a late frame is: it is incomplete only once packets are really lost.
            retention_us = round(self.backend.frame_timeout_s * 1e6)
            stream.set_property("frame-retention", min(retention_us, 2**32 - 1))
            size = self.backend.socket_buffer_bytes
            mode = aravis.GvStreamSocketBuffer
            stream.set_property("socket-buffer", mode.AUTO if size is None else mode.FIXED)
            if size is not None:
                stream.set_property("socket-buffer-size", size)
        for _ in range(self.backend.stream_buffers):
            stream.push_buffer(aravis.Buffer.new_allocate(payload))
        assert self._loop is not None
        self._reader = StreamReader(aravis, stream, self._deliver, self._loop)

    def _deliver(self, received: Received) -> None:
        """Queue a frame on the loop; in free run, only the newest few are kept."""
        frames = self._frames
        if frames is None:
            return
        if self.backend.trigger == "free_run":
            while frames.qsize() >= self.backend.stream_buffers:
                frames.get_nowait()
        frames.put_nowait(received)

    def _stop_stream(self) -> None:
        """Stop acquiring and the reader (control thread); errors of a lost camera ignored."""
        camera = self._camera
        if self._acquiring and camera is not None:
            with contextlib.suppress(Exception):
                camera.stop_acquisition()
            self._acquiring = False
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def close(self) -> None:
        """Stop acquiring, stop the threads and release the camera (safe to repeat)."""
        if self._camera is not None:
            with contextlib.suppress(Exception):
                self._control.submit(self._stop_stream).result(timeout=PROBE_TIMEOUT_S)
        self._control.shutdown(wait=False)
        self._camera = None
        self._frames = None


def _drop_waiting(frames: asyncio.Queue[Received]) -> None:
    while not frames.empty():
        frames.get_nowait()
