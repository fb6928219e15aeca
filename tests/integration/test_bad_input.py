"""Bad configurations and sequences are refused at once, by name, and leave nothing behind.

Every case is a configuration file and a sequence file as a user would write them
(the shipped ``hcs_orchestrator/data/microscope.yaml`` and
``hcs_orchestrator/data/sequences/demo-96.yaml`` with
one thing wrong). Each must be refused by :func:`check_acquisition`, the function
``hcs acquire`` calls before it creates anything, with an error naming the field and
what is allowed, in under :data:`MAX_SECONDS` (timed in this process, so interpreter
start-up is not counted) and with under :data:`MAX_BYTES` allocated (tracemalloc's
peak, numpy's arrays included). A representative subset also runs ``hcs acquire`` as
a process (marked slow): exit code 2, no traceback, the data directory not created,
and the process's own peak resident memory (VmHWM) under :data:`MAX_BYTES`.
"""

from __future__ import annotations

import copy
import math
import os
import re
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hcs_devices.config import UserFileError
from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC
from hcs_orchestrator.preflight import check_acquisition
from hcs_plans.table import AcquisitionError

#: The longest a refusal may take, in process (s): a check that did any real work (rendering,
#: moving, writing) on thousands of positions would take far longer; the margin allows for a
#: machine loaded by the rest of the suite running in parallel.
MAX_SECONDS = 3.0
#: The most memory a refusal may take (bytes): tracemalloc's peak, or a process's RSS.
MAX_BYTES = 200 * 1024 * 1024

CONFIG_TEXT = DEFAULT_CONFIG.read_text(encoding="utf-8")
SEQUENCE_TEXT = DEMO_SPEC.read_text(encoding="utf-8")
CONFIG: dict[str, Any] = yaml.safe_load(CONFIG_TEXT)
SEQUENCE: dict[str, Any] = yaml.safe_load(SEQUENCE_TEXT)

Text = str | bytes
Mutation = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class BadInput:
    """One bad input: the files (None: the shipped one) and what the error must say.

    Attributes:
        config: the configuration file's content.
        sequence: the sequence file's content.
        names: a regex the error must match: the field, and what is allowed.
        not_names: a regex the error must not match (a field wrongly blamed).
    """

    config: Text | None = None
    sequence: Text | None = None
    names: str = ""
    not_names: str | None = None


def _set(path: str, value: Any) -> Mutation:
    """A mutation setting a dotted path (``stage.x.max_velocity_um_s``) to a value."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = data
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return mutate


def _dump(base: dict[str, Any], *mutations: Mutation) -> str:
    data = copy.deepcopy(base)
    for mutate in mutations:
        mutate(data)
    return yaml.safe_dump(data, sort_keys=False)


def config_with(*changes: tuple[str, Any]) -> str:
    """The shipped configuration with dotted paths set to values."""
    return _dump(CONFIG, *(_set(p, v) for p, v in changes))


def sequence_with(*changes: tuple[str, Any]) -> str:
    """The demo sequence with dotted paths set to values (``sequence.z_plan``...)."""
    return _dump(SEQUENCE, *(_set(p, v) for p, v in changes))


def positions_sequence(**sequence: Any) -> str:
    """A sequence at one stage position (inside the soft limits), plus ``sequence``."""
    data: dict[str, Any] = {
        "channels": [{"config": "DAPI"}],
        "stage_positions": [{"x": 20_000.0, "y": 20_000.0}],
    }
    return yaml.safe_dump({"sequence": data | sequence}, sort_keys=False)


def _plate(**well_points_plan: Any) -> dict[str, Any]:
    plan = dict(SEQUENCE["sequence"]["stage_positions"])
    return plan | {"well_points_plan": well_points_plan}


def _nested(depth: int) -> str:
    return CONFIG_TEXT + f"\nnotes: {'[' * depth}{']' * depth}\n"


def _laughs(levels: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    lines.append(f"sequence: {{channels: *a{levels - 1}}}")
    return "\n".join(lines) + "\n"


SECOND_CAMERA = "\ncamera:\n  sensor_width_px: 512\n  sensor_height_px: 512\n"
LATIN1_CONFIG = CONFIG_TEXT.replace("name: sim-squid-hcs", "name: microscope-\u00e9cole").encode(
    "latin-1"
)

BAD: dict[str, BadInput] = {
    # --- duplicate keys, encodings, sizes of the files themselves -----------------------
    "config-duplicate-camera-block": BadInput(
        config=CONFIG_TEXT + SECOND_CAMERA,
        names=r"line \d+: duplicate key 'camera' \(first given at line \d+\); a second value "
        r"would silently replace the first",
    ),
    "config-duplicate-key-in-a-flow-mapping": BadInput(
        config=CONFIG_TEXT.replace(
            "x: {low_limit_um: 0,", "x: {low_limit_um: 0, low_limit_um: 10,"
        ),
        names=r"line \d+: duplicate key 'low_limit_um' \(first given at line \d+\)",
    ),
    "config-duplicate-key-in-a-list-item": BadInput(
        config=CONFIG_TEXT.replace("- {name: 4x,", "- {name: 4x, name: 5x,"),
        names=r"line \d+: duplicate key 'name'",
    ),
    "sequence-duplicate-top-level-key": BadInput(
        sequence=SEQUENCE_TEXT + "binning: 1\n",
        names=r"line \d+: duplicate key 'binning' \(first given at line 5\)",
    ),
    "sequence-duplicate-key-in-a-channel": BadInput(
        sequence=SEQUENCE_TEXT.replace("- {config: DAPI}", "- {config: DAPI, config: GFP}"),
        names=r"line \d+: duplicate key 'config'",
    ),
    "config-latin-1-encoded": BadInput(
        config=LATIN1_CONFIG, names=r"line 4: byte 0xe9 is not UTF-8 text; save the file as UTF-8"
    ),
    "sequence-latin-1-encoded": BadInput(
        sequence=(SEQUENCE_TEXT + "experiment_id: d\u00e9mo\n").encode("latin-1"),
        names=r"byte 0xe9 is not UTF-8",
    ),
    "config-not-yaml": BadInput(config="camera: [1, 2\n", names=r"not valid YAML"),
    "config-nested-too-deep": BadInput(
        config=_nested(50_000), names=r"nested more than 64 levels deep"
    ),
    "sequence-billion-laughs": BadInput(
        sequence=_laughs(),
        names=r"expands to more than 200,000 values \(aliases included\), the most allowed",
    ),
    "config-larger-than-128-kib": BadInput(
        config=CONFIG_TEXT + "#" * 200_000 + "\n", names=r"larger than 131,072 bytes"
    ),
    "config-empty": BadInput(config="", names=r"camera: Field required"),
    "config-a-list": BadInput(config="- camera\n", names=r"Input should be .*MicroscopeConfig"),
    # --- names that must be unique ------------------------------------------------------
    "duplicate-objective-names": BadInput(
        config=config_with(("objectives.1.name", "4x")),
        names=r"objectives\[1\]\.name: two objectives named '4x'",
    ),
    "duplicate-light-source-names": BadInput(
        config=config_with(("illumination.sources.2.name", "405")),
        names=r"illumination\.sources\[2\]\.name: two sources named '405'",
    ),
    # --- camera -------------------------------------------------------------------------
    "binning-allowed-zero-and-negative": BadInput(
        config=config_with(("camera.binning_allowed", [0, -2, 2])),
        names=r"camera\.binning_allowed\[0\]: .*allowed: \[1, 8\]",
    ),
    "binning-allowed-empty": BadInput(
        config=config_with(("camera.binning_allowed", [])),
        names=r"camera\.binning_allowed: .*at least 1 item",
    ),
    "binning-allowed-repeated": BadInput(
        config=config_with(("camera.binning_allowed", [1, 2, 2])),
        names=r"camera\.binning_allowed: .*gives a binning twice",
    ),
    "offset-adu-1e30": BadInput(
        config=config_with(("camera.offset_adu", 1e30)),
        names=r"camera\.offset_adu: .*allowed: \[0, 65535\]",
    ),
    "offset-adu-above-8-bit-saturation": BadInput(
        config=config_with(("camera.bit_depth", 8), ("camera.offset_adu", 300)),
        names=r"camera\.offset_adu: .*below the 8-bit saturation value \(255\)",
    ),
    "infinite-max-exposure": BadInput(
        config=config_with(("camera.max_exposure_ms", math.inf)),
        names=r"camera\.max_exposure_ms: .*finite.*allowed: \(0, 3\.6e\+06\]",
    ),
    "nan-pixel-size": BadInput(
        config=config_with(("camera.pixel_size_um", math.nan)),
        names=r"camera\.pixel_size_um: .*finite.*allowed: \(0, 100\]",
    ),
    "zero-frame-rate": BadInput(
        config=config_with(("camera.max_fps", 0)),
        names=r"camera\.max_fps: .*allowed: \[0\.1, 100000\]",
    ),
    "negative-full-well": BadInput(
        config=config_with(("camera.full_well_e", -1)),
        names=r"camera\.full_well_e: .*allowed: \(0, 1e\+07\]",
    ),
    "quantum-efficiency-above-one": BadInput(
        config=config_with(("camera.quantum_efficiency", 2)),
        names=r"camera\.quantum_efficiency: .*allowed: \(0, 1\]",
    ),
    "sensor-a-billion-pixels-wide": BadInput(
        config=config_with(("camera.sensor_width_px", 10**9)),
        names=r"camera\.sensor_width_px: .*allowed: \[16, 16384\]",
    ),
    # --- objectives, light, filters, channels --------------------------------------------
    "magnification-1e300": BadInput(
        config=config_with(("objectives.0.magnification", 1e300)),
        names=r"objectives\[0\]\.magnification: .*allowed: \(0, 250\]",
    ),
    "negative-working-distance": BadInput(
        config=config_with(("objectives.3.working_distance_um", -5)),
        names=r"objectives\[3\]\.working_distance_um: .*allowed: \(0, 100000\]",
    ),
    "laser-power-1e300": BadInput(
        config=config_with(("illumination.sources.1.power_mw", 1e300)),
        names=r"illumination\.sources\[1\]\.power_mw: .*allowed: \(0, 100000\]",
    ),
    "filter-wheel-move-of-1e9-s": BadInput(
        config=config_with(("filter_wheel.move_time_per_position_s", 1e9)),
        names=r"filter_wheel\.move_time_per_position_s: .*allowed: \[0, 10\]",
    ),
    "infinite-channel-exposure": BadInput(
        config=config_with(("channels.1.exposure_ms", math.inf)),
        names=r"channels\[1\]\.exposure_ms: .*finite",
    ),
    "nan-channel-z-offset": BadInput(
        config=config_with(("channels.2.z_offset_um", math.nan)),
        names=r"channels\[2\]\.z_offset_um: .*finite.*allowed: \[-100, 100\]",
    ),
    # --- stage ----------------------------------------------------------------------------
    "infinite-z-high-limit": BadInput(
        config=config_with(("stage.z.high_limit_um", math.inf)),
        names=r"stage\.z\.high_limit_um: .*finite.*allowed: \[-1e\+06, 1e\+06\]",
    ),
    "minus-infinite-z-low-limit": BadInput(
        config=config_with(("stage.z.low_limit_um", -math.inf)),
        names=r"stage\.z\.low_limit_um: .*finite",
    ),
    "nan-high-limit-blamed-on-itself": BadInput(
        config=config_with(("stage.z.high_limit_um", math.nan)),
        names=r"stage\.z\.high_limit_um: .*finite",
        not_names=r"home_um",
    ),
    "stage-velocity-1e-9": BadInput(
        config=config_with(("stage.x.max_velocity_um_s", 1e-9)),
        names=r"stage\.x\.max_velocity_um_s: .*allowed: \[10, 1e\+06\]",
    ),
    "stage-acceleration-1e-9": BadInput(
        config=config_with(("stage.y.max_acceleration_um_s2", 1e-9)),
        names=r"stage\.y\.max_acceleration_um_s2: .*allowed: \[100, 1e\+08\]",
    ),
    "infinite-piezo-velocity": BadInput(
        config=config_with(("stage.piezo.max_velocity_um_s", math.inf)),
        names=r"stage\.piezo\.max_velocity_um_s: .*finite",
    ),
    "home-beyond-any-stage": BadInput(
        config=config_with(("stage.x.home_um", 1e12)),
        names=r"stage\.x\.home_um: .*allowed: \[-1e\+06, 1e\+06\]",
    ),
    # --- laser autofocus, specimen, plates ------------------------------------------------
    "spot-shift-zero": BadInput(
        config=config_with(("laser_autofocus.spot_shift_px_per_um", 0)),
        names=r"laser_autofocus\.spot_shift_px_per_um: .*at least 0\.001 px/um",
    ),
    "infinite-spot-noise": BadInput(
        config=config_with(("laser_autofocus.noise_px", math.inf)),
        names=r"laser_autofocus\.noise_px: .*finite.*allowed: \[0, 1000\]",
    ),
    "seed-minus-one": BadInput(
        config=config_with(("specimen.seed", -1)),
        names=r"specimen\.seed: .*allowed: \[0, 4294967295\]",
    ),
    "cells-per-mm2-1e12": BadInput(
        config=config_with(("specimen.cells_per_mm2", 1e12)),
        names=r"specimen\.cells_per_mm2: .*allowed: \(0, 10000\]",
    ),
    "infinite-specimen-surface": BadInput(
        config=config_with(("specimen.surface_z_um", math.inf)),
        names=r"specimen\.surface_z_um: .*finite",
    ),
    "nan-plate-width": BadInput(
        config=config_with(
            (
                "plate_formats",
                {
                    "96": {
                        "rows": 8,
                        "columns": 12,
                        "well_spacing_um": 9000,
                        "well_size_um": 6400,
                        "a1_x_um": 14380,
                        "a1_y_um": 11240,
                        "width_um": math.nan,
                    }
                },
            )
        ),
        names=r"plate_formats\.96\.width_um: .*finite.*allowed: \(0, 500000\]",
    ),
    # --- z plans --------------------------------------------------------------------------
    "z-step-zero": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"range": 2, "step": 0})),
        names=r"sequence\.z_plan\.step: step must be greater than 0 um",
    ),
    "z-range-negative": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"range": -5, "step": 1})),
        names=r"sequence\.z_plan\.range: range must be 0 um or more",
    ),
    "z-step-1e-9": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"range": 10, "step": 1e-9})),
        names=r"sequence\.z_plan: the z plan has 10,000,000,001 planes; the most allowed is 1,000",
    ),
    "z-step-larger-than-the-range": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"range": 2, "step": 5})),
        names=r"sequence\.z_plan\.step: step \(5\.0 um\) is larger than the z range",
    ),
    "z-top-below-bottom": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"top": 0, "bottom": 10, "step": 1})),
        names=r"sequence\.z_plan\.top: top \(0\.0 um\) must not be below bottom",
    ),
    "z-relative-positions-empty": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"relative": []})),
        names=r"sequence\.z_plan\.relative: give at least one z position",
    ),
    "z-range-nan": BadInput(
        sequence=sequence_with(("sequence.z_plan", {"range": math.nan, "step": 1})),
        names=r"sequence\.z_plan\.range: must be a finite number",
    ),
    # --- time plans -----------------------------------------------------------------------
    "time-interval-negative": BadInput(
        sequence=positions_sequence(time_plan={"interval": -1, "loops": 3}),
        names=r"sequence\.time_plan\.interval: must be 0 s or more \(got -1\.0 s\)",
    ),
    "time-loops-1e9": BadInput(
        sequence=positions_sequence(time_plan={"interval": 1, "loops": 10**9}),
        names=r"sequence\.time_plan: the time plan has 1,000,000,000 time points; the most "
        r"allowed is 100,000",
    ),
    "time-1-us-over-1e5-s": BadInput(
        sequence=positions_sequence(time_plan={"interval": 1e-6, "duration": 1e5}),
        names=r"sequence\.time_plan: an interval of 1e-06 s over 100000\.0 s is "
        r"100,000,000,001 time points; the most allowed is 100,000",
    ),
    "time-interval-zero-over-a-duration": BadInput(
        sequence=positions_sequence(time_plan={"interval": 0, "duration": 10}),
        names=r"sequence\.time_plan\.interval: must be greater than 0 s",
    ),
    "time-one-loop-over-a-duration": BadInput(
        sequence=positions_sequence(time_plan={"duration": 10, "loops": 1}),
        names=r"sequence\.time_plan\.loops: loops must be at least 2",
    ),
    "time-lasting-a-year": BadInput(
        sequence=positions_sequence(time_plan={"interval": 1e7, "loops": 4}),
        names=r"sequence\.time_plan: the last time point is 30,000,000 s after the first; "
        r"the most allowed is 2,678,400 s",
    ),
    "time-phase-with-a-negative-interval": BadInput(
        sequence=positions_sequence(
            time_plan=[{"interval": 1, "loops": 3}, {"interval": -2, "loops": 3}]
        ),
        names=r"sequence\.time_plan\.phases\[1\]\.interval: must be 0 s or more",
    ),
    # --- positions and grids --------------------------------------------------------------
    "grid-of-a-million-fields": BadInput(
        sequence=sequence_with(
            ("sequence.stage_positions", _plate(rows=1000, columns=1000, overlap=10))
        ),
        names=r"sequence\.stage_positions\.well_points_plan: a 1,000 x 1,000 grid is "
        r"1,000,000 fields of view; the most allowed is 20,000",
    ),
    "every-well-of-a-1536-plate-with-16-fields": BadInput(
        sequence=sequence_with(
            (
                "sequence.stage_positions",
                {
                    "plate": 1536,
                    "a1_center_xy": [11005, 7865],
                    "well_points_plan": {"rows": 4, "columns": 4},
                },
            )
        ),
        names=r"sequence\.stage_positions: the sequence asks for 24,576 fields of view "
        r"\(1,536 wells x 16 fields of view\); the most allowed is 20,000",
    ),
    "grid-by-width-and-height": BadInput(
        sequence=sequence_with(("sequence.stage_positions", _plate(width=6000, height=6000))),
        names=r"sequence\.stage_positions\.well_points_plan: well_points_plan of type "
        r"GridWidthHeight is not supported; use GridRowsColumns",
    ),
    "a-billion-random-points": BadInput(
        sequence=sequence_with(("sequence.stage_positions", _plate(num_points=10**9))),
        names=r"well_points_plan of type RandomPoints is not supported",
    ),
    "grid-overlap-100-percent": BadInput(
        sequence=sequence_with(
            ("sequence.stage_positions", _plate(rows=2, columns=2, overlap=100))
        ),
        names=r"sequence\.stage_positions\.well_points_plan\.overlap: overlap in x must be "
        r"in \[0, 100\) %",
    ),
    "grid-overlap-negative": BadInput(
        sequence=sequence_with(
            ("sequence.stage_positions", _plate(rows=2, columns=2, overlap=[0, -50]))
        ),
        names=r"overlap in y must be in \[0, 100\) % \(got -50\.0\)",
    ),
    "plate-rotation-1e12": BadInput(
        sequence=sequence_with(("sequence.stage_positions.rotation", 1e12)),
        names=r"sequence\.stage_positions\.rotation: must be in \[-360, 360\] degrees",
    ),
    "plate-calibration-nan": BadInput(
        sequence=sequence_with(("sequence.stage_positions.a1_center_xy", [math.nan, 11240])),
        names=r"sequence\.stage_positions\.a1_center_xy\[0\]: must be a finite number",
    ),
    "position-x-infinite": BadInput(
        sequence=positions_sequence(stage_positions=[{"x": math.inf, "y": 1000.0}]),
        names=r"sequence\.stage_positions\[0\]\.x: must be a finite number",
    ),
    "position-z-nan": BadInput(
        sequence=positions_sequence(stage_positions=[{"x": 1e3, "y": 1e3, "z": math.nan}]),
        names=r"sequence\.stage_positions\[0\]\.z: must be a finite number",
    ),
    "four-thousand-positions-and-an-unknown-channel": BadInput(
        sequence=positions_sequence(
            stage_positions=[{"x": 2e4 + i, "y": 2e4} for i in range(4_000)],
            channels=[{"config": "FITC"}],
        ),
        names=r"sequence\.channels\[0\]\.config: unknown channel 'FITC'; the microscope's "
        r"channels are \['BF', 'Cy3', 'Cy5', 'DAPI', 'GFP'\]",
    ),
    "thirty-thousand-positions": BadInput(
        sequence="p: &p {x: 20000, y: 20000}\nsequence:\n  channels: [{config: DAPI}]\n"
        f"  stage_positions: [{','.join(['*p'] * 30_000)}]\n",
        names=r"sequence\.stage_positions: the sequence asks for 30,000 positions; the most "
        r"allowed is 20,000 fields of view",
    ),
    "position-grid-of-40000": BadInput(
        sequence=positions_sequence(grid_plan={"rows": 200, "columns": 200}),
        names=r"sequence\.grid_plan: a 200 x 200 grid is 40,000 fields of view",
    ),
    "position-with-its-own-sequence": BadInput(
        sequence=positions_sequence(
            stage_positions=[
                {"x": 2e4, "y": 2e4, "sequence": {"grid_plan": {"rows": 2, "columns": 2}}}
            ]
        ),
        names=r"sequence\.stage_positions\[0\]\.sequence: a sequence per position is not "
        r"supported",
    ),
    "useq-autofocus-plan": BadInput(
        sequence=positions_sequence(autofocus_plan={"autofocus_motor_offset": 10.0, "axes": ["p"]}),
        names=r"sequence\.autofocus_plan: useq autofocus plans are not run by hcs; .*"
        r"autofocus section",
    ),
    "useq-keep-shutter-open": BadInput(
        sequence=positions_sequence(keep_shutter_open_across=["z"]),
        names=r"sequence\.keep_shutter_open_across: not supported",
    ),
    "position-off-the-stage": BadInput(
        sequence=positions_sequence(stage_positions=[{"x": 1e300, "y": 1e3}]),
        names=r"sequence\.stage_positions: field of view .* outside the stage's soft limits "
        r"\[0\.0, 120000\.0\] um",
    ),
    "ten-million-images": BadInput(
        sequence=positions_sequence(
            grid_plan={"rows": 100, "columns": 100},
            time_plan={"interval": 0, "loops": 1000},
            channels=[{"config": "DAPI"}, {"config": "GFP"}],
        ),
        names=r"sequence: the sequence asks for 20,000,000 images \(10,000 fields of view x "
        r"1,000 time points x 1 z planes x 2 channels\); the most allowed is 10,000,000",
    ),
    # --- channels and binning in the sequence --------------------------------------------
    "sequence-exposure-infinite": BadInput(
        sequence=sequence_with(("sequence.channels.0.exposure", math.inf)),
        names=r"sequence\.channels\[0\]\.exposure: must be a finite number",
    ),
    "sequence-exposure-1e300": BadInput(
        sequence=sequence_with(("sequence.channels.0.exposure", 1e300)),
        names=r"sequence\.channels\[0\]\.exposure: 1e\+300 ms is outside the camera's range "
        r"\[0\.1, 10000\.0\] ms",
    ),
    "sequence-exposure-negative": BadInput(
        sequence=sequence_with(("sequence.channels.0.exposure", -5)),
        names=r"sequence.*channels.*exposure.*greater than 0",
    ),
    "sequence-channel-z-offset-nan": BadInput(
        sequence=sequence_with(("sequence.channels.1.z_offset", math.nan)),
        names=r"sequence\.channels\[1\]\.z_offset: must be a finite number",
    ),
    "binning-a-billion": BadInput(
        sequence=sequence_with(("binning", 10**9)),
        names=r"binning: .*allowed: \[1, 8\]",
    ),
    "binning-nan": BadInput(
        sequence=sequence_with(("binning", math.nan)),
        names=r"binning: .*allowed: \[1, 8\]",
    ),
    # --- autofocus ------------------------------------------------------------------------
    "autofocus-unknown-channel": BadInput(
        sequence=sequence_with(
            ("autofocus", {"method": "contrast", "contrast": {"channel": "FITC"}})
        ),
        names=r"autofocus\.contrast\.channel: unknown channel 'FITC'; the microscope's "
        r"channels are \['BF', 'Cy3', 'Cy5', 'DAPI', 'GFP'\]",
    ),
    "laser-autofocus-without-a-sensor": BadInput(
        config=config_with(("laser_autofocus", None)),
        sequence=sequence_with(("autofocus", {"method": "laser"})),
        names=r"autofocus\.method: this microscope has no laser autofocus sensor",
    ),
    "autofocus-coarse-step-1e-9": BadInput(
        sequence=sequence_with(
            ("autofocus", {"method": "contrast", "contrast": {"coarse_step_um": 1e-9}})
        ),
        names=r"autofocus\.contrast\.coarse_step_um: .*planes over the sweep; the most "
        r"allowed is 1,001",
    ),
    "autofocus-focus-map-search-step-1e-9": BadInput(
        sequence=sequence_with(
            ("autofocus", {"method": "focus_map", "focus_map": {"search_step_um": 1e-9}})
        ),
        names=r"autofocus\.focus_map\.search_step_um: .*the most allowed is 1,001",
    ),
    "autofocus-exposure-infinite": BadInput(
        sequence=sequence_with(
            ("autofocus", {"method": "contrast", "contrast": {"exposure_ms": math.inf}})
        ),
        names=r"autofocus\.contrast\.exposure_ms: .*finite.*allowed: \(0, 3\.6e\+06\]",
    ),
    "autofocus-overshoot-1e12": BadInput(
        sequence=sequence_with(
            ("autofocus", {"method": "contrast", "contrast": {"overshoot_um": 1e12}})
        ),
        names=r"autofocus\.contrast\.overshoot_um: .*allowed: \[0, 1000\]",
    ),
}

#: Cases also run as an ``hcs acquire`` process (without --dry-run unless marked).
CLI_CASES = [
    "config-duplicate-camera-block",
    "config-latin-1-encoded",
    "seed-minus-one",
    "nan-high-limit-blamed-on-itself",
    "binning-allowed-zero-and-negative",
    "stage-velocity-1e-9",
    "filter-wheel-move-of-1e9-s",
    "z-step-zero",
    "z-range-negative",
    "z-step-1e-9",
    "time-loops-1e9",
    "time-1-us-over-1e5-s",
    "grid-of-a-million-fields",
    "autofocus-unknown-channel",
    "sequence-billion-laughs",
    "config-nested-too-deep",
]


@dataclass(frozen=True)
class Refusal:
    """How an input was refused: the message, the time taken and the memory peak."""

    message: str
    seconds: float
    peak_bytes: int


def _write(directory: Path, name: str, content: Text | None, default: Path) -> Path:
    if content is None:
        return default
    path = directory / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def _files(case: BadInput, directory: Path) -> tuple[Path, Path]:
    config = _write(directory, "microscope.yaml", case.config, DEFAULT_CONFIG)
    sequence = _write(directory, "sequence.yaml", case.sequence, DEMO_SPEC)
    return config, sequence


def refuse(config: Path, sequence: Path, data_dir: Path) -> Refusal:
    """Run the CLI's check once timed and once under tracemalloc; it must refuse both times."""
    start = time.perf_counter()
    try:
        check_acquisition(sequence, config, data_dir)
    except (UserFileError, AcquisitionError) as exc:
        seconds = time.perf_counter() - start
        message = str(exc)
    else:
        pytest.fail(f"accepted: {sequence.name} with {config.name}")
    tracemalloc.start()
    try:
        with pytest.raises((UserFileError, AcquisitionError)):
            check_acquisition(sequence, config, data_dir)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return Refusal(message=message, seconds=seconds, peak_bytes=peak)


def _assert_clear(case: BadInput, message: str) -> None:
    assert re.search(case.names, message), f"{case.names!r} not in:\n{message}"
    if case.not_names is not None:
        assert not re.search(case.not_names, message), message


def test_case_table_holds_at_least_sixty_bad_inputs() -> None:
    assert len(BAD) >= 60
    assert set(CLI_CASES) <= set(BAD)


@pytest.mark.parametrize("case", list(BAD.values()), ids=list(BAD))
def test_check_acquisition_refuses_by_name_at_once_when_input_is_bad(
    case: BadInput, tmp_path: Path
) -> None:
    config, sequence = _files(case, tmp_path)
    data_dir = tmp_path / "data"
    refusal = refuse(config, sequence, data_dir)
    _assert_clear(case, refusal.message)
    assert "Traceback" not in refusal.message
    assert refusal.seconds < MAX_SECONDS, f"refused in {refusal.seconds:.2f} s"
    assert refusal.peak_bytes < MAX_BYTES, f"peak {refusal.peak_bytes / 2**20:.0f} MiB"
    assert not data_dir.exists(), "the check created the data directory"


def test_check_acquisition_accepts_the_shipped_profile_when_nothing_is_wrong(
    tmp_path: Path,
) -> None:
    checked = check_acquisition(DEMO_SPEC, DEFAULT_CONFIG, tmp_path / "data")
    assert checked.table.images == 108
    assert not (tmp_path / "data").exists()


# --- property-based: bad numbers anywhere in the shipped configuration ----------------


def _numeric_paths(node: Any, path: tuple[str | int, ...] = ()) -> list[tuple[str | int, ...]]:
    if isinstance(node, bool):
        return []
    if isinstance(node, int | float):
        return [path]
    if isinstance(node, dict):
        return [p for k, v in node.items() for p in _numeric_paths(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _numeric_paths(v, (*path, i))]
    return []


def _field_path(path: tuple[str | int, ...]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


NUMERIC_PATHS = _numeric_paths(CONFIG)
#: Numbers that may be negative (positions, offsets, tilts, a signed spot shift).
SIGNED = re.compile(
    r"(limit_um|home_um|z_offset_um|surface_z_um|tilt_._um_per_mm|curvature_um_per_mm2|"
    r"spot_shift_px_per_um)$"
)
POSITIVE_PATHS = [p for p in NUMERIC_PATHS if not SIGNED.search(str(p[-1]))]

NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
HUGE = (
    st.floats(min_value=1e12, max_value=1e300)
    | st.floats(min_value=-1e300, max_value=-1e12)
    | st.integers(min_value=10**12, max_value=10**40)
    | st.integers(min_value=-(10**40), max_value=-(10**12))
)
NEGATIVE = st.floats(min_value=-1e6, max_value=-1e-3) | st.integers(
    min_value=-(10**6), max_value=-1
)


def _refused_naming(path: tuple[str | int, ...], value: float) -> None:
    data = copy.deepcopy(CONFIG)
    node: Any = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    with tempfile.TemporaryDirectory() as directory:
        config = Path(directory) / "microscope.yaml"
        config.write_text(yaml.safe_dump(data), encoding="utf-8")
        data_dir = Path(directory) / "data"
        start = time.perf_counter()
        with pytest.raises(UserFileError) as refused:
            check_acquisition(DEMO_SPEC, config, data_dir)
        seconds = time.perf_counter() - start
        assert not data_dir.exists()
    message = str(refused.value)
    assert f"{_field_path(path)}:" in message, message
    assert "Traceback" not in message
    assert seconds < MAX_SECONDS


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(NUMERIC_PATHS), value=NON_FINITE | HUGE)
def test_load_config_refuses_by_name_when_any_number_is_not_finite_or_huge(
    path: tuple[str | int, ...], value: float
) -> None:
    _refused_naming(path, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(POSITIVE_PATHS), value=NEGATIVE)
def test_load_config_refuses_by_name_when_a_physical_quantity_is_negative(
    path: tuple[str | int, ...], value: float
) -> None:
    _refused_naming(path, value)


SEQUENCE_PATHS: dict[str, tuple[str, Any]] = {
    "binning": ("binning", "binning"),
    "z range": ("sequence.z_plan.range", r"z_plan"),
    "z step": ("sequence.z_plan.step", r"z_plan"),
    "grid rows": ("sequence.stage_positions.well_points_plan.rows", r"well_points_plan"),
    "grid columns": ("sequence.stage_positions.well_points_plan.columns", r"well_points_plan"),
    "grid overlap": ("sequence.stage_positions.well_points_plan.overlap", r"well_points_plan"),
    "exposure": ("sequence.channels.2.exposure", r"channels"),
    "plate x": ("sequence.stage_positions.a1_center_xy.0", r"stage_positions"),
    "plate rotation": ("sequence.stage_positions.rotation", r"stage_positions"),
}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(key=st.sampled_from(sorted(SEQUENCE_PATHS)), value=NON_FINITE | HUGE)
def test_load_spec_refuses_by_name_when_a_sequence_number_is_not_finite_or_huge(
    key: str, value: float
) -> None:
    path, names = SEQUENCE_PATHS[key]
    with tempfile.TemporaryDirectory() as directory:
        sequence = Path(directory) / "sequence.yaml"
        sequence.write_text(sequence_with((path, value)), encoding="utf-8")
        data_dir = Path(directory) / "data"
        start = time.perf_counter()
        with pytest.raises((UserFileError, AcquisitionError)) as refused:
            check_acquisition(sequence, DEFAULT_CONFIG, data_dir)
        seconds = time.perf_counter() - start
        assert not data_dir.exists()
    assert re.search(names, str(refused.value)), str(refused.value)
    assert seconds < MAX_SECONDS


# --- the command line, as a process -------------------------------------------------------


#: ``hcs`` as a process that writes its own peak resident memory (VmHWM, kB) to a file on
#: the way out. (``ru_maxrss`` of a child would count the pytest process it forked from.)
HCS_REPORTING_MEMORY = """
import os, sys
from hcs_orchestrator.cli import main
try:
    sys.exit(main(sys.argv[1:]))
finally:
    with open("/proc/self/status") as status:
        peak = next(line for line in status if line.startswith("VmHWM:"))
    with open(os.environ["HCS_TEST_PEAK_FILE"], "w") as out:
        out.write(peak.split()[1])
"""


def run_hcs(args: list[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run ``hcs`` in a process: the completed process, and its peak resident memory (bytes)."""
    peak_file = cwd / "peak-kb.txt"
    done = subprocess.run(
        [sys.executable, "-c", HCS_REPORTING_MEMORY, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ | {"HCS_TEST_PEAK_FILE": str(peak_file)},
        timeout=120,
        check=False,
    )
    return done, int(peak_file.read_text()) * 1024


#: Every CLI case as a run; the first four as a dry run too (the same check).
CLI_PARAMS = [pytest.param(name, False, id=f"{name}-run") for name in CLI_CASES] + [
    pytest.param(name, True, id=f"{name}-dry-run") for name in CLI_CASES[:4]
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "dry_run"), CLI_PARAMS)
def test_hcs_acquire_exits_non_zero_without_traceback_and_creates_nothing_when_input_is_bad(
    name: str, dry_run: bool, tmp_path: Path
) -> None:
    case = BAD[name]
    config, sequence = _files(case, tmp_path)
    data_dir = tmp_path / "data"
    args = ["acquire", str(sequence), "--config", str(config), "--data-dir", str(data_dir)]
    done, peak = run_hcs([*args, "--dry-run"] if dry_run else args, tmp_path)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    _assert_clear(case, done.stderr)
    assert not data_dir.exists() or not any(data_dir.iterdir()), "the data directory was used"
    assert peak < MAX_BYTES, f"hcs used {peak / 2**20:.0f} MiB"
