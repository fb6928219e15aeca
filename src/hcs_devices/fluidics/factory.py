"""Build the fluidics devices from the ``fluidics:`` section of the configuration."""

from __future__ import annotations

from hcs_devices.fluidics.backends import (
    FlowSink,
    PumpBackend,
    SimPumpBackend,
    SimValveChainBackend,
    ValveChainBackend,
)
from hcs_devices.fluidics.composite import Fluidics
from hcs_devices.fluidics.config import FluidicsConfig, PumpConfig, ValveChainConfig
from hcs_devices.fluidics.mvp.backend import MvpValveChainBackend
from hcs_devices.fluidics.peristaltic_pump import Pump
from hcs_devices.fluidics.pump.backend import SerialPumpBackend
from hcs_devices.fluidics.selector_valve import SelectorValve
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner


def build_valve_chain_backend(config: ValveChainConfig) -> ValveChainBackend:
    """The simulated or MVP backend the chain configuration asks for."""
    if config.simulated:
        return SimValveChainBackend(
            config.port_counts,
            seconds_per_port=config.sim_seconds_per_port,
            speed_factor=config.sim_speed_factor,
        )
    return MvpValveChainBackend(
        config.port,
        ports_per_valve=config.port_counts,
        reply_timeout_s=config.reply_timeout_s,
        move_timeout_s=config.move_timeout_s,
        poll_interval_s=config.poll_interval_s,
    )


def build_pump_backend(config: PumpConfig) -> PumpBackend:
    """The simulated or serial backend the pump configuration asks for."""
    if config.simulated:
        return SimPumpBackend(tube_ul_per_rev=config.tube_ul_per_rev, max_rpm=config.max_rpm)
    return SerialPumpBackend(
        config.kind, config.port, unit_id=config.unit_id, reply_timeout_s=config.reply_timeout_s
    )


def build_fluidics(
    config: FluidicsConfig,
    owner: HardwareOwner = DEFAULT_OWNER,
    name: str = "fluidics",
    *,
    flow_sink: FlowSink | None = None,
) -> Fluidics:
    """Build (not connect) the fluidics device: valves, pump and reagent map.

    Connect it with ``await fluidics.connect()`` (or ``init_devices``); nothing is
    opened before. Release the serial ports with ``await fluidics.close()``.

    Args:
        config: the ``fluidics:`` section.
        owner: who may command the hardware (shared by all devices of a microscope).
        name: device name; children are ``{name}-valves-1``, ``{name}-pump``, ...
        flow_sink: where a simulated pump behind a simulated valve chain reports
            each volume it delivers and the chain's path (a simulated sample's flow
            cell); real hardware reports nothing.
    """
    chain = build_valve_chain_backend(config.valves)
    pump_backend = build_pump_backend(config.pump)
    if (
        flow_sink is not None
        and isinstance(chain, SimValveChainBackend)
        and isinstance(pump_backend, SimPumpBackend)
    ):
        pump_backend.feed(chain, flow_sink)
    valves = [
        SelectorValve(chain, chain_index=index, n_ports=n_ports, owner=owner)
        for index, n_ports in enumerate(config.valves.port_counts, start=1)
    ]
    pump = Pump(
        pump_backend,
        tube_ul_per_rev=config.pump.tube_ul_per_rev,
        max_rpm=config.pump.max_rpm,
        status_poll_s=config.pump.status_poll_s,
        owner=owner,
    )
    return Fluidics(valves, pump, reagents=config.reagents, owner=owner, name=name)
