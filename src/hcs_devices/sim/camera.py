"""The simulated camera: renders the specimen as the simulated hardware sets it up."""

from __future__ import annotations

import asyncio
import concurrent.futures
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from hcs_devices.camera.settings import ExpectedFrame, ExposureSettings
from hcs_devices.config.models import MicroscopeConfig
from hcs_devices.sim.axis import SimAxisBackend
from hcs_devices.sim.hardware import SimFilterWheelBackend, SimIlluminationBackend
from hcs_devices.sim.lookahead import RenderAhead, capacity_for
from hcs_devices.sim.render import Light, Renderer, View
from hcs_devices.sim.sensor import Collected, FrameBank, Sensor
from hcs_devices.sim.specimen import SampleState, Specimen
from hcs_devices.timing import sleep_precisely

#: Bytes per pixel of what a frame's pixels collect, made ahead (electrons and sigma).
COLLECTED_BYTES_PER_PX = 8


class Scene(Protocol):
    """What the simulated camera needs to know about the hardware, read without waiting."""

    def xy_um(self) -> tuple[float, float]:
        """Stage x and y now."""
        ...

    def focus_z_um(self) -> float:
        """Height of the objective's focal plane now: stage z plus the piezo's travel."""
        ...

    def piezo_travel_um(self) -> float:
        """The piezo's travel from the middle of its range now (0 without a piezo)."""
        ...

    def light(self) -> tuple[str | None, float, bool]:
        """Selected source (or None), its intensity in percent, and whether it is on."""
        ...

    def filter_position(self) -> int:
        """Emission filter wheel position."""
        ...


@dataclass
class SimOptics:
    """The simulated hardware the camera looks through (a :class:`Scene`)."""

    x: SimAxisBackend
    y: SimAxisBackend
    z: SimAxisBackend
    piezo: SimAxisBackend | None
    illumination: SimIlluminationBackend
    filter_wheel: SimFilterWheelBackend

    def xy_um(self) -> tuple[float, float]:
        """Stage x and y now (also mid-move)."""
        return self.x.position_now(), self.y.position_now()

    def light(self) -> tuple[str | None, float, bool]:
        """The selected source, its intensity and whether it is on."""
        ill = self.illumination
        return ill.selected, ill.intensity_percent, ill.is_on

    def filter_position(self) -> int:
        """Where the filter wheel is."""
        return self.filter_wheel.current

    def focus_z_um(self) -> float:
        """Height of the focal plane: stage Z plus the piezo's travel from its centre."""
        return self.z.position_now() + self.piezo_travel_um()

    def piezo_travel_um(self) -> float:
        """The piezo's travel from the middle of its range (0 without a piezo)."""
        if self.piezo is None:
            return 0.0
        cfg = self.piezo.config
        return self.piezo.position_now() - (cfg.low_limit_um + cfg.high_limit_um) / 2


#: What a frame's pixels collect depends on: the view, the light, the state of the
#: sample and the binning.
Exposure = tuple[View, Light, SampleState, int]


class SimFrameSource:
    """Frames of the synthetic specimen at the simulated stage's position.

    Rendering runs in a worker thread, so the event loop stays free while a frame is
    made. In ``fast`` mode (see ``CameraConfig.simulation``) frames come from a bank
    rendered once, with fresh noise each time.

    Args:
        config: the microscope configuration.
        optics: the hardware state the frames depend on (simulated or real stage).
        specimen: what is on the plate.
    """

    def __init__(self, config: MicroscopeConfig, optics: Scene, specimen: Specimen) -> None:
        self.config = config
        self.optics = optics
        self.specimen = specimen
        self.renderer = Renderer(specimen)
        self.sensor = Sensor(config.camera, seed=config.specimen.seed)
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sim-camera")
        self._banks: dict[tuple[object, ...], FrameBank] = {}
        #: What the pixels collect in the frames expected next (:meth:`expect`), made
        #: in a thread of its own.
        self.ahead: RenderAhead[Exposure, Collected] = RenderAhead(self.collect)
        self._closed = False
        self.frames_exposed = 0

    async def connect(self) -> None:
        """Nothing to open."""

    def min_frame_period_s(self, settings: ExposureSettings) -> float:
        """Readout time: the sensor's rows at the configured maximum frame rate.

        Without overlapped readout an exposure waits for the previous frame's
        readout: the period is the exposure and the readout, one after the other.
        """
        cam = self.config.camera
        readout_s = settings.roi.height / cam.sensor_height_px * cam.readout_s
        if cam.overlapped_readout:
            return readout_s
        return settings.exposure_ms / 1000.0 + readout_s

    def view_and_light(self, settings: ExposureSettings) -> tuple[View, Light]:
        """What the camera would see now with these settings."""
        return self._view_and_light(
            settings,
            self.optics.xy_um(),
            self.optics.focus_z_um(),
            self.optics.light(),
            self.optics.filter_position(),
        )

    def _view_and_light(
        self,
        settings: ExposureSettings,
        xy_um: tuple[float, float],
        focus_z_um: float,
        light: tuple[str | None, float, bool],
        filter_position: int,
    ) -> tuple[View, Light]:
        """What the camera sees with these settings, the stage and light as given."""
        cfg = self.config
        pixel = cfg.pixel_size_um(settings.binning)
        unbinned = cfg.pixel_size_um(1)
        roi = settings.roi
        dx = (roi.x + roi.width / 2 - cfg.camera.sensor_width_px / 2) * unbinned
        dy = (roi.y + roi.height / 2 - cfg.camera.sensor_height_px / 2) * unbinned
        height, width = settings.shape
        x_um, y_um = xy_um
        view = View(
            center_x_um=x_um + dx,
            center_y_um=y_um + dy,
            focus_z_um=focus_z_um,
            width_px=width,
            height_px=height,
            pixel_um=pixel,
        )
        selected, intensity, is_on = light
        source = cfg.source(selected or cfg.illumination.sources[0].name)
        dose = source.power_mw * intensity / 100.0 * settings.exposure_ms / 1000.0
        filt = cfg.filter_wheel.filter_at(filter_position)
        objective = cfg.active_objective
        return view, Light(
            wavelength_nm=source.wavelength_nm,
            dose_mw_s=dose if is_on else 0.0,
            filter_center_nm=filt.center_nm if filt else None,
            filter_bandwidth_nm=filt.bandwidth_nm if filt else 1.0,
            numerical_aperture=objective.numerical_aperture,
            immersion_index=objective.immersion_index,
        )

    def looks_ahead(self) -> bool:
        """Realistic frames are rendered ahead; the fast ones come from a bank at once."""
        return self.config.camera.simulation != "fast" and not self._closed

    def expect(self, frames: Sequence[ExpectedFrame]) -> None:
        """Start rendering the frames the camera takes next, in a thread of their own.

        Each frame's image (before noise) is rendered, and what the pixels collect
        from it worked out, for the scene the plan expects: the stage at the field, the
        focus at the frame's plane (the piezo where it is now), the light and filter
        of its channel. When the frame is exposed its scene is read as always: what was
        made ahead for exactly that scene, state of the sample and binning is used, any
        other frame is rendered then. Noise is drawn at the exposure, in order, so the
        frames are the same as without looking ahead. What was expected before and is
        again is kept: the camera may expect a field's frames while it takes the field
        before. A bounded number of frames wait in memory
        (:class:`~hcs_devices.sim.lookahead.RenderAhead`). Realistic simulation only
        (the fast one replays a bank).
        """
        if not self.looks_ahead():
            self.ahead.expect(())
            return
        # (Read apart from the stage: the stage may still be on its way to the field.)
        piezo_um = self.optics.piezo_travel_um()
        state = self.specimen.state()
        exposures: list[Exposure] = []
        for frame in frames:
            view, light = self._view_and_light(
                frame.settings,
                (frame.x_um, frame.y_um),
                frame.z_um + piezo_um,
                (frame.source, frame.intensity_percent, True),
                frame.filter_position,
            )
            if light.dose_mw_s > 0:
                exposures.append((view, light, state, frame.settings.binning))
        if exposures:  # what one frame's pixels collect: two float32 values per pixel
            first = exposures[0][0]
            pixels = first.width_px * first.height_px
            self.ahead.capacity = capacity_for(COLLECTED_BYTES_PER_PX * pixels)
        self.ahead.expect(exposures)

    def collect(self, exposure: Exposure) -> Collected:
        """Render an exposure's image and work out what the pixels collect (no noise)."""
        view, light, state, binning = exposure
        return self.sensor.collect(self.renderer.expected(view, light, state), binning)

    def render(self, settings: ExposureSettings) -> np.ndarray:
        """Render one noisy frame now (blocking; used from the worker thread)."""
        view, light = self.view_and_light(settings)
        if self.config.camera.simulation == "fast":
            return self._bank(view, light, settings).frame()
        if light.dose_mw_s <= 0:
            dark = np.zeros(settings.shape, np.float32)
            return self.sensor.digitize(dark, gain=settings.gain, binning=settings.binning)
        exposure = (view, light, self.specimen.state(), settings.binning)
        collected = self.ahead.take(exposure)
        if collected is None:
            collected = self.collect(exposure)
        return self.sensor.read(collected, gain=settings.gain)

    def _bank(self, view: View, light: Light, settings: ExposureSettings) -> FrameBank:
        key = (light, settings, round(view.focus_z_um, 1), self.specimen.state().key)
        bank = self._banks.get(key)
        if bank is None:
            frames = []
            for i in range(4):
                shifted = View(
                    view.center_x_um + i * view.width_px * view.pixel_um / 4,
                    view.center_y_um,
                    view.focus_z_um,
                    view.width_px,
                    view.height_px,
                    view.pixel_um,
                )
                photons = self.renderer.expected(shifted, light)
                frames.append(self.sensor.digitize(photons, settings.gain, settings.binning))
            bank = self._banks[key] = FrameBank(self.sensor, frames)
        return bank

    async def expose(self, settings: ExposureSettings) -> np.ndarray:
        """Expose for ``settings.exposure_ms`` and return the frame.

        The scene is captured at the start of the exposure; the exposure time passes
        while the frame renders (in the render thread; frames from the pre-rendered
        bank are a copy, taken on the loop).
        """
        start = time.monotonic()
        exposure_s = settings.exposure_ms / 1000.0
        if self.config.camera.simulation == "fast":
            frame = self.render(settings)
        else:
            loop = asyncio.get_running_loop()
            frame = await loop.run_in_executor(self._pool, self.render, settings)
        await sleep_precisely(exposure_s - (time.monotonic() - start))
        self.frames_exposed += 1
        return frame

    def close(self) -> None:
        """Stop the render threads."""
        self._closed = True
        self.ahead.close()
        self._pool.shutdown(wait=True)
