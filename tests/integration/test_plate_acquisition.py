"""The main job, end to end: a plate acquisition on the simulated microscope.

One session per module (``MicroscopeRunEngine`` + simulated microscope + an embedded
Tiled catalog in a temporary directory), with the same wiring as ``hcs acquire``.
Every expectation is computed here from the spec and the configuration, never read
back from the code under test: the table of images (wells x fields x channels x z in
the sequence's axis order), the stage positions (plate calibration, grid, overlap,
useq's y axis pointing up), and the scene each image shows (an independent noise-free
render at the recorded position and channel). After every test the microscope must be
in its safe state: camera idle, frame writer closed, light off, ownership released.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import bluesky
import numpy as np
import pytest
import tifffile
from bluesky.run_engine import RunEngineInterrupted
from bluesky.utils import Msg
from plate_harness import (
    SessionHarness,
    Watcher,
    correlation,
    frame_file,
    open_test_session,
)

from frame_rows import frame_rows, images_announced
from hcs_devices.config import MicroscopeConfig, UserFileError
from hcs_devices.ownership import BusyError
from hcs_devices.sim.render import Light, View
from hcs_orchestrator.cli import main as hcs_main
from hcs_orchestrator.progress import ProgressUpdate, RunProgress
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import AcquisitionSpec, spec_from_data
from hcs_plans.table import AcquisitionError
from hcs_storage.query import frame_table, well_fields
from useq_sequences import SUPPORTED, useq_images

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
DEMO_SPEC = REPO / "src" / "hcs_orchestrator" / "data" / "sequences" / "demo-96.yaml"

#: Plate calibration used throughout: the stage position of A1's centre (um).
A1_XY_UM = (14380.0, 11240.0)
#: The 96-well plate's well pitch (um), from the SBS standard, not from the code.
PITCH_UM = 9000.0
#: Columns of the frame table and their kinds (f: float, compared with a tolerance).
COLUMNS = {
    "experiment_id": "s", "well": "s", "fov": "i", "x_um": "f", "y_um": "f", "z_um": "f",
    "channel": "s", "z_index": "i", "time_index": "i", "exposure_ms": "f",
}  # fmt: skip
Row = dict[str, Any]

# --- the sequences -----------------------------------------------------------------


def plate_sequence(
    *,
    wells: tuple[list[int], list[int]] = ([1], [1]),
    rows: int = 1,
    columns: int = 1,
    overlap: float = 25.0,
    channels: tuple[tuple[str, float], ...] = (("DAPI", 2.0),),
    z_range: float | None = None,
    z_step: float = 1.0,
    axis_order: str = "tpgcz",
    time_loops: int | None = None,
    a1_xy: tuple[float, float] = A1_XY_UM,
) -> dict[str, Any]:
    """A useq MDASequence as plain data (as a user would write it in YAML)."""
    seq: dict[str, Any] = {
        "axis_order": axis_order,
        "stage_positions": {
            "plate": 96,
            "a1_center_xy": list(a1_xy),
            "selected_wells": [list(wells[0]), list(wells[1])],
            "well_points_plan": {"rows": rows, "columns": columns, "overlap": overlap},
        },
        "channels": [{"config": name, "exposure": exposure} for name, exposure in channels],
    }
    if z_range is not None:
        seq["z_plan"] = {"range": z_range, "step": z_step}
    if time_loops is not None:
        seq["time_plan"] = {"interval": 0, "loops": time_loops}
    return seq


#: Two wells (B2, C3), a 2 x 2 grid with 25 % overlap, two channels, two planes,
#: channel outer and z inner: 2 x 4 x 2 x 2 = 32 images.
MAIN_SEQUENCE = plate_sequence(
    wells=([2, 1], [2, 1]),
    rows=2,
    columns=2,
    channels=(("DAPI", 2.0), ("GFP", 3.0)),
    z_range=1.0,
)
MAIN_IMAGES = 32
#: One field, z outer and channel inner, two time points: 2 x 2 x 2 = 8 images.
Z_OUTER_SEQUENCE = plate_sequence(
    channels=(("DAPI", 1.0), ("Cy3", 1.5)), z_range=1.0, axis_order="tpgzc", time_loops=2
)


def make_spec(sequence: dict[str, Any], **spec: Any) -> AcquisitionSpec:
    return spec_from_data({"sequence": sequence, **spec})


# --- what the spec says, computed independently -------------------------------------


def expected_table(
    config: MicroscopeConfig, sequence: dict[str, Any], *, base_z_um: float, experiment_id: str
) -> list[Row]:
    """Every image the sequence asks for, in acquisition order, from first principles.

    Wells row by row, every other row right to left; fields of view on a grid centred
    on the well, stepped by (1 - overlap) of the field of view, serpentine; useq's grid
    y points up, so grid row 0 is the top row (smallest stage y).
    """
    positions = sequence["stage_positions"]
    a1x, a1y = positions["a1_center_xy"]
    grid = positions["well_points_plan"]
    pixel = config.camera.pixel_size_um / (
        config.active_objective.magnification
        * config.active_objective.system_tube_lens_mm
        / config.active_objective.tube_lens_mm
    )
    step_x = config.camera.sensor_width_px * pixel * (1 - grid["overlap"] / 100)
    step_y = config.camera.sensor_height_px * pixel * (1 - grid["overlap"] / 100)
    rows, cols = positions["selected_wells"]
    by_row: dict[int, list[int]] = {}
    for r, c in sorted(set(zip(rows, cols, strict=True))):
        by_row.setdefault(r, []).append(c)
    wells = [
        (r, c)
        for i, r in enumerate(sorted(by_row))
        for c in (by_row[r] if i % 2 == 0 else reversed(by_row[r]))
    ]
    offsets = [
        ((gc - (grid["columns"] - 1) / 2) * step_x, (gr - (grid["rows"] - 1) / 2) * step_y)
        for gr in range(grid["rows"])
        for gc in (range(grid["columns"]) if gr % 2 == 0 else reversed(range(grid["columns"])))
    ]
    z_plan = sequence.get("z_plan")
    if z_plan is None:
        planes = [0.0]
    else:
        n = round(z_plan["range"] / z_plan["step"]) + 1
        planes = [-z_plan["range"] / 2 + i * z_plan["step"] for i in range(n)]
    channels = [
        (ch["config"], float(ch["exposure"]), config.channel(ch["config"]).z_offset_um)
        for ch in sequence["channels"]
    ]
    order = sequence["axis_order"]
    if order.index("z") < order.index("c"):
        stack = [(zi, dz, ch) for zi, dz in enumerate(planes) for ch in channels]
    else:
        stack = [(zi, dz, ch) for ch in channels for zi, dz in enumerate(planes)]
    table: list[Row] = []
    for t in range((sequence.get("time_plan") or {}).get("loops", 1)):
        for r, c in wells:
            well = f"{'ABCDEFGH'[r]}{c + 1}"
            for fov, (dx, dy) in enumerate(offsets):
                for zi, dz, (name, exposure, z_offset) in stack:
                    table.append({
                        "experiment_id": experiment_id, "well": well, "fov": fov,
                        "x_um": a1x + c * PITCH_UM + dx, "y_um": a1y + r * PITCH_UM + dy,
                        "z_um": base_z_um + dz + z_offset, "channel": name, "z_index": zi,
                        "time_index": t, "exposure_ms": exposure,
                    })  # fmt: skip
    return table


def rows_of(table: dict[str, np.ndarray]) -> list[Row]:
    """A catalog frame table as a list of rows with plain Python values."""
    n = len(table["well"])
    return [
        {
            key: (str(table[key][i]) if kind == "s" else int(table[key][i]))
            if kind != "f"
            else float(table[key][i])
            for key, kind in COLUMNS.items()
        }
        for i in range(n)
    ]


def assert_same_rows(actual: list[Row], expected: list[Row], tol_um: float = 1e-3) -> None:
    assert len(actual) == len(expected), f"{len(actual)} images recorded, {len(expected)} asked for"
    for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
        for key, kind in COLUMNS.items():
            if kind == "f":
                assert a[key] == pytest.approx(e[key], abs=tol_um), f"image {i} {key}: {a} != {e}"
            else:
                assert a[key] == e[key], f"image {i} {key}: {a} != {e}"


def scene(config: MicroscopeConfig, harness: SessionHarness, row: Row, shape: tuple[int, int]):
    """The noise-free image of the specimen at a recorded position, channel and focus."""
    preset = config.channel(row["channel"])
    source = next(s for s in config.illumination.sources if s.name == preset.source)
    filt = next(f for f in config.filter_wheel.filters if f.position == preset.filter_position)
    objective = config.active_objective
    light = Light(
        wavelength_nm=source.wavelength_nm,
        dose_mw_s=source.power_mw * preset.intensity_percent / 100 * row["exposure_ms"] / 1000,
        filter_center_nm=filt.center_nm,
        filter_bandwidth_nm=filt.bandwidth_nm,
        numerical_aperture=objective.numerical_aperture,
        immersion_index=objective.immersion_index,
    )
    height, width = shape
    view = View(
        center_x_um=row["x_um"],
        center_y_um=row["y_um"],
        focus_z_um=row["z_um"],
        width_px=width,
        height_px=height,
        pixel_um=config.pixel_size_um(1),
    )
    source_obj: Any = harness.microscope.camera.source
    return source_obj.renderer.expected(view, light)


def overlap_ncc(a: np.ndarray, b: np.ndarray, dx_px: int, dy_px: int) -> float:
    """NCC of the region two images share when ``b`` lies (dx, dy) pixels from ``a``.

    A sample point at pixel (r, c) of ``a`` appears at (r - dy, c - dx) of ``b``.
    """
    h, w = a.shape
    ra, rb = (slice(dy_px, h), slice(0, h - dy_px)) if dy_px >= 0 else (
        slice(0, h + dy_px), slice(-dy_px, h))  # fmt: skip
    ca, cb = (slice(dx_px, w), slice(0, w - dx_px)) if dx_px >= 0 else (
        slice(0, w + dx_px), slice(-dx_px, w))  # fmt: skip
    return correlation(a[ra, ca], b[rb, cb])


# --- plans that end badly -------------------------------------------------------------


def raise_in_plan_after(
    plan: Generator[Msg, Any, Any], command: str, times: int
) -> Generator[Msg, Any, Any]:
    """``plan``, with an error thrown into it after its ``times``-th ``command`` message."""
    count = 0
    msg = next(plan)
    while True:
        try:
            reply = yield msg
        except GeneratorExit:
            plan.close()
            raise
        except Exception as exc:
            try:
                msg = plan.throw(exc)
            except StopIteration as stop:
                return stop.value
            continue
        try:
            if msg.command == command:
                count += 1
                if count == times:
                    msg = plan.throw(RuntimeError("injected error inside the plan"))
                    continue
            msg = plan.send(reply)
        except StopIteration as stop:
            return stop.value


# --- fixtures ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def harness(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(fast_profile_config, tmp_path_factory.mktemp("plate")) as h:
        yield h


@pytest.fixture(autouse=True)
def left_safe(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test that used the session leaves the microscope in its safe state."""
    yield
    if "harness" in request.fixturenames:
        h: SessionHarness = request.getfixturevalue("harness")
        assert h.safe_state_problems() == []


@pytest.fixture(scope="module")
def acquired(harness: SessionHarness) -> dict[str, str]:
    """The main sequence, acquired once in each mode: mode -> run uid."""
    uids = {}
    for mode, hardware in (("burst", True), ("software", False)):
        spec = make_spec(MAIN_SEQUENCE, experiment_id="e2e", hardware_sequencing=hardware)
        (uids[mode],) = harness.RE(acquire_plate(harness.microscope, spec))
    assert harness.session.flush(60.0)
    return uids


def images_of(harness: SessionHarness, uid: str) -> int:
    """Images of a run announced so far (its primary stream's StreamDatums)."""
    return images_announced(harness.run_documents(uid))


def frame_set_files(harness: SessionHarness, uid: str) -> list[Path]:
    """Every frame file on disk in a run's frame set (none when it announced none)."""
    resources = [d for n, d in harness.run_documents(uid) if n == "stream_resource"]
    if not resources:
        return []
    return sorted(frame_file(resources[0], 0).parent.glob("*.tif"))


def current_run_uid(harness: SessionHarness) -> str | None:
    starts = [d["uid"] for n, d in harness.documents if n == "start"]
    return starts[-1] if starts else None


def images_after(harness: SessionHarness, n_starts: int, k: int) -> Callable[[], bool]:
    """A condition: a run newer than the first ``n_starts`` runs has announced ``k`` images."""

    def ready() -> bool:
        starts = [d["uid"] for n, d in harness.documents if n == "start"]
        return len(starts) > n_starts and images_of(harness, starts[-1]) >= k

    return ready


def start_count(harness: SessionHarness) -> int:
    return sum(1 for n, _ in harness.documents if n == "start")


def stop_doc(harness: SessionHarness, uid: str) -> dict[str, Any]:
    (stop,) = [d for n, d in harness.documents if n == "stop" and d["run_start"] == uid]
    return stop


# --- images and metadata --------------------------------------------------------------


@pytest.mark.parametrize("mode", ["burst", "software"])
def test_acquire_plate_records_every_image_the_sequence_asks_for_when_run(
    harness: SessionHarness,
    acquired: dict[str, str],
    fast_profile_config: MicroscopeConfig,
    mode: str,
) -> None:
    run = harness.session.catalog[acquired[mode]]
    expected = expected_table(
        fast_profile_config,
        MAIN_SEQUENCE,
        base_z_um=fast_profile_config.stage.z.start_um,
        experiment_id="e2e",
    )
    assert len(expected) == MAIN_IMAGES
    assert [r["well"] for r in expected[:: MAIN_IMAGES // 2]] == ["B2", "C3"]
    assert_same_rows(rows_of(frame_table(run)), expected)
    assert run["primary"]["camera"].shape == (MAIN_IMAGES, 1, 256, 256)
    assert run.metadata["stop"]["exit_status"] == "success"
    assert run.metadata["stop"]["num_events"]["primary"] == MAIN_IMAGES
    assert run.metadata["stop"]["num_events"]["frames"] == MAIN_IMAGES


@pytest.mark.parametrize("mode", ["burst", "software"])
def test_acquire_plate_images_equal_the_files_and_the_rendered_scene_when_read_back(
    harness: SessionHarness,
    acquired: dict[str, str],
    fast_profile_config: MicroscopeConfig,
    mode: str,
) -> None:
    uid = acquired[mode]
    run = harness.session.catalog[uid]
    images = np.asarray(run["primary"]["camera"].read())[:, 0]
    files = harness.image_files(uid)
    rows = rows_of(frame_table(run))
    assert len(files) == len(rows) == len(images) == MAIN_IMAGES
    assert len(set(files)) == MAIN_IMAGES, "two images point at the same frame file"
    for i, (image, path, row) in enumerate(zip(images, files, rows, strict=True)):
        on_disk = tifffile.imread(path)
        assert image.dtype == on_disk.dtype == np.uint16
        assert np.array_equal(image, on_disk), f"image {i} differs from {path}"
        expected = scene(fast_profile_config, harness, row, image.shape)
        assert correlation(image, expected) > 0.9, f"image {i} ({row}) does not show its scene"
    # The check discriminates: an image does not match the scene of another field of view.
    other = dict(rows[0], x_um=rows[0]["x_um"] + 500.0)
    assert correlation(images[0], scene(fast_profile_config, harness, other, images[0].shape)) < 0.5


def test_acquire_plate_orders_z_outside_channels_and_counts_time_when_the_axis_order_says_so(
    harness: SessionHarness, fast_profile_config: MicroscopeConfig
) -> None:
    spec = make_spec(Z_OUTER_SEQUENCE, experiment_id="order", hardware_sequencing=False)
    (uid,) = harness.RE(acquire_plate(harness.microscope, spec))
    harness.session.flush(60.0)
    expected = expected_table(
        fast_profile_config,
        Z_OUTER_SEQUENCE,
        base_z_um=fast_profile_config.stage.z.start_um,
        experiment_id="order",
    )
    assert [(r["time_index"], r["z_index"], r["channel"]) for r in expected][:4] == [
        (0, 0, "DAPI"), (0, 0, "Cy3"), (0, 1, "DAPI"), (0, 1, "Cy3"),
    ]  # fmt: skip
    assert_same_rows(rows_of(frame_table(harness.session.catalog[uid])), expected)


def test_acquire_plate_modes_record_the_same_table_when_burst_or_software_triggered(
    harness: SessionHarness, acquired: dict[str, str]
) -> None:
    burst = rows_of(frame_table(harness.session.catalog[acquired["burst"]]))
    software = rows_of(frame_table(harness.session.catalog[acquired["software"]]))
    assert_same_rows(burst, software, tol_um=1e-6)


def test_acquire_plate_start_document_can_rerun_the_acquisition_when_read_back(
    harness: SessionHarness, acquired: dict[str, str], fast_profile_config: MicroscopeConfig
) -> None:
    start = harness.session.catalog[acquired["burst"]].metadata["start"]
    assert start["plan_name"] == "acquire_plate"
    assert start["experiment_id"] == "e2e"
    assert start["num_images"] == MAIN_IMAGES
    assert start["wells"] == ["B2", "C3"]
    assert start["microscope"] == json.loads(fast_profile_config.model_dump_json())
    assert start["software_versions"]["bluesky"] == bluesky.__version__
    assert set(start["software_versions"]) >= {"hcs", "bluesky", "ophyd-async", "useq-schema"}
    assert start["pixel_size_um"] == pytest.approx(fast_profile_config.pixel_size_um(1))
    assert start["spec"]["hardware_sequencing"] is True

    recorded = spec_from_data(start["sequence"])
    assert recorded.sequence == make_spec(MAIN_SEQUENCE).sequence
    (uid,) = harness.RE(acquire_plate(harness.microscope, recorded))
    harness.session.flush(60.0)
    rerun = harness.session.catalog[uid]
    assert rerun.metadata["start"]["num_images"] == MAIN_IMAGES
    assert rerun["primary"]["camera"].shape[0] == MAIN_IMAGES


@pytest.mark.parametrize(("first", "second"), [(0, 1), (1, 2)], ids=["along-x", "along-y"])
def test_neighbouring_fields_line_up_the_same_cells_when_placed_by_recorded_position(
    harness: SessionHarness, acquired: dict[str, str], first: int, second: int
) -> None:
    run = harness.session.catalog[acquired["burst"]]
    pixel_um = run.metadata["start"]["pixel_size_um"]
    fields = {f.fov: f for f in well_fields(run, "B2", "DAPI", z_index=0)}
    a, b = fields[first], fields[second]
    predicted = (round((b.x_um - a.x_um) / pixel_um), round((b.y_um - a.y_um) / pixel_um))
    assert max(abs(predicted[0]), abs(predicted[1])) == 192  # 75 % of 256 px: 25 % overlap
    image_a = a.image.astype(np.float64)
    image_b = b.image.astype(np.float64)
    scores = {
        (dx, dy): overlap_ncc(image_a, image_b, dx, dy)
        for dx in range(predicted[0] - 6, predicted[0] + 7)
        for dy in range(predicted[1] - 6, predicted[1] + 7)
    }
    best = max(scores, key=scores.__getitem__)
    assert abs(best[0] - predicted[0]) <= 1 and abs(best[1] - predicted[1]) <= 1, (best, predicted)
    assert scores[predicted] > 0.8
    # Placed at the wrong side (no y-flip, or x mirrored), the overlap does not match.
    assert overlap_ncc(image_a, image_b, -predicted[0], -predicted[1]) < 0.5


# --- ownership ------------------------------------------------------------------------


LONG_SEQUENCE = plate_sequence(rows=2, columns=2, channels=(("DAPI", 40.0),), z_range=2.0)


BUSY_CASES = [
    pytest.param(True, "stage", id="burst-stage"),
    pytest.param(
        True,
        "camera",
        id="burst-camera",
        marks=pytest.mark.slow,
    ),
    pytest.param(False, "stage", id="software-stage", marks=pytest.mark.slow),
    pytest.param(False, "camera", id="software-camera"),
]


@pytest.mark.parametrize(("hardware", "what"), BUSY_CASES)
def test_running_acquisition_refuses_other_clients_when_they_move_the_stage_or_start_the_camera(
    harness: SessionHarness, hardware: bool, what: str
) -> None:
    microscope = harness.microscope
    stage, camera = microscope.stage_, microscope.camera
    target = 41234.5  # a position the plan never visits
    attempt = {"stage": lambda: stage.x.set(target), "camera": lambda: camera.trigger()}[what]
    outcome: dict[str, Any] = {}

    def meddle() -> None:
        try:
            harness.on_loop(attempt, timeout=10)
        except BaseException as exc:
            outcome["refused"] = exc
        outcome["x_moves"] = harness.sim.x.moves.since(moves_before)
        outcome["owned"] = microscope.owner.owned

    n_starts = start_count(harness)
    moves_before = harness.sim.x.moves.count
    watcher = Watcher(
        lambda: microscope.owner.owned and images_after(harness, n_starts, 1)(), meddle
    ).start()
    spec = make_spec(LONG_SEQUENCE, hardware_sequencing=hardware)
    (uid,) = harness.RE(acquire_plate(microscope, spec))
    watcher.join()

    assert outcome["owned"], "the attempt was not made while the run owned the microscope"
    refused = outcome.get("refused")
    assert isinstance(refused, BusyError), f"{what}: {refused!r}"
    assert "busy" in str(refused)
    assert outcome["x_moves"], "the run had not moved the stage yet"
    assert target not in outcome["x_moves"]
    assert target not in harness.sim.x.moves.since(moves_before)
    assert stop_doc(harness, uid)["exit_status"] == "success"
    assert images_of(harness, uid) == 12, "the refused command disturbed the run"
    assert len(frame_rows(harness.run_documents(uid))) == 12
    assert len(set(harness.image_files(uid))) == 12

    # Once the run is over, the same move from the same client works.
    harness.on_loop(lambda: stage.x.set(target))
    assert harness.sim.x.moves.last == target
    assert harness.sim.x.position_now() == pytest.approx(target)


# --- safe state on every way out -----------------------------------------------------


SMALL_SEQUENCE = plate_sequence(columns=2, channels=(("DAPI", 5.0), ("GFP", 5.0)), z_range=2.0)


def interrupt_from_thread(harness: SessionHarness, action: str) -> Callable[[], Any]:
    """``RE.abort()``, ``RE.stop()`` or ``RE.halt()``, as another thread would call it."""
    return lambda: getattr(harness.RE, action)()


EXITS = [
    # (how the run ends, its exit status, the mode run in the fast set)
    ("success", "success", None),
    ("abort", "abort", "burst"),
    ("stop", "success", "software"),
    ("halt", "abort", "burst"),
    ("pause-then-abort", "abort", "software"),
    ("error-in-plan", "fail", "burst"),
    ("error-in-stage", "fail", "software"),
    ("error-in-camera", "fail", "burst"),
]
#: Every way out in both modes; the fast set runs each way out in one mode only.
EXIT_CASES = [
    pytest.param(
        how,
        status,
        hardware,
        id=f"{how}-{mode}",
        marks=() if fast == mode else pytest.mark.slow,
    )
    for how, status, fast in EXITS
    for mode, hardware in (("burst", True), ("software", False))
]


@pytest.mark.parametrize(("how", "exit_status", "hardware"), EXIT_CASES)
def test_acquire_plate_leaves_the_safe_state_and_the_next_run_starts_clean_when_it_ends(
    harness: SessionHarness,
    monkeypatch: pytest.MonkeyPatch,
    how: str,
    exit_status: str,
    hardware: bool,
) -> None:
    microscope = harness.microscope
    spec = make_spec(SMALL_SEQUENCE, hardware_sequencing=hardware)
    n_starts = start_count(harness)
    plan = acquire_plate(microscope, spec)
    watcher = None
    if how in ("abort", "stop", "halt"):
        watcher = Watcher(
            images_after(harness, n_starts, 2), interrupt_from_thread(harness, how)
        ).start()
    elif how == "pause-then-abort":
        watcher = Watcher(
            images_after(harness, n_starts, 2), lambda: harness.RE.request_pause(defer=False)
        ).start()
    elif how == "error-in-plan":
        # The third collect is the second field's images: the error lands between a
        # field's images and their rows.
        plan = raise_in_plan_after(plan, "collect", 3)
    elif how == "error-in-camera":
        source: Any = microscope.camera.source
        render = source.render
        frames = {"n": 0}

        def failing_render(settings: Any) -> Any:
            frames["n"] += 1
            if frames["n"] == 4:
                raise OSError("injected sensor read-out failure")
            return render(settings)

        monkeypatch.setattr(source, "render", failing_render)
    elif how == "error-in-stage":
        move_to = harness.sim.x.move_to
        calls = {"n": 0}

        async def failing_move(target_um: float, timeout_s: float | None) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise OSError("injected stage controller fault")
            await move_to(target_um, timeout_s)

        monkeypatch.setattr(harness.sim.x, "move_to", failing_move)

    if how == "success":
        harness.RE(plan)
    elif how in ("abort", "stop", "halt", "pause-then-abort"):
        with pytest.raises(RunEngineInterrupted):
            harness.RE(plan)
        if how == "pause-then-abort":
            assert harness.RE.state == "paused"
            assert not microscope.owner.owned, "a paused run must lend the microscope back"
            harness.RE.abort("operator gave up")
    else:
        with pytest.raises(Exception, match="injected"):
            harness.RE(plan)
    if watcher is not None:
        watcher.join()
    monkeypatch.undo()

    uid = current_run_uid(harness)
    assert uid is not None and start_count(harness) == n_starts + 1
    assert stop_doc(harness, uid)["exit_status"] == exit_status
    assert harness.safe_state_problems() == []
    # Every frame that reached disk is recorded with its row, the interrupted field's too;
    # a halt runs no plan cleanup, so only the fields recorded before it are.
    on_disk = frame_set_files(harness, uid)
    announced = harness.image_files(uid)
    assert len(frame_rows(harness.run_documents(uid))) == images_of(harness, uid)
    if how == "halt":
        assert announced == on_disk[: len(announced)]
    else:
        assert announced == on_disk

    # The next run starts from the same state as the first, and succeeds.
    (next_uid,) = harness.RE(acquire_plate(microscope, spec))
    assert stop_doc(harness, next_uid)["exit_status"] == "success"
    assert images_of(harness, next_uid) == 12
    assert len(frame_rows(harness.run_documents(next_uid))) == 12
    assert harness.safe_state_problems() == []


def test_acquire_plate_reports_a_camera_failure_by_name_when_a_frame_cannot_be_read(
    harness: SessionHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    source: Any = harness.microscope.camera.source

    def failing_render(settings: Any) -> Any:
        raise OSError("injected sensor read-out failure")

    monkeypatch.setattr(source, "render", failing_render)
    spec = make_spec(SMALL_SEQUENCE, hardware_sequencing=False)
    with pytest.raises(Exception, match="injected sensor read-out failure"):
        harness.RE(acquire_plate(harness.microscope, spec))


# --- bad input ------------------------------------------------------------------------


def _with(sequence: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {**sequence, **changes}


def _channel(**fields: Any) -> dict[str, Any]:
    return _with(SMALL_SEQUENCE, channels=[{"config": "DAPI", "exposure": 5.0, **fields}])


BAD_INPUT = {
    "well-not-on-the-plate": (
        {"sequence": plate_sequence(wells=([9], [1]))},
        r"stage_positions|selected_wells",
    ),
    "well-not-on-the-configured-plate": (
        {"sequence": plate_sequence(wells=([5], [1])), "plate_format": "24"},
        r"sequence\.stage_positions: selected well \(row 5, column 1\) is not on the plate",
    ),
    "field-outside-the-soft-limits": (
        {"sequence": plate_sequence(a1_xy=(125_000.0, 11_240.0))},
        r"sequence\.stage_positions: .*outside the stage's soft limits",
    ),
    "z-outside-the-soft-limits": (
        {"sequence": _with(SMALL_SEQUENCE, z_plan={"range": 10_000, "step": 5_000})},
        r"sequence\.z_plan: .*soft limits",
    ),
    "unknown-channel": (
        {"sequence": _with(SMALL_SEQUENCE, channels=[{"config": "FITC"}])},
        r"sequence\.channels\[0\]\.config: unknown channel 'FITC'",
    ),
    "exposure-beyond-the-camera": (
        {"sequence": _channel(exposure=20_000.0)},
        r"sequence\.channels\[0\]\.exposure: 20000.0 ms is outside the camera's range",
    ),
    "misspelt-sequence-key": (
        {
            "sequence": {
                **{k: v for k, v in SMALL_SEQUENCE.items() if k != "channels"},
                "chanels": SMALL_SEQUENCE["channels"],
            }
        },
        r"chanels",
    ),
    "misspelt-channel-key": (
        {"sequence": _with(SMALL_SEQUENCE, channels=[{"config": "DAPI", "exposur": 5.0}])},
        r"channels\[0\]\.exposur",
    ),
    "misspelt-spec-key": ({"sequence": SMALL_SEQUENCE, "well_ordr": "row"}, r"well_ordr"),
    "binning-the-camera-cannot-do": (
        {"sequence": SMALL_SEQUENCE, "binning": 3},
        r"binning: 3 is not one the camera allows",
    ),
}


@pytest.mark.parametrize(("data", "names"), list(BAD_INPUT.values()), ids=list(BAD_INPUT))
def test_acquire_plate_refuses_before_anything_moves_or_is_written_when_input_is_bad(
    harness: SessionHarness, data: dict[str, Any], names: str
) -> None:
    runs_before = harness.run_count()
    moves_before = harness.moves()
    wheel_before = harness.sim.filter_wheel.current
    with pytest.raises((UserFileError, AcquisitionError), match=names):
        spec = spec_from_data(data)
        harness.RE(acquire_plate(harness.microscope, spec))
    assert harness.moves() == moves_before
    assert harness.sim.filter_wheel.current == wheel_before
    assert harness.run_count() == runs_before


# --- pause and resume -----------------------------------------------------------------


@pytest.mark.parametrize(
    "hardware", [True, pytest.param(False, marks=pytest.mark.slow)], ids=["burst", "software"]
)
def test_deferred_pause_loses_and_duplicates_no_image_when_the_run_resumes(
    harness: SessionHarness, hardware: bool
) -> None:
    sequence = plate_sequence(rows=2, columns=2, channels=(("DAPI", 5.0), ("GFP", 5.0)), z_range=1)
    spec = make_spec(sequence, experiment_id="paused", hardware_sequencing=hardware)
    n_starts = start_count(harness)
    watcher = Watcher(
        images_after(harness, n_starts, 3), lambda: harness.RE.request_pause(defer=True)
    ).start()
    with pytest.raises(RunEngineInterrupted):
        harness.RE(acquire_plate(harness.microscope, spec))
    watcher.join()
    assert harness.RE.state == "paused"
    uid = current_run_uid(harness)
    assert uid is not None
    paused_at = images_of(harness, uid)
    assert 3 <= paused_at < 16
    assert not harness.sim.illumination.is_on

    harness.RE.resume()
    assert stop_doc(harness, uid)["exit_status"] == "success"
    assert harness.session.flush(60.0)
    run = harness.session.catalog[uid]
    rows = rows_of(frame_table(run))
    keys = [(r["well"], r["fov"], r["channel"], r["z_index"]) for r in rows]
    assert len(keys) == 16 and len(set(keys)) == 16
    assert_same_rows(
        rows,
        expected_table(
            harness.microscope.config, sequence, base_z_um=rows[0]["z_um"] + 0.5,
            experiment_id="paused",
        ),
    )  # fmt: skip
    assert run["primary"]["camera"].shape[0] == 16
    assert len(set(harness.image_files(uid))) == 16


# --- instrumentation ------------------------------------------------------------------


def test_run_engine_times_messages_and_names_slow_callbacks_when_a_run_ends(
    harness: SessionHarness,
) -> None:
    pause = threading.Event()

    def slowpoke(name: str, doc: dict[str, Any]) -> None:
        if name in ("start", "stop"):
            pause.wait(0.03)

    updates: list[ProgressUpdate] = []
    token = harness.RE.subscribe_timed(slowpoke, "slowpoke")
    progress = harness.RE.subscribe(RunProgress(updates.append))
    try:
        spec = make_spec(SMALL_SEQUENCE)
        (uid,) = harness.RE(acquire_plate(harness.microscope, spec))
    finally:
        harness.RE.unsubscribe(token)
        harness.RE.unsubscribe(progress)

    expected = expected_table(
        harness.microscope.config, SMALL_SEQUENCE, base_z_um=0.0, experiment_id=""
    )
    fields = list(dict.fromkeys((r["time_index"], r["well"], r["fov"]) for r in expected))
    per_field = len(expected) // len(fields)
    assert len(expected) == 12 and len(fields) == 2
    timing = harness.RE.timer.by_run[uid]
    # Each field of view is collected once: its images, then their rows.
    # Images and rows once per field, and once more as the run ends (nothing left).
    assert timing["collect"]["count"] == 2 * len(fields) + 2
    assert {"open_run", "collect", "wait"} <= set(timing)
    assert all(entry["seconds"] >= 0 for entry in timing.values())
    assert sum(entry["seconds"] for entry in timing.values()) > 0.05  # 12 x 5 ms exposures
    slow = [(name, doc) for name, doc, _ in harness.RE.slow_callbacks.slow if name == "slowpoke"]
    assert ("slowpoke", "start") in slow and ("slowpoke", "stop") in slow
    # One update per field of view, as its images are announced.
    assert [u.done for u in updates] == [per_field * (i + 1) for i in range(len(fields))]
    assert {(u.run_uid, u.total) for u in updates} == {(uid, 12)}


def _datum(descriptor: str, start: int, stop: int) -> dict[str, Any]:
    """A StreamDatum announcing images ``start`` to ``stop - 1`` of a stream."""
    return {
        "descriptor": descriptor,
        "indices": {"start": start, "stop": stop},
        "seq_nums": {"start": start + 1, "stop": stop + 1},
    }


def test_run_progress_ignores_documents_of_an_earlier_run_when_a_new_run_is_open() -> None:
    updates: list[ProgressUpdate] = []
    progress = RunProgress(updates.append)
    progress("start", {"uid": "run-1", "num_images": 4})
    progress("descriptor", {"uid": "d1", "run_start": "run-1", "name": "primary"})
    progress("stream_datum", _datum("d1", 0, 2))
    progress("start", {"uid": "run-2", "num_images": 5})
    progress("descriptor", {"uid": "d2", "run_start": "run-2", "name": "primary"})
    progress("descriptor", {"uid": "d2b", "run_start": "run-2", "name": "baseline"})
    progress("descriptor", {"uid": "d2f", "run_start": "run-2", "name": "frames"})
    progress("stream_datum", _datum("d1", 2, 4))  # late datum of run 1
    progress("stream_datum", _datum("d2b", 0, 1))  # not an image stream
    progress("event_page", {"descriptor": "d2f", "seq_num": [1, 2, 3]})  # rows, not images
    progress("stream_datum", _datum("d2", 0, 3))
    progress("stream_datum", _datum("d2", 3, 5))
    assert [(u.run_uid, u.done, u.total) for u in updates] == [
        ("run-1", 2, 4),
        ("run-2", 3, 5),
        ("run-2", 5, 5),
    ]


# --- the command line -----------------------------------------------------------------


def test_hcs_acquire_dry_run_prints_the_plan_and_touches_nothing_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "data"
    code = hcs_main(["acquire", str(DEMO_SPEC), "--dry-run", "--data-dir", str(data_dir)])
    out = capsys.readouterr().out
    assert code == 0
    # The plate's map, with the three wells imaged; positions only when asked for.
    assert "   B  .  #  #  .  ." in out and "   C  .  .  #  .  ." in out
    assert "3 wells, 4 fields of view each" in out and "B2#0" not in out
    args = ["acquire", str(DEMO_SPEC), "--dry-run", "--positions", "--data-dir", str(data_dir)]
    assert hcs_main(args) == 0
    out = capsys.readouterr().out
    # demo-96: B2, B3, C3 x 2 x 2 fields x 3 channels x 3 planes; binning 2: 1024^2 frames.
    assert "fields of view: 12 in 3 wells" in out
    assert "images: 108" in out
    assert f"estimated data: {108 * 1024 * 1024 * 2 / 1e6:.1f} MB" in out
    assert "estimated duration:" in out
    last = out.splitlines()[-1]
    assert last == "camera triggers: simulated camera (each frame rendered on request)"
    b2_x, b2_y = A1_XY_UM[0] + PITCH_UM, A1_XY_UM[1] + PITCH_UM
    step = 1024 * 0.65 * 0.9  # binned field of view x (1 - 10 % overlap)
    assert f"B2#0: {b2_x - step / 2:.1f}, {b2_y - step / 2:.1f}" in out
    assert f"C3#3: {b2_x + PITCH_UM - step / 2:.1f}, {b2_y + PITCH_UM + step / 2:.1f}" in out
    assert not data_dir.exists(), "a dry run created the data directory"


def test_hcs_acquire_dry_run_prints_the_instruments_lower_bound_next_to_the_estimate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = hcs_main(["acquire", str(DEMO_SPEC), "--dry-run", "--data-dir", str(tmp_path / "d")])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    at = next(i for i, line in enumerate(lines) if line.startswith("estimated duration: "))
    estimate = float(lines[at].split()[2])
    found = re.fullmatch(
        r"instrument's lower bound: ([\d.]+) s \((.*)\); estimate / lower bound: ([\d.]+)",
        lines[at + 1],
    )
    assert found is not None, lines[at + 1]
    bound, ratio = float(found[1]), float(found[3])
    parts = {k: float(v) for k, v in (part.split() for part in found[2].split(", "))}
    # demo-96: 12 fields x 3 planes x (20 + 30 + 40) ms of exposure.
    assert parts["exposures"] == pytest.approx(12 * 3 * 0.090, abs=0.05)
    assert {"stage", "filters", "focus"} <= set(parts)
    assert sum(parts.values()) == pytest.approx(bound, abs=0.05 * len(parts))
    assert bound < estimate
    assert ratio == pytest.approx(estimate / bound, abs=0.02)


def test_hcs_acquire_dry_run_names_the_field_when_the_sequence_is_misspelt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(DEMO_SPEC.read_text().replace("well_order:", "well_ordr:"))
    code = hcs_main(["acquire", str(bad), "--dry-run", "--data-dir", str(tmp_path / "d")])
    err = capsys.readouterr().err
    assert code == 2
    assert "well_ordr: unknown key" in err


@pytest.mark.slow
def test_hcs_demo_acquires_and_lists_the_run_when_run_as_a_command(tmp_path: Path) -> None:
    hcs = str(Path(sys.executable).with_name("hcs"))
    data_dir = tmp_path / "demo"
    demo = subprocess.run(
        [hcs, "demo", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=240
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    out = demo.stdout
    uid = re.search(r"run uid:\s+(\S+)", out)
    assert uid is not None, out
    assert re.search(r"exit status:\s+success", out)
    assert re.search(r"images:\s+108 in [0-9.]+ s", out)
    assert f"data:        {data_dir.resolve()}" in out
    overview = re.search(r"overview:\s+(\S+\.png)", out)
    assert overview is not None, out
    png = Path(overview.group(1))
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = subprocess.run(
        [hcs, "runs", "--data-dir", str(data_dir)], capture_output=True, text=True, timeout=120
    )
    assert runs.returncode == 0, runs.stderr[-2000:]
    (line,) = [ln for ln in runs.stdout.splitlines() if uid.group(1)[:8] in ln]
    assert "acquire_plate" in line and "108" in line and line.endswith("success")


def test_acquire_plate_records_the_images_useq_iterates_when_given_the_richest_sequence(
    harness: SessionHarness, fast_profile_config: MicroscopeConfig
) -> None:
    # Positions with their own z, a grid around each, a z range, channel overrides
    # (exposure, z offset, a channel only in the middle plane) and metadata.
    sequence, spec_fields = next(iter(SUPPORTED.values()))
    spec = spec_from_data({"sequence": sequence, **spec_fields, "hardware_sequencing": False})
    (uid,) = harness.RE(acquire_plate(harness.microscope, spec))
    harness.session.flush(60.0)
    run = harness.session.catalog[uid]
    iterated = useq_images(sequence)
    assert run["primary"]["camera"].shape[0] == len(iterated) == 2 * 6 * (3 + 1)
    rows = rows_of(frame_table(run))
    preset_dz = {c.name: c.z_offset_um for c in fast_profile_config.channels}
    recorded = Counter(
        (round(r["x_um"], 2), round(r["y_um"], 2), r["channel"], r["time_index"]) for r in rows
    )
    assert recorded == Counter((x, y, channel, t) for x, y, _, channel, t, _ in iterated)
    z_recorded = sorted(r["z_um"] - preset_dz[r["channel"]] for r in rows)
    z_iterated = sorted(z for _, _, z, *_ in iterated)
    assert z_recorded == pytest.approx(z_iterated, abs=0.05)


def test_hcs_acquire_dry_run_ends_quietly_when_its_reader_goes_away(tmp_path: Path) -> None:
    # ``hcs acquire spec --dry-run --positions | head -1``: no error, no traceback.
    hcs = str(Path(sys.executable).with_name("hcs"))
    args = [hcs, "acquire", str(DEMO_SPEC), "--dry-run", "--positions"]
    with subprocess.Popen(
        [*args, "--data-dir", str(tmp_path / "d")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as process:
        assert process.stdout is not None and process.stderr is not None
        assert process.stdout.readline().startswith("plate format:")
        process.stdout.close()
        err = process.stderr.read()
        assert process.wait(timeout=60) == 0
    assert err == ""


# --- time-lapse: late time points ----------------------------------------------------


def time_points_of(harness: SessionHarness, uid: str) -> list[dict[str, Any]]:
    """The run's time points as recorded (its ``time_points`` stream), in order."""
    documents = harness.run_documents(uid)
    (descriptor,) = [
        d["uid"] for n, d in documents if n == "descriptor" and d["name"] == "time_points"
    ]
    events = [d for n, d in documents if n == "event" and d["descriptor"] == descriptor]
    return [
        {key.removeprefix("time_point-"): value for key, value in e["data"].items()}
        for e in sorted(events, key=lambda e: e["seq_num"])
    ]


def time_lapse(interval_s: float, loops: int) -> dict[str, Any]:
    """Two fields, two channels per time point: each takes longer than 0.05 s."""
    sequence = plate_sequence(columns=2, channels=(("DAPI", 5.0), ("GFP", 5.0)))
    sequence["time_plan"] = {"interval": interval_s, "loops": loops}
    return sequence


@pytest.mark.parametrize("policy", ["run_late", "skip"])
def test_time_lapse_records_each_late_time_point_and_takes_or_skips_it_as_the_spec_says(
    harness: SessionHarness, policy: str
) -> None:
    spec = make_spec(
        time_lapse(0.05, 3), late_time_points=policy, late_tolerance_s=0.0, hardware_sequencing=True
    )
    (uid,) = harness.RE(acquire_plate(harness.microscope, spec))
    points = time_points_of(harness, uid)
    assert [p["time_index"] for p in points] == [0, 1, 2]
    assert [p["due_s"] for p in points] == pytest.approx([0.0, 0.05, 0.1])
    assert points[0]["late_s"] == pytest.approx(0.0, abs=0.05) and not points[0]["skipped"]
    assert all(p["late_s"] > 0 for p in points[1:])  # each time point takes > 0.05 s
    skipped = [p["skipped"] for p in points]
    assert skipped == ([False, True, True] if policy == "skip" else [False, False, False])
    harness.session.flush(60.0)
    rows = rows_of(frame_table(harness.session.catalog[uid]))
    taken = 1 if policy == "skip" else 3
    assert sorted({r["time_index"] for r in rows}) == list(range(taken))
    assert len(rows) == taken * 2 * 2 == images_of(harness, uid)


def test_time_lapse_pause_shifts_no_time_point_so_one_due_during_it_is_late(
    harness: SessionHarness,
) -> None:
    # Due at 0 and 1.5 s; paused for 2.5 s during the first: the second starts late.
    spec = make_spec(time_lapse(1.5, 2), late_time_points="skip", late_tolerance_s=0.3)
    n_starts = start_count(harness)
    watcher = Watcher(
        images_after(harness, n_starts, 1), lambda: harness.RE.request_pause(defer=True)
    ).start()
    with pytest.raises(RunEngineInterrupted):
        harness.RE(acquire_plate(harness.microscope, spec))
    watcher.join()
    threading.Event().wait(2.5)
    harness.RE.resume()
    uid = current_run_uid(harness)
    assert uid is not None and stop_doc(harness, uid)["exit_status"] == "success"
    first, second = time_points_of(harness, uid)
    assert not first["skipped"] and second["skipped"] and second["late_s"] > 1.0
    assert images_of(harness, uid) == 2 * 2  # the first time point only, each image once
