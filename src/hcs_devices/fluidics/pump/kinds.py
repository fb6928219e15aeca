"""Pump models the configuration can name, and how to build their drivers.

To add a model (e.g. the Rainin RP-1: 19200 8E1, connect ``0xFF`` then id + 128,
buffered commands after the unit answers ``LF``, ``L``/``U`` remote lock,
``jF``/``jB`` direction and start, ``Rdddd`` speed, immediate ``?`` status):
write ``rainin_rp1.py`` with a ``GsiocLink`` subclass for its buffered framing and a
driver class like :class:`Minipuls3Driver`, an emulator model in
``emulator.py``, then add one entry to :data:`PUMP_KINDS`, to
:data:`~hcs_devices.fluidics.pump.ratings.PUMP_RATINGS` and to the ``kind``
literal of :class:`hcs_devices.fluidics.config.PumpConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from hcs_devices.fluidics.pump.base import PeristalticPumpDriver
from hcs_devices.fluidics.pump.minipuls3 import Minipuls3Driver, minipuls3_serial_settings
from hcs_devices.fluidics.pump.ratings import GILSON_MINIPULS3, PumpRating
from hcs_devices.fluidics.transport import SerialSettings, SerialTransport


@dataclass(frozen=True)
class PumpKind:
    """One supported pump model.

    Attributes:
        rating: the model's name and highest speed.
        serial_settings: line settings for a port path.
        make_driver: builds the driver from a transport, unit id and reply timeout.
    """

    rating: PumpRating
    serial_settings: Callable[[str], SerialSettings]
    make_driver: Callable[[SerialTransport, int, float], PeristalticPumpDriver]

    @property
    def description(self) -> str:
        """The model's name."""
        return self.rating.description

    @property
    def max_rpm(self) -> float:
        """The highest speed the model accepts."""
        return self.rating.max_rpm


def _minipuls3(transport: SerialTransport, unit_id: int, reply_timeout_s: float) -> Minipuls3Driver:
    return Minipuls3Driver(transport, unit_id=unit_id, reply_timeout_s=reply_timeout_s)


#: Supported models by configuration name.
PUMP_KINDS: dict[str, PumpKind] = {
    "gilson_minipuls3": PumpKind(
        rating=GILSON_MINIPULS3,
        serial_settings=minipuls3_serial_settings,
        make_driver=_minipuls3,
    ),
}
