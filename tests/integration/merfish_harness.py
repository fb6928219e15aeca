"""A small MERFISH experiment for tests: a fast simulated microscope with fluidics.

:func:`merfish_files` writes, in a test's directory, a microscope configuration (the
shipped microscope, small sensor, plus a simulated valve and pump carrying the example
protocol's reagents) and a copy of ``profile/merfish/protocol.yaml`` and its codebook
with small volumes, short incubations and fewer fields, so a 4-round experiment takes
well under a minute.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from plate_harness import fast_config

from hcs_devices.config import MicroscopeConfig
from hcs_orchestrator.merfish.qc.documents import QC_PLAN

REPO = Path(__file__).resolve().parents[2]
EXAMPLE_DIR = REPO / "profile" / "merfish"

#: Reagent -> [valve, port], as in the example protocol (one 8-port valve).
PORTS = {
    "wash": [[1, 1]],
    "imaging": [[1, 2]],
    "cleave": [[1, 3]],
    "RO-1": [[1, 4]],
    "RO-2": [[1, 5]],
    "RO-3": [[1, 6]],
    "RO-4": [[1, 7]],
}
#: Every flow of the test protocol: volume, uL and rate, uL/min (0.4 s a flow).
VOLUME_UL = 10.0
RATE_UL_MIN = 1500.0
FLOW_PARTS = 25


@dataclass(frozen=True)
class MerfishFiles:
    """The files of a test experiment."""

    config: Path
    protocol: Path
    data_dir: Path


def merfish_config_data(base: MicroscopeConfig) -> dict[str, Any]:
    """``base`` made fast, with a simulated fluidics section, as plain data."""
    data = fast_config(base).model_dump(mode="json")
    data["fluidics"] = {
        "valves": {"n_valves": 1, "ports_per_valve": 8, "sim_speed_factor": 100},
        "pump": {"tube_ul_per_rev": 31.5, "status_poll_s": 0.01},
        "reagents": PORTS,
    }
    return data


def protocol_data(
    *, wells: list[list[int]] | None = None, z_range_um: float = 1.0
) -> dict[str, Any]:
    """The example protocol with small volumes, 0.1 s incubations, 2 fields x 2 planes."""
    data = yaml.safe_load((EXAMPLE_DIR / "protocol.yaml").read_text())
    for step in data["round_template"]:
        if "volume_ul" in step:
            step["volume_ul"] = VOLUME_UL
            step["rate_ul_min"] = RATE_UL_MIN
        if step["kind"] == "incubate":
            step["duration_s"] = 0.1
        if step["kind"] == "image":
            sequence = step["acquisition"]["sequence"]
            sequence["stage_positions"]["selected_wells"] = wells or [[1, 1], [1, 2]]
            sequence["stage_positions"]["well_points_plan"] = {"rows": 1, "columns": 1}
            sequence["z_plan"] = {"range": z_range_um, "step": z_range_um}
    data["flow_parts"] = FLOW_PARTS
    return data


def merfish_files(
    directory: Path, base: MicroscopeConfig, protocol: dict[str, Any] | None = None
) -> MerfishFiles:
    """Write the configuration, protocol and codebook of a test experiment."""
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "microscope.yaml"
    config.write_text(yaml.safe_dump(merfish_config_data(base)))
    shutil.copy(EXAMPLE_DIR / "codebook.csv", directory / "codebook.csv")
    path = directory / "protocol.yaml"
    path.write_text(yaml.safe_dump(protocol or protocol_data(), sort_keys=False))
    return MerfishFiles(config=config, protocol=path, data_dir=directory / "data")


@dataclass
class ExperimentRecord:
    """What a data directory holds of a MERFISH experiment, read back.

    Attributes:
        images: (round, bit, channel, well, fov, z_index) -> times in the catalog.
        rows_equal_images: per run, the frame rows equal the images in the catalog.
        announced_files: frame files the runs' documents announce.
        unrecorded_files: frame files crashed runs' stop documents list as unrecorded.
        files_on_disk: frame files in the data directory.
        parts: (unit, part) -> times a flow part is recorded.
        volume_ul: reagent -> volume of the recorded flows, uL.
        killed_flow_ul: reagent -> volume of the parts that crashed runs had in flight
            (at most one part per run that ended without success).
        runs_by_unit: unit -> its runs' (uid, exit status, flow parts recorded), in order.
        starts: every run's start document.
    """

    images: dict[tuple[Any, ...], int]
    rows_equal_images: bool
    announced_files: list[str]
    unrecorded_files: list[str]
    files_on_disk: set[str]
    parts: dict[tuple[str, int], int]
    volume_ul: dict[str, float]
    killed_flow_ul: dict[str, float]
    runs_by_unit: dict[str, list[tuple[str, str, int]]]
    starts: list[dict[str, Any]]


def read_experiment(data_dir: Path) -> ExperimentRecord:
    """Read a finished experiment back from the catalog and the spool."""
    import json
    from collections import Counter, defaultdict

    from plate_harness import frame_file

    from hcs_storage.catalog import close_catalog, open_catalog
    from hcs_storage.query import frame_table, stream_columns
    from hcs_storage.recovery import UNRECORDED_FILE
    from hcs_storage.spool import read_journal, spool_dir

    data_dir = data_dir.resolve()
    announced: list[str] = []
    unrecorded: list[str] = []
    for journal in sorted(spool_dir(data_dir).glob("*.jsonl")):
        docs = [(e.name, e.doc) for e in read_journal(journal)]
        resources = {d["uid"]: d for n, d in docs if n == "stream_resource"}
        announced += [
            frame_file(resources[d["stream_resource"]], i).relative_to(data_dir).as_posix()
            for n, d in docs
            if n == "stream_datum"
            for i in range(d["indices"]["start"], d["indices"]["stop"])
        ]
        for name, doc in docs:
            if name == "stop":
                unrecorded += [item["file"] for item in doc.get("unrecorded_frames", [])]
    on_disk = {
        p.relative_to(data_dir).as_posix()
        for p in (data_dir / "frames").glob("*/*")
        if not p.name.startswith(UNRECORDED_FILE)
    }
    images: Counter[tuple[Any, ...]] = Counter()
    parts: Counter[tuple[str, int]] = Counter()
    volume: defaultdict[str, float] = defaultdict(float)
    killed: defaultdict[str, float] = defaultdict(float)
    runs_by_unit: defaultdict[str, list[tuple[str, str, int]]] = defaultdict(list)
    starts: list[dict[str, Any]] = []
    rows_ok = True
    catalog = open_catalog(data_dir)
    try:
        runs = [catalog[uid] for uid in catalog]
        # The experiment's own runs, not its decoding QC's.
        runs = [r for r in runs if r.metadata["start"].get("plan_name") != QC_PLAN]
        runs.sort(key=lambda r: r.metadata["start"]["time"])
        for run in runs:
            start = dict(run.metadata["start"])
            stop = run.metadata.get("stop") or {}
            starts.append(start)
            unit = start["merfish"]["unit"]
            recorded_parts = 0
            streams = set(run)  # (``name in run`` retries a missing name: slow)
            table = frame_table(run) if "frames" in streams else {}
            if "well" in table:
                n_images = run["primary"]["camera"].shape[0] if "primary" in streams else 0
                rows_ok &= n_images == len(table["well"])
                for i in range(len(table["well"])):
                    images[
                        (
                            int(table["round"][i]),
                            str(table["bit"][i]),
                            str(table["channel"][i]),
                            str(table["well"][i]),
                            int(table["fov"][i]),
                            int(table["z_index"][i]),
                        )
                    ] += 1
            last_reagent = ""
            table = (
                stream_columns(run, "fluidics", "fluidics_step-") if "fluidics" in streams else {}
            )
            if "step" in table:
                for step, reagent, vol, meta in zip(
                    table["step"],
                    table["reagent"],
                    table["volume_ul"],
                    table["metadata"],
                    strict=True,
                ):
                    last_reagent = str(reagent)
                    part = json.loads(str(meta)).get("part")
                    if str(step) == "flow" and part is not None:
                        parts[(unit, int(part))] += 1
                        volume[str(reagent)] += float(vol)
                        recorded_parts += 1
            status = str(stop.get("exit_status", ""))
            flow = start.get("merfish_step") in ("flow", "cleave")
            if flow and status != "success" and last_reagent:
                killed[last_reagent] += VOLUME_UL / FLOW_PARTS
            runs_by_unit[unit].append((start["uid"], status, recorded_parts))
    finally:
        close_catalog(catalog)
    return ExperimentRecord(
        images=dict(images),
        rows_equal_images=rows_ok,
        announced_files=announced,
        unrecorded_files=unrecorded,
        files_on_disk=on_disk,
        parts=dict(parts),
        volume_ul=dict(volume),
        killed_flow_ul=dict(killed),
        runs_by_unit=dict(runs_by_unit),
        starts=starts,
    )


def expected_images(rounds: int = 4, fields: int = 2, planes: int = 2) -> set[tuple[Any, ...]]:
    """Every (round, bit, channel, well, fov, z_index) of the test protocol."""
    wells = ["B2", "B3"][:fields]
    out: set[tuple[Any, ...]] = set()
    for r in range(1, rounds + 1):
        bits = {"Cy3": f"bit{2 * r - 1:02d}", "Cy5": f"bit{2 * r:02d}", "GFP": "fiducial"}
        for channel, bit in bits.items():
            for well in wells:
                for z in range(planes):
                    out.add((r, bit, channel, well, 0, z))
    return out


def protocol_volumes(rounds: int = 4) -> dict[str, float]:
    """Reagent -> volume the test protocol delivers, uL."""
    per_round = {"wash": 2, "imaging": 1, "cleave": 1}
    volumes = {name: n * rounds * VOLUME_UL for name, n in per_round.items()}
    return volumes | {f"RO-{r}": VOLUME_UL for r in range(1, rounds + 1)}


def focus_at(microscope: Any, z_um: float) -> Any:
    """A custom step's plan: move the focus to ``z_um`` (the operator's focusing)."""
    import bluesky.plan_stubs as bps

    yield from bps.mv(microscope.stage_.z, z_um)
