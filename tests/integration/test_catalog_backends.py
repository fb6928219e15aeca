"""The catalog on SQLite (the default) and on PostgreSQL (a facility) behaves the same.

Every test runs on both backends: a data directory whose catalog is SQLite in the
directory, and one whose catalog is a database of a PostgreSQL server the tests start
themselves (see ``pg_cluster``). The runs are synthetic plate runs written through
Bluesky's TiledWriter (``hcs_storage.sample``): their pixels say which frame they are.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pg_cluster import PostgresCluster, postgres_cluster

from hcs_storage.catalog import open_catalog
from hcs_storage.query import (
    find_runs,
    frame_table,
    lookup_run,
    run_images,
    select_frames,
    well_fields,
)
from hcs_storage.sample import SampleSpec, sample_frame, write_sample_run
from hcs_storage.tiled_server import TiledServer

# A system test (real RunEngine, real Tiled catalog): part of the full suite only.
pytestmark = pytest.mark.slow

SKIPPED = ("B3", 1, "GFP", 1, 0)
SPECS = {
    "first": SampleSpec(experiment_id="exp-a", skip=frozenset({SKIPPED})),
    "second": SampleSpec(experiment_id="exp-a", wells=("B10", "C1"), time_points=2),
    "other": SampleSpec(
        experiment_id="exp-b", plate_format="384", wells=("P24",), channels=("Cy5",)
    ),
}


@dataclass
class Backend:
    name: str
    data_dir: Path
    catalog_uri: str | None
    tables_uri: str | None
    catalog: Any
    uids: dict[str, str]


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresCluster | None]:
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture(
    scope="module",
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)],
)
def backend(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Backend:
    data_dir = tmp_path_factory.mktemp(f"catalog-{request.param}")
    uri = tables = None
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg")
        if cluster is None:
            pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
        uri = cluster.create_database("hcs_catalog")
        tables = cluster.create_database("hcs_tables")
    catalog = open_catalog(data_dir, uri, tables_uri=tables)
    uids = {key: write_sample_run(catalog, data_dir, spec) for key, spec in SPECS.items()}
    return Backend(request.param, data_dir, uri, tables, catalog, uids)


def uids_of(found: Any) -> set[str]:
    return set(found.keys())


def test_catalog_is_in_the_configured_database(backend: Backend) -> None:
    for name in ("catalog.db", "tables.duckdb"):
        assert (backend.data_dir / name).exists() == (backend.name == "sqlite")
    assert uids_of(backend.catalog) == set(backend.uids.values())


def test_find_runs_matches_start_metadata(backend: Backend) -> None:
    c, u = backend.catalog, backend.uids
    assert uids_of(find_runs(c, experiment_id="exp-a")) == {u["first"], u["second"]}
    assert uids_of(find_runs(c, plate_format="384")) == {u["other"]}
    assert uids_of(find_runs(c, well="B3")) == {u["first"]}
    assert uids_of(find_runs(c, channel="GFP", experiment_id="exp-a")) == {
        u["first"],
        u["second"],
    }
    assert uids_of(find_runs(c, channel="Cy5")) == {u["other"]}
    assert uids_of(find_runs(c, plan_name="acquire_plate", exit_status="success")) == set(
        u.values()
    )
    assert uids_of(find_runs(c)) == set(u.values())


def test_find_runs_does_not_match_part_of_a_well_name_when_searching_b1(
    backend: Backend,
) -> None:
    assert uids_of(find_runs(backend.catalog, well="B1")) == set()
    assert uids_of(find_runs(backend.catalog, well="B10")) == {backend.uids["second"]}


def test_find_runs_by_start_time_when_given_a_range(backend: Backend) -> None:
    c = backend.catalog
    times = {k: c[u].metadata["start"]["time"] for k, u in backend.uids.items()}
    assert uids_of(find_runs(c, since=times["second"])) == {
        backend.uids["second"],
        backend.uids["other"],
    }
    assert uids_of(find_runs(c, until=times["second"])) == {backend.uids["first"]}


def test_lookup_run_by_uid_prefix(backend: Backend) -> None:
    uid = backend.uids["second"]
    assert lookup_run(backend.catalog, uid[:8]).metadata["start"]["uid"] == uid
    with pytest.raises(KeyError, match="no run"):
        lookup_run(backend.catalog, "ffffffffffff")
    with pytest.raises(KeyError, match="not a run uid"):
        lookup_run(backend.catalog, "x%")


def test_frames_select_by_well_channel_and_time_point(backend: Backend) -> None:
    run = backend.catalog[backend.uids["second"]]
    table = frame_table(run)
    spec = SPECS["second"]
    rows = select_frames(table, well="C1", channel="GFP", time_index=1)
    assert len(rows) == spec.fields_per_well * spec.z_planes
    images = run["primary"]["camera"]
    frames = list(spec.frames())
    for i in rows:
        assert frames[i]["well"] == "C1" and frames[i]["time_index"] == 1
        np.testing.assert_array_equal(images[int(i), 0], sample_frame(spec, frames[i]))


def test_run_images_are_lazy_arrays_with_coordinates(backend: Backend) -> None:
    spec = SPECS["first"]
    images = run_images(backend.catalog[backend.uids["first"]])
    assert images.dims == ("field", "t", "c", "z", "y", "x")
    assert images.shape == (4, 1, 2, 2, 64, 64)
    assert list(images.coords["field"].values) == ["B2/0", "B2/1", "B3/0", "B3/1"]
    assert list(images.coords["c"].values) == ["DAPI", "GFP"]
    assert images.coords["x"].values[1] == pytest.approx(spec.pixel_size_um)
    assert images.attrs["colours"] == ["#3060FF", "#30FF30"]
    assert images.chunks is not None  # dask-backed: nothing read yet
    frame = next(f for f in spec.frames() if f["well"] == "B3" and f["fov"] == 0)
    got = images.sel(field="B3/0", c=frame["channel"], z=frame["z_index"], t=0).values
    np.testing.assert_array_equal(got, sample_frame(spec, frame))
    missing = images.sel(field="B3/1", c="GFP", z=1, t=0).values
    assert not missing.any()  # never taken: zeros
    assert images.sel(field="B3/1", c="GFP", z=1, t=0).coords["z_um"].isnull()


def test_run_images_select_wells_channels_and_time_points(backend: Backend) -> None:
    images = run_images(
        backend.catalog[backend.uids["second"]], wells=["C1"], channels=["GFP"], time_indices=[1]
    )
    assert images.shape == (2, 1, 1, 2, 64, 64)
    assert set(images.coords["well"].values) == {"C1"}
    with pytest.raises(KeyError, match="no well"):
        run_images(backend.catalog[backend.uids["second"]], wells=["H12"])


def test_well_fields_still_reads_one_well(backend: Backend) -> None:
    run = backend.catalog[backend.uids["first"]]
    fields = well_fields(run, "B2", "DAPI", z_index=1)
    assert [(f.fov, f.z_index) for f in fields] == [(0, 1), (1, 1)]
    assert fields[1].x_um == pytest.approx(10_600.0)


@pytest.mark.slow
def test_server_reads_the_same_catalog(backend: Backend) -> None:
    uid = backend.uids["first"]
    local = run_images(backend.catalog[uid]).isel(field=2, t=0).values
    if backend.tables_uri is None:
        # DuckDB tables open in one process at a time: hand the directory over.
        backend.catalog.context.close()
    try:
        with TiledServer(
            backend.data_dir, catalog_uri=backend.catalog_uri, tables_uri=backend.tables_uri
        ) as server:
            remote_catalog = server.address.connect()
            try:
                assert uids_of(remote_catalog) == set(backend.uids.values())
                assert uids_of(find_runs(remote_catalog, well="B10")) == {backend.uids["second"]}
                remote = run_images(remote_catalog[uid]).isel(field=2, t=0).values
            finally:
                remote_catalog.context.close()
    finally:
        if backend.tables_uri is None:
            backend.catalog = open_catalog(backend.data_dir)
    np.testing.assert_array_equal(remote, local)
