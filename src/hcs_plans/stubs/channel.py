"""Set the microscope up for a channel: filter, light source, intensity, exposure."""

from __future__ import annotations

import bluesky.plan_stubs as bps
from bluesky.utils import MsgGenerator

from hcs_devices.microscope import Microscope
from hcs_plans.table import ChannelSetting


def configure_channel(microscope: Microscope, channel: ChannelSetting) -> MsgGenerator[None]:
    """Move the filter wheel and set source, intensity and exposure, all in parallel.

    The light stays as it was (off, between frames); the caller switches it on.
    """
    yield from bps.mv(
        microscope.filter_wheel,
        channel.filter_position,
        microscope.illumination.source,
        channel.source,
        microscope.illumination.intensity_percent,
        channel.intensity_percent,
        microscope.camera.exposure_ms,
        channel.exposure_ms,
    )
