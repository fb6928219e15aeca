"""The pump models a configuration can name, and their limits (no driver code).

The configuration models check ``kind`` and ``max_rpm`` against this table; the drivers
that go with each model are in :mod:`hcs_devices.fluidics.pump.kinds`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PumpRating:
    """What a configuration may ask of one pump model.

    Attributes:
        description: the model's name.
        max_rpm: the highest speed it accepts.
    """

    description: str
    max_rpm: float


#: The Gilson Minipuls 3: 0..48.00 rpm in steps of 0.01 rpm.
GILSON_MINIPULS3 = PumpRating(description="Gilson Minipuls 3", max_rpm=48.0)

#: Supported models by configuration name.
PUMP_RATINGS: dict[str, PumpRating] = {"gilson_minipuls3": GILSON_MINIPULS3}
