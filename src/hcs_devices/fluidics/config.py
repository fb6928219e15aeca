"""The ``fluidics:`` section of a microscope configuration (pydantic models).

Example (YAML)::

    fluidics:
      valves:
        port: /dev/serial/by-id/usb-FTDI_USB-RS232_Cable_FT1ABCDE-if00-port0
        n_valves: 2
        ports_per_valve: 8
      pump:
        kind: gilson_minipuls3
        port: /dev/serial/by-id/usb-Prolific_USB-Serial-if00-port0
        unit_id: 30
        tube_ul_per_rev: 31.5
        max_rpm: 48
      reagents:
        wash: [[1, 8]]
        imaging_buffer: [[1, 7]]
        readout_01: [[1, 1], [2, 1]]

``port: sim`` (the default) uses a simulated valve chain or pump instead of hardware.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from hcs_devices.fluidics.mvp.protocol import ALLOWED_PORT_COUNTS, MAX_VALVES
from hcs_devices.fluidics.pump.ratings import PUMP_RATINGS

#: The ``port`` value that selects the simulated backend.
SIM = "sim"


def _within(low: float, high: float, unit: str = "") -> Callable[[float], float]:
    """A validator refusing values outside ``low..high`` with a message naming the range."""
    suffix = f" {unit}" if unit else ""

    def check(value: float) -> float:
        if not math.isfinite(value) or not low <= value <= high:
            raise ValueError(f"must be in {low:g}..{high:g}{suffix}, got {value:g}")
        return value

    return check


def _above(low: float, high: float, unit: str = "") -> Callable[[float], float]:
    """A validator refusing values outside ``(low, high]``."""
    suffix = f" {unit}" if unit else ""

    def check(value: float) -> float:
        if not math.isfinite(value) or not low < value <= high:
            raise ValueError(
                f"must be more than {low:g} and at most {high:g}{suffix}, got {value:g}"
            )
        return value

    return check


ValveCount = Annotated[int, AfterValidator(_within(1, MAX_VALVES))]
UnitId = Annotated[int, AfterValidator(_within(0, 63))]
ReplyTimeout = Annotated[float, AfterValidator(_above(0, 10, "s"))]
MoveTimeout = Annotated[float, AfterValidator(_above(0, 300, "s"))]
PollInterval = Annotated[float, AfterValidator(_above(0, 5, "s"))]
SimSecondsPerPort = Annotated[float, AfterValidator(_within(0, 10, "s"))]
SpeedFactor = Annotated[float, AfterValidator(_above(0, 10000))]
TubeCalibration = Annotated[float, AfterValidator(_above(0, 10000, "uL/rev"))]
Rpm = Annotated[float, AfterValidator(_above(0, 48, "rpm"))]
TolerancePercent = Annotated[float, AfterValidator(_within(0, 100, "%"))]

_FROZEN = ConfigDict(extra="forbid", frozen=True)


class ValveChainConfig(BaseModel):
    """A daisy chain of Hamilton MVP selector valves on one serial port."""

    model_config = _FROZEN

    port: str = Field(
        default=SIM,
        description="serial device path of the chain (prefer /dev/serial/by-id/...), or 'sim'",
    )
    n_valves: ValveCount = Field(default=1, description=f"valves in the chain, 1..{MAX_VALVES}")
    ports_per_valve: int | tuple[int, ...] = Field(
        default=8,
        description="ports of every valve (one number), or of each valve in chain order "
        f"(a list); each one of {sorted(ALLOWED_PORT_COUNTS)}",
    )
    reply_timeout_s: ReplyTimeout = Field(default=0.5, description="reply timeout, s")
    move_timeout_s: MoveTimeout = Field(default=15.0, description="longest move, s")
    poll_interval_s: PollInterval = Field(default=0.05, description="pause between polls, s")
    sim_seconds_per_port: SimSecondsPerPort = Field(
        default=0.25, description="simulated valves: turning time per port step, s"
    )
    sim_speed_factor: SpeedFactor = Field(
        default=1.0, description="simulated valves: divides every turning time"
    )

    @field_validator("ports_per_valve")
    @classmethod
    def _check_ports(
        cls, value: int | tuple[int, ...], info: ValidationInfo
    ) -> int | tuple[int, ...]:
        counts = (value,) if isinstance(value, int) else value
        allowed = sorted(ALLOWED_PORT_COUNTS)
        for count in counts:
            if count not in ALLOWED_PORT_COUNTS:
                raise ValueError(f"{count} ports is not a valve size; allowed: {allowed}")
        n_valves = info.data.get("n_valves")
        if not isinstance(value, int) and n_valves is not None and len(value) != n_valves:
            raise ValueError(
                f"lists {len(value)} valve(s) but n_valves is {n_valves}; give one number "
                f"for all valves or one per valve"
            )
        return value

    @property
    def port_counts(self) -> tuple[int, ...]:
        """The number of ports of each valve, in chain order."""
        if isinstance(self.ports_per_valve, int):
            return (self.ports_per_valve,) * self.n_valves
        return self.ports_per_valve

    @property
    def simulated(self) -> bool:
        """Whether this chain is simulated."""
        return self.port == SIM


class PumpConfig(BaseModel):
    """One peristaltic pump."""

    model_config = _FROZEN

    kind: Literal["gilson_minipuls3"] = Field(
        default="gilson_minipuls3", description=f"pump model, one of {sorted(PUMP_RATINGS)}"
    )
    port: str = Field(default=SIM, description="serial device path of the pump, or 'sim'")
    unit_id: UnitId = Field(default=30, description="GSIOC unit id set on the pump, 0..63")
    tube_ul_per_rev: TubeCalibration = Field(
        description="tube calibration: uL delivered per rotor revolution (measure it: "
        "weigh what 10 revolutions deliver)"
    )
    calibration_tolerance_percent: TolerancePercent = Field(
        default=5.0, description="how far delivered volumes may be from the asked ones, %"
    )
    max_rpm: Rpm = Field(default=48.0, description="fastest rotor speed to use, rpm (0..48]")
    reply_timeout_s: ReplyTimeout = Field(default=0.5, description="reply timeout, s")
    status_poll_s: PollInterval = Field(
        default=0.25, description="how often a running flow checks the pump still turns, s"
    )

    @field_validator("max_rpm")
    @classmethod
    def _check_max_rpm(cls, value: float, info: ValidationInfo) -> float:
        kind = info.data.get("kind")
        if kind in PUMP_RATINGS and value > PUMP_RATINGS[kind].max_rpm:
            raise ValueError(
                f"must be at most {PUMP_RATINGS[kind].max_rpm:g} rpm for a "
                f"{PUMP_RATINGS[kind].description}, got {value:g}"
            )
        return value

    @property
    def simulated(self) -> bool:
        """Whether this pump is simulated."""
        return self.port == SIM

    @property
    def max_rate_ul_min(self) -> float:
        """Fastest flow, uL/min."""
        return self.max_rpm * self.tube_ul_per_rev


class FluidicsConfig(BaseModel):
    """The fluidics of a MERFISH rig: a valve chain, a pump and the reagent map."""

    model_config = _FROZEN

    valves: ValveChainConfig = Field(default_factory=ValveChainConfig)
    pump: PumpConfig
    reagents: dict[str, tuple[tuple[int, int], ...]] = Field(
        default_factory=dict,
        description="reagent name -> path through the chain as [valve, port] pairs "
        "(valves numbered from 1 in chain order, ports from 1)",
    )

    @field_validator("reagents")
    @classmethod
    def _check_reagents(
        cls, value: dict[str, tuple[tuple[int, int], ...]], info: ValidationInfo
    ) -> dict[str, tuple[tuple[int, int], ...]]:
        chain = info.data.get("valves")
        if not isinstance(chain, ValveChainConfig):
            return value  # the valves section is invalid and reported on its own
        counts = chain.port_counts
        for reagent, path in value.items():
            if not reagent.strip():
                raise ValueError("a reagent name is empty")
            if not path:
                raise ValueError(f"{reagent}: the path is empty; give [valve, port] pairs")
            seen: set[int] = set()
            for valve, port in path:
                if not 1 <= valve <= len(counts):
                    raise ValueError(
                        f"{reagent}: valve {valve} is outside 1..{len(counts)} (valves.n_valves)"
                    )
                if valve in seen:
                    raise ValueError(f"{reagent}: valve {valve} appears twice in the path")
                seen.add(valve)
                if not 1 <= port <= counts[valve - 1]:
                    raise ValueError(
                        f"{reagent}: port {port} is outside 1..{counts[valve - 1]} "
                        f"of valve {valve} (valves.ports_per_valve)"
                    )
        return value
