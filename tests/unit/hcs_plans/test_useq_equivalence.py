"""A useq sequence runs as written: hcs plans the images useq's own iteration yields.

Each sequence below uses some fields of ``useq.MDASequence``; together they use every
field. For each, the images hcs plans (``resolve``) equal the events useq iterates:
the same count, positions, channels, z and time points, or the sequence is refused
naming the field. Two conventions differ, and the comparison states them:

- **y**: useq's y points up, the stage's y runs down the rows. hcs mirrors useq's
  offsets in y about their reference: A1's centre for a plate, the position for a
  grid around a position.
- **order**: hcs visits wells and fields of view in its own order (``well_order``,
  ``fov_order``); the channels and planes of one field follow the sequence's
  ``axis_order`` as useq does (compared in order below).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
import useq

from hcs_devices.config import MicroscopeConfig
from hcs_plans.specs import spec_from_data
from hcs_plans.table import resolve
from useq_sequences import FOCUS_Z_UM, REFUSED, SUPPORTED, Image, image, useq_images


def hcs_images(
    config: MicroscopeConfig, sequence: dict[str, Any], spec: dict[str, Any]
) -> list[Image]:
    """Every image hcs plans: (x, y, z, channel, time index, time s), in its order."""
    table = resolve(config, spec_from_data({"sequence": sequence, **spec}), focus_z_um=FOCUS_Z_UM)
    preset_dz = {c.name: c.z_offset_um for c in config.channels}
    images: list[Image] = []
    for t, start_s in enumerate(table.time_points_s):
        for f in table.fields:
            base = 0.0
            if spec.get("z_reference") == "stage" and f.z_um is not None and not table.z_absolute:
                base = f.z_um
            for frame in table.stack(t):
                channel = frame.channel
                z = base + frame.z_rel_um + channel.z_offset_um - preset_dz[channel.name]
                images.append(image(f.x_um, f.y_um, z, channel.name, t, start_s))
    return images


def test_the_supported_sequences_use_every_field_of_mdasequence_with_the_refused_ones() -> None:
    used = {key for sequence, _ in SUPPORTED.values() for key in sequence}
    used |= {key for sequence, _ in REFUSED.values() for key in sequence}
    assert used == set(useq.MDASequence.model_fields) - {"uid"}


@pytest.mark.parametrize("name", SUPPORTED)
def test_hcs_plans_the_images_useq_iterates_when_the_sequence_is_supported(
    profile_config: MicroscopeConfig, name: str
) -> None:
    sequence, spec = SUPPORTED[name]
    planned, iterated = hcs_images(profile_config, sequence, spec), useq_images(sequence)
    assert len(planned) == len(iterated)
    assert Counter(planned) == Counter(iterated)
    if isinstance(sequence["stage_positions"], list) and len(sequence["stage_positions"]) == 1:
        assert planned == iterated  # one position: channels and planes in useq's order


@pytest.mark.parametrize("name", REFUSED)
@pytest.mark.filterwarnings("ignore:Position x=.* is ignored:UserWarning")
def test_hcs_refuses_naming_the_field_when_the_sequence_asks_for_what_it_does_not_do(
    profile_config: MicroscopeConfig, name: str
) -> None:
    sequence, field = REFUSED[name]
    with pytest.raises(ValueError, match=rf"{_escaped(field)}\b") as refused:
        resolve(profile_config, spec_from_data({"sequence": sequence}), focus_z_um=FOCUS_Z_UM)
    assert "Traceback" not in str(refused.value)


def _escaped(field: str) -> str:
    return field.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")
