"""Twenty bad inputs a new user may type, and the exact message each gives.

Each row is what a user writes (a sequence or configuration file with one mistake, a
misspelt flag, a data directory that is not there) and the whole of what ``hcs``
prints on stderr: one line naming the file, the field (the misspelt key itself) and
what is allowed, or for a usage mistake one line plus where help is. No row prints a
traceback, none creates a data directory, and every one exits non-zero. The same
table is in ``docs/reference/error-messages.md``; a test checks the two agree.

Commands run in this process (``hcs_orchestrator.cli.main``), which is what the
``hcs`` script calls; ``test_hcs_prints_no_library_notices_on_stderr`` runs one as a
process to check that nothing else reaches stderr.
"""

from __future__ import annotations

import copy
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from hcs_orchestrator.cli import main
from hcs_orchestrator.paths import DEFAULT_CONFIG, DEMO_SPEC

ROOT = Path(__file__).resolve().parents[2]
DOC_PAGE = ROOT / "docs" / "reference" / "error-messages.md"

SPEC: dict[str, Any] = yaml.safe_load(DEMO_SPEC.read_text(encoding="utf-8"))
CONFIG: dict[str, Any] = yaml.safe_load(DEFAULT_CONFIG.read_text(encoding="utf-8"))


def _edit(base: dict[str, Any], path: str, value: Any, *, rename: str | None = None) -> str:
    """``base`` as YAML with the dotted ``path`` set to ``value`` (or its key renamed)."""
    data = copy.deepcopy(base)
    *parents, last = path.split(".")
    node: Any = data
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    key: Any = int(last) if isinstance(node, list) else last
    if rename is not None:
        node[rename] = node.pop(key)
    else:
        node[key] = value
    return yaml.safe_dump(data, sort_keys=False)


def spec_with(path: str, value: Any = None, *, rename: str | None = None) -> str:
    """The demo spec with one change."""
    return _edit(SPEC, path, value, rename=rename)


def config_with(path: str, value: Any = None, *, rename: str | None = None) -> str:
    """The shipped microscope configuration with one change."""
    return _edit(CONFIG, path, value, rename=rename)


@dataclass(frozen=True)
class Row:
    """One bad input.

    Attributes:
        what: the mistake, as the docs' table names it.
        argv: the command's arguments; ``{spec}``, ``{config}``, ``{data}`` and ``{out}``
            stand for files in the test's directory.
        message: all of stderr, with ``{tmp}`` for the test's directory.
        spec: the sequence file's content (the demo spec by default).
        config: the configuration file's content (the shipped one by default).
        data_dir_exists: whether ``{data}`` exists before the command.
    """

    what: str
    argv: list[str]
    message: str
    spec: str = field(default_factory=lambda: yaml.safe_dump(SPEC, sort_keys=False))
    config: str = field(default_factory=lambda: yaml.safe_dump(CONFIG, sort_keys=False))
    data_dir_exists: bool = False


ACQUIRE = ["acquire", "{spec}", "--config", "{config}", "--data-dir", "{data}", "--dry-run"]
Z_FORMS = (
    "ZTopBottom (top, bottom, step) or ZAboveBelow (above, below, step) or "
    "ZRangeAround (range, step) or ZAbsolutePositions (absolute) or "
    "ZRelativePositions (relative)"
)

ROWS: dict[str, Row] = {
    "z-plan-misspelt-key": Row(
        "`stepp:` for `step:` in a `z_plan`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.z_plan.stepp: unknown key (did you mean 'step'?); "
        "allowed keys here: go_up, range, step",
        spec=spec_with("sequence.z_plan.step", rename="stepp"),
    ),
    "channel-misspelt-key": Row(
        "`exposur:` in a sequence channel",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.channels[2].exposur: unknown key (did you mean "
        "'exposure'?); allowed keys here: acquire_every, camera, config, do_stack, exposure, "
        "group, z_offset",
        spec=spec_with("sequence.channels.2.exposure", rename="exposur"),
    ),
    "well-grid-misspelt-key": Row(
        "`colums:` in a plate's `well_points_plan`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.stage_positions.well_points_plan.colums: unknown key "
        "(did you mean 'columns'?); allowed keys here: columns, fov_height, fov_width, mode, "
        "overlap, relative_to, rows",
        spec=spec_with("sequence.stage_positions.well_points_plan.columns", rename="colums"),
    ),
    "spec-misspelt-top-level-key": Row(
        "`binnig:` at the top of a spec",
        ACQUIRE,
        "error: {tmp}/spec.yaml: binnig: unknown key (did you mean 'binning'?); allowed keys "
        "here: autofocus, binning, clip_to_well, experiment_id, fov_order, hardware_sequencing, "
        "late_time_points, late_tolerance_s, plate_format, sequence, well_order, z_reference",
        spec=spec_with("binning", rename="binnig"),
    ),
    "autofocus-misspelt-key": Row(
        "`methd:` in `autofocus`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: autofocus.methd: unknown key (did you mean 'method'?); "
        "allowed keys here: contrast, every, every_n, focus_map, laser, "
        "max_consecutive_warnings, method",
        spec=spec_with("autofocus", {"methd": "none"}),
    ),
    "time-plan-misspelt-key": Row(
        "`loop:` for `loops:` in a `time_plan`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.time_plan.loop: unknown key (did you mean 'loops'?); "
        "allowed keys here: interval, loops, prioritize_duration",
        spec=spec_with("sequence.time_plan", {"interval": 1, "loop": 3}),
    ),
    "config-misspelt-key": Row(
        "`exposur_ms:` in a configuration channel",
        ACQUIRE,
        "error: {tmp}/microscope.yaml: channels[1].exposur_ms: unknown key (did you mean "
        "'exposure_ms'?); allowed keys here: display_color, emission_wavelength_nm, "
        "exposure_ms, filter_position, intensity_percent, name, source, z_offset_um",
        config=config_with("channels.1.exposure_ms", rename="exposur_ms"),
    ),
    "config-misspelt-deep-key": Row(
        "`low_limt_um:` in the stage's x axis",
        ACQUIRE,
        "error: {tmp}/microscope.yaml: stage.x.low_limt_um: unknown key (did you mean "
        "'low_limit_um'?); allowed keys here: high_limit_um, home_um, low_limit_um, "
        "max_acceleration_um_s2, max_velocity_um_s",
        config=config_with("stage.x.low_limit_um", rename="low_limt_um"),
    ),
    "z-range-not-a-number": Row(
        "`range: four` in a `z_plan`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.z_plan.range: Input should be a valid number, "
        "unable to parse string as a number (got 'four')",
        spec=spec_with("sequence.z_plan.range", "four"),
    ),
    "z-plan-not-a-mapping": Row(
        "`z_plan: 5`",
        ACQUIRE,
        f"error: {{tmp}}/spec.yaml: sequence.z_plan: not one of the forms allowed here "
        f"(got 5); forms: {Z_FORMS}",
        spec=spec_with("sequence.z_plan", 5),
    ),
    "binning-not-a-number": Row(
        "`binning: two`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: binning: Input should be a valid integer, unable to parse "
        "string as an integer (got 'two'); allowed: [1, 8]",
        spec=spec_with("binning", "two"),
    ),
    "binning-out-of-range": Row(
        "`binning: 99`",
        ACQUIRE,
        "error: {tmp}/spec.yaml: binning: Input should be less than or equal to 8 (got 99); "
        "allowed: [1, 8]",
        spec=spec_with("binning", 99),
    ),
    "well-off-the-plate": Row(
        "a selected well in row 20 of a 96-well plate",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.stage_positions.selected_wells: Invalid well "
        "selection ([20], [1]) for plate of shape (8, 12): index 20 is out of bounds for "
        "axis 0 with size 8",
        spec=spec_with("sequence.stage_positions.selected_wells", [[20], [1]]),
    ),
    "channel-not-configured": Row(
        "a channel the microscope does not have (`DAPPI`)",
        ACQUIRE,
        "error: {tmp}/spec.yaml: sequence.channels[0].config: unknown channel 'DAPPI'; the "
        "microscope's channels are ['BF', 'Cy3', 'Cy5', 'DAPI', 'GFP']",
        spec=spec_with("sequence.channels.0", {"config": "DAPPI"}),
    ),
    "sequence-file-missing": Row(
        "a sequence file that is not there",
        ["acquire", "{tmp}/absent.yaml", "--dry-run"],
        "error: {tmp}/absent.yaml: cannot read: No such file or directory",
    ),
    "sequence-not-yaml": Row(
        "a sequence file that is not YAML",
        ACQUIRE,
        "error: {tmp}/spec.yaml: not valid YAML: did not find expected ',' or '}}' at line 2, "
        "column 1 (while parsing a flow mapping at line 1, column 12)",
        spec="channels: [{config: DAPI\n",
    ),
    "misspelt-flag": Row(
        "`--dryrun` for `--dry-run`",
        ["acquire", "{spec}", "--dryrun"],
        "hcs acquire: error: No such option: --dryrun (Possible options: --dry-run)\n"
        "(`hcs acquire --help` lists the options)",
    ),
    "bad-export-format": Row(
        "`--format tiff` for `hcs export`",
        ["export", "abc", "--format", "tiff", "--out", "{out}", "--data-dir", "{data}"],
        "hcs export: error: Invalid value for '--format': 'tiff' is not one of "
        "'ome-zarr', 'ome-tiff'.\n(`hcs export --help` lists the options)",
        data_dir_exists=True,
    ),
    "runs-missing-data-dir": Row(
        "`hcs runs` with a data directory that does not exist",
        ["runs", "--data-dir", "{data}"],
        "hcs runs: error: Invalid value for '--data-dir': {tmp}/data does not exist; give the "
        "data directory `hcs acquire` or `hcs demo` wrote to\n"
        "(`hcs runs --help` lists the options)",
    ),
    "export-missing-data-dir": Row(
        "`hcs export` with a data directory that does not exist",
        ["export", "abc", "--out", "{out}", "--data-dir", "{data}"],
        "hcs export: error: Invalid value for '--data-dir': {tmp}/data does not exist; give "
        "the data directory `hcs acquire` or `hcs demo` wrote to\n"
        "(`hcs export --help` lists the options)",
    ),
}


def _fill(text: str, tmp: Path) -> str:
    return text.format(
        spec=tmp / "spec.yaml",
        config=tmp / "microscope.yaml",
        data=tmp / "data",
        out=tmp / "out.zarr",
        tmp=tmp,
    )


def run_row(row: Row, tmp: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Write the row's files in ``tmp``, run its command; its exit code and stderr."""
    (tmp / "spec.yaml").write_text(row.spec, encoding="utf-8")
    (tmp / "microscope.yaml").write_text(row.config, encoding="utf-8")
    if row.data_dir_exists:
        (tmp / "data").mkdir()
    capsys.readouterr()
    code = main([_fill(a, tmp) for a in row.argv])
    return code, capsys.readouterr().err.strip()


def test_bad_inputs_table_has_twenty_rows() -> None:
    assert len(ROWS) == 20


@pytest.mark.parametrize("name", list(ROWS))
def test_hcs_gives_the_exact_message_and_no_traceback_when_input_is_bad(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    row = ROWS[name]
    code, err = run_row(row, tmp_path, capsys)
    assert code == 2
    assert err == _fill(row.message, tmp_path)
    assert "Traceback" not in err
    assert len(err.splitlines()) <= 2
    assert (tmp_path / "data").exists() == row.data_dir_exists  # nothing created


def test_error_messages_page_lists_every_row() -> None:
    page = DOC_PAGE.read_text(encoding="utf-8")
    for row in ROWS.values():
        assert row.what in page, row.what
        shown = _fill(row.message, Path("/home/me")).replace("\n", "<br>")
        assert shown in page, shown


@pytest.mark.slow
def test_hcs_prints_no_library_notices_on_stderr(tmp_path: Path) -> None:
    """``hcs runs`` on an empty data directory: stderr is empty (no Tiled or Starlette notice)."""
    (tmp_path / "data").mkdir()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "hcs_orchestrator.cli",
            "runs",
            "--data-dir",
            str(tmp_path / "data"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert re.match(r"start \(UTC\)\s+uid", done.stdout)
