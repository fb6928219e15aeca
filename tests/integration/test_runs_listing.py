"""``hcs runs``: counts from what was recorded, pages of runs, uid prefixes that work.

The runs are written through Bluesky's ``TiledWriter`` into a real embedded catalog
(:mod:`hcs_storage.sample`, real TIFF frames); the listing then reads that catalog's
database as ``hcs runs`` does, with the catalog closed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from hcs_orchestrator.cli import main
from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.query import frame_table, image_stack, lookup_run
from hcs_storage.runs import describe_runs, list_runs
from hcs_storage.sample import SampleSpec, write_sample_run

#: The demo's shape: 3 wells x 4 fields x 3 channels x 3 planes = 108 images planned.
PLANNED = SampleSpec(
    wells=("B2", "B3", "C3"),
    fields_per_well=4,
    channels=("DAPI", "GFP", "Cy3"),
    z_planes=3,
    shape=(16, 16),
)
TAKEN = 90

# Writes runs through Tiled and runs hcs in new processes: full suite only.
pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Catalog:
    data_dir: Path
    aborted: str
    older: str
    newest: str


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    data_dir = tmp_path_factory.mktemp("runs") / "data"
    client = open_catalog(data_dir)
    try:
        older = write_sample_run(client, data_dir, wells=("A1",), fields_per_well=1)
        aborted = write_sample_run(
            client, data_dir, SampleSpec(**{**PLANNED.__dict__, "stop_after": TAKEN})
        )
        newest = write_sample_run(client, data_dir, experiment_id="last", wells=("H12",))
    finally:
        close_catalog(client)
    return Catalog(data_dir, aborted=aborted, older=older, newest=newest)


def test_list_runs_counts_the_images_an_aborted_run_recorded_not_those_it_planned(
    catalog: Catalog,
) -> None:
    page = list_runs(catalog.data_dir)
    (run,) = [r for r in page.runs if r.uid == catalog.aborted]
    assert (run.images, run.planned_images, run.exit_status) == (TAKEN, 108, "abort")
    client = open_catalog(catalog.data_dir)
    try:  # the count is the run's images, as the catalog serves them
        stored = client[catalog.aborted]
        assert image_stack(stored).shape[0] == TAKEN
        assert len(frame_table(stored)["well"]) == TAKEN
        (line,) = [ln for ln in describe_runs(client) if catalog.aborted[:8] in ln]
        assert re.search(rf"\s{TAKEN}\s+108\s+abort$", line), line
    finally:
        close_catalog(client)


def test_hcs_runs_prints_recorded_and_planned_counts_newest_first(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["runs", "--data-dir", str(catalog.data_dir)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == [
        "start", "(UTC)", "uid", "plan", "experiment", "images", "planned", "status",
    ]  # fmt: skip
    assert [ln.split()[2] for ln in lines[1:]] == [
        catalog.newest[:8],
        catalog.aborted[:8],
        catalog.older[:8],
    ]
    assert lines[2].split()[-3:] == [str(TAKEN), "108", "abort"]
    assert lines[1].split()[-3:] == ["8", "8", "success"]  # 1 well x 2 fields x 2 channels x 2 z


def test_hcs_runs_pages_through_the_runs_when_given_a_limit(
    catalog: Catalog, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["runs", "--data-dir", str(catalog.data_dir), "--limit", "2"]
    assert main([*argv, "--page", "2"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [ln.split()[2] for ln in out[1:-1]] == [catalog.older[:8]]
    assert out[-1] == "(runs 3-3 of 3, newest first)"
    assert main(argv) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1] == "(runs 1-2 of 3, newest first; --page 2 for older ones)"


def test_the_printed_uid_prefix_finds_the_run(catalog: Catalog) -> None:
    prefix = list_runs(catalog.data_dir).runs[1].uid[:8]
    client = open_catalog(catalog.data_dir)
    try:
        assert lookup_run(client, prefix).metadata["start"]["uid"] == catalog.aborted
    finally:
        close_catalog(client)


def test_list_runs_finds_no_runs_and_creates_nothing_when_there_is_no_catalog(
    tmp_path: Path,
) -> None:
    page = list_runs(tmp_path)
    assert (page.runs, page.total) == ([], 0)
    assert list(tmp_path.iterdir()) == []


def test_list_runs_refuses_a_page_that_cannot_be(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"limit must be >= 1 \(got 0\)"):
        list_runs(tmp_path, limit=0)
    with pytest.raises(ValueError, match=r"offset must be >= 0 \(got -1\)"):
        list_runs(tmp_path, offset=-1)


def test_hcs_export_names_the_overwrite_flag_when_the_output_exists(
    catalog: Catalog, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "plate.zarr"
    out.mkdir()
    argv = ["export", catalog.aborted[:8], "--out", str(out), "--data-dir", str(catalog.data_dir)]
    assert main(argv) == 2
    assert capsys.readouterr().err.strip() == f"error: {out} exists: add --overwrite to replace it"
    assert list(out.iterdir()) == []
