"""Check a MERFISH protocol against a microscope before anything moves or flows.

:func:`check_protocol` resolves every round's image step against the microscope
(positions inside the stage limits, channels known, exposures in the camera's range,
disk space) and every reagent against the configuration's ``fluidics:`` section (the
valve exists, the port is one of its ports, the configuration maps the reagent to the
same port), every flow's rate against the pump's range, and every flow's parts against
the pump's supervision (a part shorter than one status poll of the pump would run
unwatched). It also adds up what the experiment will take: time, reagent volume per
port, images and bytes. ``hcs merfish validate`` and ``hcs merfish run --dry-run`` print
it; ``hcs merfish run`` calls it before it opens the data directory.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.errors import UserFileError
from hcs_devices.fluidics.config import FluidicsConfig
from hcs_devices.fluidics.peristaltic_pump import MIN_RPM
from hcs_orchestrator.merfish.protocol import Protocol, round_image_step
from hcs_orchestrator.preflight import estimate as duration_estimate
from hcs_plans.merfish import CleaveStep, FlowStep, ImageStep, IncubateStep
from hcs_plans.table import AcquisitionError, resolve


@dataclass
class MerfishEstimate:
    """What a protocol will take on a microscope.

    Attributes:
        rounds: how many rounds.
        units: how many units of work.
        duration_s: estimated duration (flows, incubations, imaging), s.
        volume_ul: reagent -> volume it delivers over the experiment, uL.
        ports: reagent -> its port path.
        images: images over the experiment.
        bytes: bytes of image data.
        fields: fields of view per round.
    """

    rounds: int = 0
    units: int = 0
    duration_s: float = 0.0
    volume_ul: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    ports: dict[str, str] = field(default_factory=dict)
    images: int = 0
    bytes: int = 0
    fields: int = 0


def check_protocol(
    protocol: Protocol,
    config: MicroscopeConfig,
    *,
    source: str = "protocol",
    data_dir: Path | None = None,
) -> MerfishEstimate:
    """Check ``protocol`` against ``config`` completely, and estimate what it takes.

    Args:
        protocol: the protocol.
        config: the microscope configuration.
        source: how errors name the protocol (its file).
        data_dir: where the images would go, for the disk-space check.

    Raises:
        UserFileError: naming the protocol, the field and what is allowed.
    """
    problems: list[str] = []
    estimate = MerfishEstimate(rounds=protocol.n_rounds)
    imaging_s: dict[str, float] = {}
    channels = {c.name for c in config.channels}
    for bit, spec in protocol.bits.items():
        if spec.channel not in channels:
            problems.append(
                f"bits.{bit}.channel: unknown channel {spec.channel!r}; "
                f"the microscope's channels are {sorted(channels)}"
            )
    if protocol.fiducial.channel not in channels:
        problems.append(
            f"fiducial.channel: unknown channel {protocol.fiducial.channel!r}; "
            f"the microscope's channels are {sorted(channels)}"
        )
    problems += _check_reagents(protocol, config.fluidics)
    if problems:
        raise UserFileError(source, problems)
    for r in range(1, protocol.n_rounds + 1):
        for s, step in enumerate(protocol.round_steps(r)):
            where = f"round {r}: round_template[{s}]"
            if isinstance(step, FlowStep | CleaveStep):
                problems += _check_flow(protocol, config.fluidics, step, where)
                estimate.volume_ul[step.reagent] += step.volume_ul
                estimate.duration_s += 60.0 * step.volume_ul / step.rate_ul_min
                estimate.units += 1
            elif isinstance(step, IncubateStep):
                estimate.duration_s += step.duration_s
                estimate.units += 1
            elif isinstance(step, ImageStep):
                resolved = round_image_step(protocol, step, r)
                try:
                    table = resolve(
                        config,
                        resolved.acquisition,
                        focus_z_um=config.stage.z.start_um,
                        data_dir=data_dir,
                    )
                except AcquisitionError as err:
                    raise UserFileError(source, [f"{where}.acquisition.{err}"]) from err
                estimate.images += table.images
                estimate.bytes += table.total_bytes
                key = resolved.acquisition.model_dump_json()
                if key not in imaging_s:  # rounds image alike: measure once
                    imaging_s[key] = duration_estimate(config, resolved.acquisition, table).total_s
                estimate.duration_s += imaging_s[key]
                estimate.fields = len(table.fields)
                estimate.units += len(table.fields)
            else:
                estimate.units += 1
    if problems:
        raise UserFileError(source, list(dict.fromkeys(problems)))
    estimate.ports = {name: protocol.reagents[name].port for name in estimate.volume_ul}
    return estimate


def _check_reagents(protocol: Protocol, fluidics: FluidicsConfig | None) -> list[str]:
    used = {
        step.reagent
        for r in range(1, protocol.n_rounds + 1)
        for step in protocol.round_steps(r)
        if isinstance(step, FlowStep | CleaveStep)
    }
    if not used:
        return []
    if fluidics is None:
        return [
            "round_template: the protocol flows reagents but the microscope configuration "
            "has no fluidics section"
        ]
    problems: list[str] = []
    counts = fluidics.valves.port_counts
    for name, reagent in protocol.reagents.items():
        for valve, port in reagent.path:
            if not 1 <= valve <= len(counts):
                problems.append(
                    f"reagents.{name}.port: valve {valve} is outside 1..{len(counts)} "
                    f"(the microscope's fluidics.valves.n_valves)"
                )
            elif not 1 <= port <= counts[valve - 1]:
                problems.append(
                    f"reagents.{name}.port: port {port} is outside 1..{counts[valve - 1]} "
                    f"of valve {valve} (the microscope's fluidics.valves.ports_per_valve)"
                )
        configured = fluidics.reagents.get(name)
        if problems:
            continue
        if configured is None:
            problems.append(
                f"reagents.{name}: the microscope's fluidics.reagents has no {name!r} "
                f"(it has {sorted(fluidics.reagents)})"
            )
        elif tuple(configured) != reagent.path:
            at = " ".join(f"{v}:{p}" for v, p in configured)
            problems.append(
                f"reagents.{name}.port: {reagent.port}, but the microscope's "
                f"fluidics.reagents.{name} is at {at}"
            )
    return problems


def _check_flow(
    protocol: Protocol, fluidics: FluidicsConfig | None, step: FlowStep | CleaveStep, where: str
) -> list[str]:
    if fluidics is None:  # reported by _check_reagents
        return []
    pump = fluidics.pump
    low = MIN_RPM * pump.tube_ul_per_rev
    high = pump.max_rate_ul_min
    if not low <= step.rate_ul_min <= high:
        return [
            f"{where}.rate_ul_min: {step.rate_ul_min:g} uL/min is outside the pump's range "
            f"{low:g}..{high:g} uL/min ({MIN_RPM:g}..{pump.max_rpm:g} rpm at "
            f"{pump.tube_ul_per_rev:g} uL/rev)"
        ]
    least_ul = step.rate_ul_min * pump.status_poll_s / 60.0 * protocol.flow_parts
    if step.volume_ul < least_ul:
        return [
            f"{where}.volume_ul: {step.volume_ul:g} uL in {protocol.flow_parts} parts at "
            f"{step.rate_ul_min:g} uL/min is below the pump's range: each part would run "
            f"shorter than one status poll ({pump.status_poll_s:g} s, pump.status_poll_s); "
            f"give at least {least_ul:.3g} uL, a slower rate or fewer flow_parts"
        ]
    return []


def describe_estimate(estimate: MerfishEstimate) -> str:
    """What the experiment will take, as lines for the terminal."""
    hours, rest = divmod(estimate.duration_s, 3600)
    lines = [
        f"rounds: {estimate.rounds}",
        f"units of work: {estimate.units}",
        f"fields of view per round: {estimate.fields}",
        f"images: {estimate.images}",
        f"image data: {estimate.bytes / 1e6:.1f} MB",
        f"estimated duration: {estimate.duration_s:.0f} s ({int(hours)} h {rest / 60:.0f} min)",
        "reagent volume per port:",
    ]
    lines += [
        f"  {estimate.ports[name]:>5}  {name}: {volume:g} uL"
        for name, volume in sorted(estimate.volume_ul.items(), key=lambda kv: estimate.ports[kv[0]])
    ]
    return "\n".join(lines)
