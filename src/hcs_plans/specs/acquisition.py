"""The hcs acquisition description: a useq-schema ``MDASequence`` plus what Squid users need.

A sequence written for pymmcore-plus runs here unchanged: its channels name the
microscope configuration's channel presets, its ``stage_positions`` may be a
``WellPlatePlan`` (plate, selected wells, a grid of fields of view per well), and its
``z_plan``/``time_plan``/``axis_order`` mean what they mean in useq. What useq has no
word for lives next to the sequence, in :class:`AcquisitionSpec`.

Coordinates: useq's y axis points up (as in Micro-Manager); hcs's stage y runs down
the plate's rows, so grid offsets are mirrored in y when positions are computed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import useq
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from hcs_devices.config.errors import UserFileError, describe_validation_error
from hcs_devices.config.yaml_file import read_yaml_file
from hcs_plans.specs.autofocus import AutofocusPolicy
from hcs_plans.specs.limits import check_sequence_data
from hcs_plans.specs.strict import (
    describe_dropped_keys,
    dropped_keys,
    dropped_keys_error,
    nested_error,
    understood_form,
)


class AcquisitionSpec(BaseModel):
    """What to acquire, and how.

    Attributes:
        sequence: the useq-schema multi-dimensional acquisition.
        experiment_id: recorded in every document of the run.
        plate_format: the microscope configuration's plate format (e.g. ``"96"``);
            by default the one whose rows and columns match the sequence's plate.
        well_order: ``serpentine`` visits rows alternately left-right and right-left.
        fov_order: order of fields of view inside a well.
        clip_to_well: drop fields of view that do not lie entirely inside the well
            (circle-clipped for round wells).
        hardware_sequencing: have the hardware step each field of view's z x channel
            stack where the microscope can; otherwise (or where it cannot) the camera
            sets each frame up through the devices and triggers it in software.
        binning: camera binning for the run (must be one the camera allows).
        z_reference: ``stage`` uses the sequence's z positions as absolute stage z
            (useq semantics when positions carry z); ``focus`` centres z plans on the
            microscope's current (or predicted) focus.
        late_time_points: what a time-lapse does with a time point that starts late
            (the previous one took longer than the interval, or the run was paused):
            ``run_late`` takes it at once, ``skip`` takes nothing for it when it is more
            than ``late_tolerance_s`` late. Each time point is recorded either way
            (:mod:`hcs_plans.time_points`).
        late_tolerance_s: how late a time point may start before ``skip`` skips it.
        autofocus: how each field of view's focus is found (none, focus map,
            contrast or laser autofocus, and how often); see
            :class:`~hcs_plans.specs.autofocus.AutofocusPolicy`.
    """

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, allow_inf_nan=False
    )

    sequence: useq.MDASequence
    experiment_id: str = Field("", max_length=200)
    plate_format: str | None = None
    well_order: Literal["row", "serpentine"] = "serpentine"
    fov_order: Literal["row", "serpentine"] = "serpentine"
    clip_to_well: bool = True
    hardware_sequencing: bool = True
    z_reference: Literal["stage", "focus"] = "focus"
    binning: int = Field(1, ge=1, le=8)
    late_time_points: Literal["run_late", "skip"] = "run_late"
    late_tolerance_s: float = Field(1.0, ge=0.0, le=86_400.0)
    autofocus: AutofocusPolicy = AutofocusPolicy()

    @field_validator("sequence", mode="before")
    @classmethod
    def _strict_sequence(cls, value: Any) -> Any:
        if isinstance(value, dict):
            positions = value.get("stage_positions")
            if isinstance(positions, dict):
                # useq reports a bad plate plan only as "must be a WellPlatePlan or
                # Sequence[Position]"; validating it alone names the real problem.
                try:
                    useq.WellPlatePlan.model_validate(positions)
                except ValidationError as exc:
                    raise nested_error("WellPlatePlan", ("stage_positions",), exc) from None
            # Counted before useq expands the positions, z planes and time points.
            check_sequence_data(value)
            parsed = useq.MDASequence.model_validate(value)
            unknown = dropped_keys(value, understood_form(parsed))
            if unknown:
                problems = describe_dropped_keys(useq.MDASequence, value, unknown)
                raise dropped_keys_error("MDASequence", problems, value)
            return parsed
        return value

    @model_validator(mode="after")
    def _autofocus_needs_relative_z(self) -> AcquisitionSpec:
        z_plan = self.sequence.z_plan
        if self.autofocus.enabled and z_plan is not None and not z_plan.is_relative:
            raise ValueError(
                "autofocus: an absolute z_plan fixes every z; use a relative z plan "
                "(range/step) or autofocus method none"
            )
        return self


def spec_from_data(data: Any, source: str = "acquisition spec") -> AcquisitionSpec:
    """Validate plain data into a spec.

    Plain ``MDASequence`` data (with no ``sequence`` key) is accepted and wrapped, so a
    pymmcore-plus sequence file works as it is.

    Raises:
        UserFileError: naming the source, the field and what is wrong.
    """
    if isinstance(data, dict) and "sequence" not in data:
        data = {"sequence": data}
    try:
        return AcquisitionSpec.model_validate(data)
    except ValidationError as exc:
        raise UserFileError(source, describe_validation_error(AcquisitionSpec, exc)) from exc


def load_spec(path: str | Path) -> AcquisitionSpec:
    """Read a spec (or a bare useq sequence) from a YAML or JSON file.

    The file is read strictly (:func:`~hcs_devices.config.yaml_file.read_yaml_file`):
    a repeated key, a file that is not UTF-8 or one that is too large is refused.

    Raises:
        UserFileError: naming the file, the field and what is wrong.
    """
    return spec_from_data(read_yaml_file(path) or {}, str(path))


def as_spec(spec: AcquisitionSpec | dict[str, Any] | str | Path) -> AcquisitionSpec:
    """A spec from what a client sends: a spec, its plain data, or a file's path.

    This is how plans take specs from the queue server and other remote clients,
    whose parameters are JSON: plain data (a spec, or a bare useq sequence) or the
    path of a YAML/JSON file on the acquisition machine.

    Raises:
        UserFileError: naming the source, the field and what is wrong.
    """
    if isinstance(spec, AcquisitionSpec):
        return spec
    if isinstance(spec, str | Path):
        return load_spec(spec)
    return spec_from_data(spec)
