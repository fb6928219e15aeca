"""Display colours for pictures, chosen from each channel's emission.

A dye is drawn in the colour of the light it emits, brightened where the pure
colour would look dark on a black background (a pure 450 nm blue is nearly
invisible on a screen): DAPI blue, GFP/FITC green, Cy3 orange-yellow, Cy5 and
far-red dyes magenta. Transmitted light (bright field) is grey.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

RGB = tuple[int, int, int]

#: Bright field (transmitted light): grey.
BRIGHT_FIELD: RGB = (200, 200, 200)
#: (upper emission bound in nm, colour), in increasing order; the last bound is open.
EMISSION_BANDS: tuple[tuple[float, RGB], ...] = (
    (490.0, (64, 136, 255)),  # DAPI, Hoechst, BFP: blue
    (560.0, (40, 230, 40)),  # GFP, FITC, Alexa 488: green
    (630.0, (255, 184, 0)),  # Cy3, TRITC, mCherry: orange-yellow
    (float("inf"), (240, 40, 240)),  # Cy5, Alexa 647, Cy7: magenta
)
#: Illumination sources that mean transmitted light rather than fluorescence.
TRANSMITTED_SOURCES = ("led_matrix", "brightfield", "bf", "transmitted")


def emission_colour(emission_nm: float) -> RGB:
    """The display colour of a dye emitting at ``emission_nm`` nanometres."""
    for upper_nm, colour in EMISSION_BANDS:
        if emission_nm < upper_nm:
            return colour
    return EMISSION_BANDS[-1][1]


def channel_colour(channel: Mapping[str, Any]) -> RGB:
    """The display colour of one channel of a run's microscope configuration.

    Args:
        channel: the channel's configuration as recorded in the start document
            (``name``, ``source``, ``emission_wavelength_nm``).
    """
    source = str(channel.get("source", "")).lower()
    name = str(channel.get("name", "")).lower()
    if name in ("bf", "brightfield") or source.startswith(TRANSMITTED_SOURCES):
        return BRIGHT_FIELD
    emission = channel.get("emission_wavelength_nm")
    if emission is None:
        return BRIGHT_FIELD
    return emission_colour(float(emission))
