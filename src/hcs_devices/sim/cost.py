"""What one simulated frame costs to make on this computer.

A real camera's frame takes its exposure and its readout, whatever the computer. The
simulated camera also makes the frame: realistic frames have their image rendered
ahead, in a thread of their own while earlier frames are taken, and their noise added
at the exposure; fast frames are copied from a bank at the exposure. What is made at
the exposure overlaps it: when it takes longer, the frame takes as long. Images made
ahead only hold a field up when the field's images take longer than its hardware. An
estimate of a run on the simulated microscope needs those times; they depend on the
computer, the frame size and the simulation mode, so they are measured.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from hcs_devices.camera.settings import ExposureSettings, Roi
from hcs_devices.config.models import ChannelConfig, MicroscopeConfig
from hcs_devices.sim.camera import SimFrameSource
from hcs_devices.sim.merfish import MerfishSpecimen
from hcs_devices.sim.specimen import Specimen

#: Frames rendered per measurement (the first also builds what the view needs).
RENDERS = 3


class _StillScene:
    """The hardware standing still at a field of view, in a channel (set between frames)."""

    def __init__(self, z_um: float, channel: ChannelConfig) -> None:
        self.xy = (0.0, 0.0)
        self.z_um = z_um
        self.channel = channel

    def xy_um(self) -> tuple[float, float]:
        return self.xy

    def focus_z_um(self) -> float:
        return self.z_um

    def piezo_travel_um(self) -> float:
        return 0.0

    def light(self) -> tuple[str | None, float, bool]:
        return self.channel.source, self.channel.intensity_percent, True

    def filter_position(self) -> int:
        return self.channel.filter_position


@dataclass(frozen=True)
class RenderCost:
    """What simulated frames cost to render on this computer.

    Attributes:
        warmup_s: extra time of the run's first frame (tables built, the first well's
            cells and those of its neighbours built), once.
        first_view_s: extra time of the first frame in each further well (its cells
            are built).
        frame_s: channel name -> time of what one frame of that channel makes at its
            exposure (its noise, read out of pixels collected ahead; or a copy from the
            bank).
        image_s: channel name -> time of one frame's image made ahead, in the
            simulated camera's thread for it (none in the fast simulation).
    """

    warmup_s: float
    first_view_s: float
    frame_s: dict[str, float]
    image_s: dict[str, float]


def render_cost(
    config: MicroscopeConfig,
    *,
    fields_xy_um: list[tuple[float, float]],
    z_um: float,
    channels: list[ChannelConfig],
    binning: int,
) -> RenderCost:
    """Measure the simulated camera's rendering, in each channel.

    Args:
        config: the microscope configuration.
        fields_xy_um: the first field of view, and one in another well if there is one.
        z_um: the focus.
        channels: the channels to measure.
        binning: the camera binning.

    The first field's first frame measures the warm-up; the second field's first frame
    the cost of a new well; later frames are steady. Moves nothing and writes nothing:
    the frames are rendered and dropped.
    """
    cam = config.camera
    first = channels[0]
    scene = _StillScene(z_um, first)
    specimen = (
        Specimen(config.specimen, config.plate())
        if config.specimen.merfish is None
        else MerfishSpecimen(config.specimen, config.plate())  # molecules, nothing bound
    )
    source = SimFrameSource(config, scene, specimen)
    roi = Roi(0, 0, cam.sensor_width_px, cam.sensor_height_px)
    frame_s: dict[str, float] = {}
    image_s: dict[str, float] = {}
    extra: list[float] = []
    try:
        for i, xy in enumerate(fields_xy_um[:2]):
            scene.xy = xy
            for channel in channels if i == 0 else [first]:
                scene.channel = channel
                images, frames = _render_s(source, channel, binning, roi)
                totals = [a + b for a, b in zip(images, frames, strict=True)]
                steady = min(totals[1:])
                if channel.name not in frame_s:
                    frame_s[channel.name] = min(frames[1:])
                    if source.looks_ahead():
                        image_s[channel.name] = min(images[1:])
                if channel is first:
                    extra.append(max(0.0, totals[0] - steady))
    finally:
        source.close()
    return RenderCost(
        warmup_s=extra[0],
        first_view_s=extra[1] if len(extra) > 1 else 0.0,
        frame_s=frame_s,
        image_s=image_s,
    )


def _render_s(
    source: SimFrameSource, channel: ChannelConfig, binning: int, roi: Roi
) -> tuple[list[float], list[float]]:
    """Seconds of each of :data:`RENDERS` frames, in order: (images made ahead, frames).

    Where the source makes images ahead, each frame's image (and what the pixels
    collect) is made first, as ahead, and then the frame is read (its noise drawn at the
    exposure); else all is the frame's.
    """
    settings = ExposureSettings(channel.exposure_ms, gain=1.0, binning=binning, roi=roi)
    images: list[float] = []
    frames: list[float] = []
    for _ in range(RENDERS):
        start = time.perf_counter()
        if source.looks_ahead():
            view, light = source.view_and_light(settings)
            collected = source.collect((view, light, source.specimen.state(), binning))
            made = time.perf_counter()
            source.sensor.read(collected, gain=settings.gain)
        else:
            made = start
            source.render(settings)
        images.append(made - start)
        frames.append(time.perf_counter() - made)
    return images, frames
