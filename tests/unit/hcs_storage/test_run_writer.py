"""The run writer: what registering a field's frames costs does not grow with the run.

A run like a plate's (one StreamResource for the camera, one StreamDatum per field of
view) is written into a real embedded catalog through :class:`ResumableRunWriter`,
flushed once per field as the forwarder does when it keeps up. What each registration
sends to Tiled, what Tiled stores for it, and what the writer keeps in memory are
counted early in the run and late in it.
"""

from __future__ import annotations

import gc
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tifffile
from bluesky_tiled_plugins.writing.tiled_writer import RunNormalizer
from event_model import compose_run
from test_forwarder import camera_key, camera_resource
from tiled.structures.data_source import Asset

from hcs_schema import CATALOG_FILE
from hcs_storage import run_writer
from hcs_storage.catalog import close_catalog, frames_dir, open_catalog
from hcs_storage.query import image_stack
from hcs_storage.run_writer import ResumableRunWriter, SeqNumRuns

SHAPE = (8, 8)
FIELD = 4  # frames per field of view


class PlateRun:
    """A camera run fed document by document into a writer, flushed per field."""

    def __init__(
        self,
        client: Any,
        frames_root: Path,
        *,
        files: bool = False,
        shape: tuple[int, int] = SHAPE,
    ) -> None:
        self.writer = ResumableRunWriter(client)
        self._normalizer = RunNormalizer()
        self._normalizer.subscribe(self.writer)
        self._bundle = compose_run(metadata={"plan_name": "synthetic"})
        self.uid = self._bundle.start_doc["uid"]
        self.directory = frames_root / self.uid
        self.directory.mkdir(parents=True)
        self._files = files
        self._shape = shape
        uri = f"file://localhost{self.directory}/"
        self._desc = self._bundle.compose_descriptor(
            name="primary", data_keys={"camera": camera_key(uri, shape)}
        )
        self._sres = camera_resource(self._bundle, uri, shape)
        self._normalizer("start", self._bundle.start_doc)
        self._normalizer("descriptor", self._desc.descriptor_doc)
        self._normalizer("stream_resource", self._sres.stream_resource_doc)
        self.frames = 0

    def field(self, frames: int = FIELD) -> None:
        """Take ``frames`` frames, announce them with one StreamDatum, and flush."""
        start = self.frames
        if self._files:
            for i in range(start, start + frames):
                frame = np.full(self._shape, i, np.uint16)
                tifffile.imwrite(self.directory / f"{i:06d}.tif", frame)
        datum = self._sres.compose_stream_datum(
            indices={"start": start, "stop": start + frames},
            seq_nums={"start": start + 1, "stop": start + frames + 1},
            descriptor=self._desc.descriptor_doc,
        )
        self.frames += frames
        self._normalizer("stream_datum", datum)
        self.writer.flush()

    def stop(self) -> None:
        """Close the run."""
        self._normalizer("stop", self._bundle.compose_stop(exit_status="success"))


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture
def catalog(data_dir: Path) -> Iterator[Any]:
    client = open_catalog(data_dir)
    yield client.include_data_sources()
    close_catalog(client)


def record_registrations(client: Any) -> list[bytes]:
    """The body of every frame registration (data source update) ``client`` sends from now."""
    bodies: list[bytes] = []

    def record(request: httpx.Request) -> None:
        if request.method == "PUT" and "/data_source/" in request.url.path:
            bodies.append(request.read())

    client.context.http_client.event_hooks["request"].append(record)
    return bodies


@pytest.fixture
def registrations(catalog: Any) -> list[bytes]:
    return record_registrations(catalog)


def largest_stored_structure(data_dir: Path) -> int:
    """Bytes of the largest structure the catalog has stored."""
    with sqlite3.connect(data_dir / CATALOG_FILE) as db:
        (size,) = db.execute("SELECT MAX(LENGTH(structure)) FROM structures").fetchone()
    return int(size)


@pytest.mark.slow
def test_run_writer_sends_and_stores_as_much_per_field_when_the_run_has_grown(
    catalog: Any, data_dir: Path, registrations: list[bytes]
) -> None:
    run = PlateRun(catalog, frames_dir(data_dir))
    for _ in range(4):
        run.field()
    early_body = len(registrations[-1])
    early_stored = largest_stored_structure(data_dir)
    run.field(4096)  # the run grows by a thousand fields' worth of frames
    run.field()
    late_body = len(registrations[-1])
    # Only the field's own assets travel, and the structure does not list every frame:
    # a few bytes more for longer numbers, not ~2 bytes per frame of the run (~8 kB).
    assert late_body - early_body < 100
    assert largest_stored_structure(data_dir) - early_stored < 100
    assert image_stack(catalog[run.uid]).shape == (4116, 1, *SHAPE)
    run.stop()


@pytest.mark.slow
def test_run_writer_keeps_no_asset_of_frames_already_registered(
    catalog: Any, data_dir: Path
) -> None:
    run = PlateRun(catalog, frames_dir(data_dir))
    run.field()
    gc.collect()
    before = sum(isinstance(o, Asset) for o in gc.get_objects())
    for _ in range(256):
        run.field()
    gc.collect()
    after = sum(isinstance(o, Asset) for o in gc.get_objects())
    assert after - before < FIELD * 4  # not one per frame registered (1,024)
    run.stop()


@pytest.mark.slow
def test_images_read_back_frame_by_frame_and_by_block_in_chunks_of_several_frames(
    catalog: Any, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame_bytes = int(np.prod(SHAPE)) * 2
    monkeypatch.setattr(run_writer, "CHUNK_BYTES", 3 * frame_bytes)  # 3 frames a chunk
    run = PlateRun(catalog, frames_dir(data_dir), files=True)
    for _ in range(2):
        run.field()
    run.field(2)
    run.stop()
    images = image_stack(catalog[run.uid])
    assert images.chunks[0] == (3, 3, 3, 1)
    stack = images.read()
    assert stack.shape == (10, 1, *SHAPE)
    assert [int(stack[i, 0, 0, 0]) for i in range(10)] == list(range(10))  # the right files
    assert int(images[7, 0, 5, 5]) == 7
    assert images.read_block((1, 0, 0, 0))[:, 0, 0, 0].tolist() == [3, 4, 5]


def test_stack_chunks_holds_whole_frames_up_to_the_chunk_size() -> None:
    from tiled.structures.array import ArrayStructure

    frames = ArrayStructure.from_array(np.zeros((10, 1, 1024, 1024), np.uint16))
    per_chunk = run_writer.CHUNK_BYTES // (1024 * 1024 * 2)
    chunks = run_writer.stack_chunks(frames).chunks
    assert sum(chunks[0]) == 10
    assert max(chunks[0]) == min(per_chunk, 10)
    assert chunks[1:] == frames.chunks[1:]
    huge = ArrayStructure.from_array(np.zeros((3, 1, 1, 1), np.uint16))
    huge = huge.__class__(
        data_type=huge.data_type,
        shape=(3, 1, 8192, 8192),
        chunks=((1, 1, 1), (1,), (8192,), (8192,)),
    )
    assert run_writer.stack_chunks(huge).chunks[0] == (1, 1, 1)  # one frame is over the size


@pytest.mark.slow
def test_run_writer_keeps_a_run_s_sequence_numbers_as_one_range_not_one_entry_per_frame(
    catalog: Any, data_dir: Path
) -> None:
    run = PlateRun(catalog, frames_dir(data_dir))
    for _ in range(64):
        run.field()
    (consolidator,) = {id(c): c for c in run.writer._consolidators.values()}.values()  # pyright: ignore[reportPrivateUsage]
    pairs = consolidator._seqnums_to_indices_map  # pyright: ignore[reportPrivateUsage]
    assert isinstance(pairs, SeqNumRuns)
    assert pairs._runs == [[1, 64 * FIELD + 1, 0]]  # pyright: ignore[reportPrivateUsage]
    assert len(pairs) == 64 * FIELD and pairs[64 * FIELD] == 64 * FIELD - 1
    assert not consolidator.has_skips
    assert image_stack(catalog[run.uid]).shape == (64 * FIELD, 1, *SHAPE)
    run.stop()


def as_dict_and_runs(*updates: dict[int, int]) -> tuple[dict[int, int], SeqNumRuns]:
    plain, runs = {}, SeqNumRuns()
    for pairs in updates:
        plain.update(pairs)
        runs.update(pairs)
    return plain, runs


@pytest.mark.parametrize(
    "updates",
    [
        ({1: 0, 2: 1}, {3: 2, 4: 3}),  # consecutive: one run
        ({1: 0, 2: 1}, {5: 2, 6: 3}),  # a gap in sequence numbers: two runs
        ({1: 0}, {2: 5}),  # a gap in indices: two runs
        ({1: 0, 2: 1, 3: 2}, {2: 7}),  # a sequence number again: a plain dict
        ({5: 0}, {1: 1}),  # going back: a plain dict
        ({1: 0, 3: 1},),  # not consecutive within one update: a plain dict
        ({},),
    ],
)
def test_seq_num_runs_mean_what_a_dict_of_the_same_updates_means(
    updates: tuple[dict[int, int], ...],
) -> None:
    plain, runs = as_dict_and_runs(*updates)
    assert len(runs) == len(plain)
    assert dict(runs.items()) == plain
    assert list(runs) == list(plain)
    with pytest.raises(KeyError):
        runs[100]
