"""Display colours chosen from a channel's emission."""

from __future__ import annotations

import pytest

from hcs_storage.dye_colours import BRIGHT_FIELD, channel_colour, emission_colour


@pytest.mark.parametrize(
    ("emission_nm", "dominant"),
    [(450.0, 2), (461.0, 2), (520.0, 1), (525.0, 1), (570.0, 0), (590.0, 0), (670.0, 0)],
)
def test_emission_colour_is_the_colour_of_the_emitted_light(
    emission_nm: float, dominant: int
) -> None:
    colour = emission_colour(emission_nm)
    assert max(colour) == colour[dominant]


def test_emission_colour_tells_cy3_orange_from_cy5_magenta() -> None:
    cy3, cy5 = emission_colour(570.0), emission_colour(670.0)
    assert cy3[1] > cy3[2]  # orange-yellow: more green than blue
    assert cy5[2] > cy5[1]  # magenta: more blue than green


def test_channel_colour_is_grey_for_transmitted_light() -> None:
    bf = {"name": "BF", "source": "led_matrix_full", "emission_wavelength_nm": 550.0}
    assert channel_colour(bf) == BRIGHT_FIELD
    dapi = {"name": "DAPI", "source": "405", "emission_wavelength_nm": 450.0}
    assert channel_colour(dapi) == emission_colour(450.0)
