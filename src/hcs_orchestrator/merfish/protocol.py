"""MERFISH protocol files: what a multi-round experiment does, as the user writes it.

A protocol (YAML) names its codebook, says which round and channel reads each bit and
which channel images the fiducial beads, maps reagents to fluidics ports, and gives one
round's steps as a template with per-round substitutions (each round's readout reagent).
It is read strictly: a misspelt key or step kind, a reagent that is not declared, a
round that reads no bit, a readout reagent that carries no probe for a bit its round
reads, or a codebook with a repeated barcode is refused with an error naming the field
and what is allowed, before anything moves or flows.

Example: ``profile/merfish/protocol.yaml``. Checks against a microscope (ports, pump
range, stage limits) are in :mod:`hcs_orchestrator.merfish.preflight`.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Self

import useq
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.codebook import Codebook, read_codebook
from hcs_devices.config.errors import FieldError, UserFileError, validate_model
from hcs_devices.config.yaml_file import read_yaml_file
from hcs_plans.merfish import FIDUCIAL, ImageStep, Step, StepKind, Unit, unit_id
from hcs_plans.table import AcquisitionError, resolve_fields

_STRICT = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

#: A port path: ``"valve:port"``, or several pairs through a chain (``"1:3 2:8"``).
PORT_PATTERN = r"^[1-9][0-9]*:[1-9][0-9]*( [1-9][0-9]*:[1-9][0-9]*)*$"
#: A template reagent naming a round substitution: ``{readout}``.
_PLACEHOLDER = re.compile(r"^\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class BitSpec(BaseModel):
    """Which round reads a bit, and in which channel.

    Attributes:
        round: the round, from 1.
        channel: a channel preset of the microscope (e.g. ``Cy3``).
    """

    model_config = _STRICT

    round: int = Field(ge=1, le=100)
    channel: str = Field(min_length=1)


class FiducialSpec(BaseModel):
    """The fiducial beads, imaged every round for registration.

    Attributes:
        channel: the channel preset the beads show in (e.g. ``GFP``).
    """

    model_config = _STRICT

    channel: str = Field(min_length=1)


class ReagentSpec(BaseModel):
    """One reagent: where it is connected, and which bits' probes it carries.

    Attributes:
        port: ``"valve:port"`` (valves and ports numbered from 1), or a path of
            several pairs through a chain, ``"1:3 2:8"``.
        probes: the bits whose readout probes this reagent carries (readout mixes).
    """

    model_config = _STRICT

    port: str = Field(pattern=PORT_PATTERN)
    probes: tuple[str, ...] = ()

    @property
    def path(self) -> tuple[tuple[int, int], ...]:
        """The port path as (valve, port) pairs."""
        pairs = (p.split(":") for p in self.port.split())
        return tuple((int(v), int(p)) for v, p in pairs)


class RepeatSafety(BaseModel):
    """Per step kind: may a step of this kind run again after a crash without asking?

    A flow of readout, wash or imaging buffer only adds liquid and may; a cleave
    removes the dyes (a second one before imaging loses a round) and may not.
    """

    model_config = _STRICT

    flow: bool = True
    incubate: bool = True
    image: bool = True
    cleave: bool = False
    custom: bool = False


class QcPolicy(BaseModel):
    """Decoding QC checks, and what a failed check does.

    Attributes:
        min_spots_per_bit: fewer spots than this in a bit's channel of a field is a
            warning (a readout that did not bind, or the wrong one).
        max_shift_px: a registration shift against round 1's fiducials larger than
            this is a warning.
        max_blank_rate: a blank-barcode fraction of decoded molecules above this is a
            warning.
        on_warning: ``continue`` (log and notify), ``pause`` (wait for the operator),
            or ``stop`` the experiment.
    """

    model_config = _STRICT

    min_spots_per_bit: int = Field(default=20, ge=0)
    max_shift_px: float = Field(default=20.0, gt=0)
    max_blank_rate: float = Field(default=0.01, ge=0, le=1)
    on_warning: Literal["continue", "pause", "stop"] = "continue"


#: When the notification command runs.
NotifyEvent = Literal["pause", "failure", "completion"]


class NotifySpec(BaseModel):
    """A command run when the experiment pauses, fails or completes.

    The command gets the event in the environment (``HCS_MERFISH_EVENT``: ``pause``,
    ``failure`` or ``completion``; ``HCS_MERFISH_MESSAGE``: one line), e.g. a mail or
    chat script.

    Attributes:
        command: the program and its arguments (no shell); empty: log lines only.
        events: the events that run it.
    """

    model_config = _STRICT

    command: tuple[str, ...] = ()
    events: tuple[Literal["pause", "failure", "completion"], ...] = (
        "pause",
        "failure",
        "completion",
    )


class Protocol(BaseModel):
    """A MERFISH experiment.

    Attributes:
        name: the experiment's name (recorded in every run).
        codebook: the codebook CSV, relative to the protocol file.
        bits: bit name -> the round and channel that read it (every bit of the codebook).
        fiducial: the fiducial beads' channel, imaged every round.
        reagents: reagent name -> port and probes.
        round_template: one round's steps, in order.
        rounds: one entry per round: placeholder -> reagent (e.g. ``readout: RO-1``),
            substituted where a template step's reagent is ``{readout}``.
        repeat_safe: per step kind, whether a step may be repeated after a crash
            without the operator's confirmation.
        flow_parts: every flow and cleave is pumped in this many equal parts, each
            recorded as it ends: after a crash only the parts not recorded are
            pumped, so at most one part (1/flow_parts of the volume) runs twice.
        qc: decoding QC checks and the warning policy.
        notify: the notification command.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    name: str = Field(min_length=1, max_length=200)
    codebook: Path
    bits: dict[str, BitSpec] = Field(min_length=1)
    fiducial: FiducialSpec
    reagents: dict[str, ReagentSpec] = Field(min_length=1)
    round_template: tuple[Step, ...] = Field(min_length=1)
    rounds: tuple[dict[str, str], ...] = Field(min_length=1)
    repeat_safe: RepeatSafety = RepeatSafety()
    flow_parts: int = Field(default=50, ge=1, le=1000)
    qc: QcPolicy = QcPolicy()
    notify: NotifySpec = NotifySpec()

    @field_validator("round_template")
    @classmethod
    def _image_has_no_channels(cls, steps: tuple[Step, ...]) -> tuple[Step, ...]:
        for i, step in enumerate(steps):
            if isinstance(step, ImageStep) and step.acquisition.sequence.channels:
                raise FieldError(
                    (i, "acquisition", "sequence", "channels"),
                    "leave out: the round's channels come from bits and fiducial",
                )
        return steps

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        self._check_bits()
        self._check_reagents()
        self._check_rounds()
        return self

    def _check_bits(self) -> None:
        n = len(self.rounds)
        seen: dict[tuple[int, str], str] = {}
        for bit, spec in self.bits.items():
            if spec.round > n:
                raise FieldError(
                    ("bits", bit, "round"), f"round {spec.round} is outside 1..{n} (rounds)"
                )
            if spec.channel == self.fiducial.channel:
                raise FieldError(
                    ("bits", bit, "channel"),
                    f"{spec.channel} images the fiducial beads; use another channel",
                )
            other = seen.get((spec.round, spec.channel))
            if other is not None:
                raise FieldError(
                    ("bits", bit, "channel"),
                    f"{other} is read in round {spec.round} channel {spec.channel} already",
                )
            seen[(spec.round, spec.channel)] = bit
        for r in range(1, n + 1):
            if not any(s.round == r for s in self.bits.values()):
                raise FieldError(("rounds", r - 1), f"round {r} reads no bit (bits)")
        if not any(isinstance(s, ImageStep) for s in self.round_template):
            raise FieldError(("round_template",), "a round needs an image step")

    def _check_reagents(self) -> None:
        ports: dict[str, str] = {}
        for name, reagent in self.reagents.items():
            if reagent.port in ports:
                raise FieldError(
                    ("reagents", name, "port"),
                    f"{reagent.port} is {ports[reagent.port]}'s port already",
                )
            ports[reagent.port] = name
            for bit in reagent.probes:
                if bit not in self.bits:
                    raise FieldError(
                        ("reagents", name, "probes"),
                        f"unknown bit {bit!r}; the bits are {sorted(self.bits)}",
                    )
        for i, step in enumerate(self.round_template):
            reagent = getattr(step, "reagent", None)
            if reagent is None or _PLACEHOLDER.match(reagent):
                continue
            if reagent not in self.reagents:
                raise FieldError(
                    ("round_template", i, "reagent"),
                    f"unknown reagent {reagent!r}; the reagents are {sorted(self.reagents)}",
                )

    def _check_rounds(self) -> None:
        needed = {
            m.group(1)
            for step in self.round_template
            if (m := _PLACEHOLDER.match(getattr(step, "reagent", "") or ""))
        }
        for r, subs in enumerate(self.rounds, start=1):
            for key in sorted(needed - set(subs)):
                raise FieldError(("rounds", r - 1), f"round {r} does not say its {key!r} reagent")
            for key, reagent in subs.items():
                if key not in needed:
                    raise FieldError(
                        ("rounds", r - 1, key),
                        f"no template step uses {{{key}}}; the template uses {sorted(needed)}",
                    )
                if reagent not in self.reagents:
                    raise FieldError(
                        ("rounds", r - 1, key),
                        f"unknown reagent {reagent!r}; the reagents are {sorted(self.reagents)}",
                    )
            carried = {
                bit
                for step in self.round_steps(r)
                if getattr(step, "kind", "") == "flow"
                for bit in self.reagents[step.reagent].probes  # type: ignore[union-attr]
            }
            for bit, spec in self.bits.items():
                if spec.round == r and bit not in carried:
                    raise FieldError(
                        ("rounds", r - 1),
                        f"round {r} reads {bit} but none of its flows carries a probe for it "
                        f"(reagents.<name>.probes)",
                    )

    @property
    def n_rounds(self) -> int:
        """How many rounds."""
        return len(self.rounds)

    def round_steps(self, round_index: int) -> list[Step]:
        """Round ``round_index``'s steps: the template with its reagents substituted."""
        subs = self.rounds[round_index - 1]
        out: list[Step] = []
        for step in self.round_template:
            reagent = getattr(step, "reagent", None)
            m = _PLACEHOLDER.match(reagent) if reagent else None
            out.append(step.model_copy(update={"reagent": subs[m.group(1)]}) if m else step)
        return out

    def channel_bits(self, round_index: int) -> dict[str, str]:
        """Round ``round_index``'s channels -> bit (in bit order), then the fiducial."""
        out = {s.channel: bit for bit, s in self.bits.items() if s.round == round_index}
        return out | {self.fiducial.channel: FIDUCIAL}

    def repeat_safe_for(self, step: Step) -> bool:
        """Whether ``step`` may be repeated without confirmation."""
        if step.repeat_safe is not None:
            return step.repeat_safe
        kind: StepKind = step.kind
        return bool(getattr(self.repeat_safe, kind))


def protocol_from_data(data: Any, source: str, base_dir: Path) -> Protocol:
    """Validate plain data into a protocol; the codebook path is taken from ``base_dir``.

    Raises:
        UserFileError: naming the source, the field and what is wrong.
    """
    if isinstance(data, dict) and isinstance(data.get("codebook"), str):
        data = dict(data) | {"codebook": str(base_dir / data["codebook"])}
    protocol = validate_model(Protocol, data, source)
    codebook = load_protocol_codebook(protocol, source)
    missing = sorted(set(codebook.bit_names) - set(protocol.bits))
    extra = sorted(set(protocol.bits) - set(codebook.bit_names))
    if missing:
        raise UserFileError(source, [f"bits: the codebook's bits {missing} are read in no round"])
    if extra:
        raise UserFileError(
            source, [f"bits: {extra} are not bits of the codebook {codebook.bit_names}"]
        )
    return protocol


def load_protocol_codebook(protocol: Protocol, source: str = "protocol") -> Codebook:
    """The protocol's codebook.

    Raises:
        UserFileError: ``codebook:`` and what is wrong with the file.
    """
    try:
        return read_codebook(protocol.codebook)
    except UserFileError as err:
        raise UserFileError(source, [f"codebook: {err}"]) from err


def load_protocol(path: str | Path) -> Protocol:
    """Read a protocol file (YAML or JSON), strictly.

    Raises:
        UserFileError: naming the file, the field and what is wrong.
    """
    path = Path(path)
    return protocol_from_data(read_yaml_file(path) or {}, str(path), path.parent)


def protocol_hash(protocol: Protocol) -> str:
    """A hex digest of what the protocol does (its codebook's content included).

    Where the files lie does not change it; any change of a step, a reagent, a bit or a
    barcode does.
    """
    content = json.loads(protocol.model_dump_json(exclude={"codebook", "notify"}))
    content["codebook"] = read_codebook(protocol.codebook).to_csv()
    text = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def round_image_step(protocol: Protocol, step: ImageStep, round_index: int) -> ImageStep:
    """An image step with the round's channels (bits, then fiducial) in its sequence."""
    sequence = step.acquisition.sequence.model_copy(
        update={"channels": tuple(_channel(c) for c in protocol.channel_bits(round_index))}
    )
    acquisition = step.acquisition.model_copy(update={"sequence": sequence})
    return step.model_copy(update={"acquisition": acquisition})


def _channel(name: str) -> useq.Channel:
    return useq.Channel(config=name, exposure=None)


def expand_units(protocol: Protocol, config: MicroscopeConfig) -> list[Unit]:
    """Every unit of work of the experiment, in the order they are done.

    A fluidics, incubate or custom step is one unit; an image step is one unit per
    field of view (fields as the microscope's plate formats place them).

    Raises:
        UserFileError: an image step's positions cannot be placed on this microscope.
    """
    digest = protocol_hash(protocol)
    units: list[Unit] = []
    for r in range(1, protocol.n_rounds + 1):
        bits = protocol.channel_bits(r)
        for s, step in enumerate(protocol.round_steps(r)):
            safe = protocol.repeat_safe_for(step)
            if isinstance(step, ImageStep):
                resolved = round_image_step(protocol, step, r)
                try:
                    fields, _ = resolve_fields(config, resolved.acquisition)
                except AcquisitionError as err:
                    raise UserFileError(
                        "protocol", [f"round_template[{s}].acquisition.{err}"]
                    ) from err
                for fov in fields:
                    units.append(
                        Unit(
                            id=unit_id(digest, r, s, f"{fov.well}-{fov.fov}"),
                            protocol_hash=digest,
                            round=r,
                            step_index=s,
                            kind="image",
                            repeat_safe=safe,
                            step=resolved,
                            well=fov.well,
                            fov=fov.fov,
                            channel_bits=bits,
                        )
                    )
            else:
                units.append(
                    Unit(
                        id=unit_id(digest, r, s),
                        protocol_hash=digest,
                        round=r,
                        step_index=s,
                        kind=step.kind,
                        repeat_safe=safe,
                        step=step,
                        flow_parts=protocol.flow_parts if step.kind in ("flow", "cleave") else 1,
                    )
                )
    return units
