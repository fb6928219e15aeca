"""The forwarder: spool -> Tiled, exactly once across crashes, failures and restarts.

A synthetic run (TIFF frames on disk announced by StreamResource/StreamDatum, one event
per frame, as the camera emits them) is journaled, then forwarded into an embedded
catalog while things go wrong: the forwarder is dropped mid-run and its acknowledgement
file lost, Tiled requests fail, the writer process dies without a stop document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import tifffile
from event_model import compose_run

from hcs_storage.catalog import frames_dir, open_catalog
from hcs_storage.durable_storage import DurableStorage
from hcs_storage.forwarder import Forwarder
from hcs_storage.run_writer import ResumableRunWriter
from hcs_storage.spool import encode_line, read_ack, read_journal

Docs = list[tuple[str, dict[str, Any]]]
SHAPE = (8, 8)


def camera_key(uri: str, shape: tuple[int, int]) -> dict[str, Any]:
    """The camera's data key: one frame of ``shape`` per row, each in a TIFF file."""
    return {
        "source": uri,
        "shape": [1, *shape],
        "dtype": "array",
        "dtype_numpy": "<u2",
        "external": "STREAM:",
    }


def camera_resource(bundle: Any, uri: str, shape: tuple[int, int]) -> Any:
    """The camera's StreamResource: a TIFF sequence, one frame per file, in ``uri``."""
    return bundle.compose_stream_resource(
        mimetype="multipart/related;type=image/tiff",
        uri=uri,
        data_key="camera",
        parameters={"chunk_shape": [1, *shape], "template": "{:06d}.tif"},
    )


def synthetic_run(frames_root: Path, frames: int) -> Docs:
    """A run like the camera's: one frame file + StreamDatum + event per image."""
    bundle = compose_run(metadata={"plan_name": "synthetic"})
    uid = bundle.start_doc["uid"]
    directory = frames_root / uid
    directory.mkdir(parents=True)
    for i in range(frames):
        tifffile.imwrite(directory / f"{i:06d}.tif", np.full(SHAPE, i, np.uint16))
    uri = f"file://localhost{directory}/"
    desc = bundle.compose_descriptor(
        name="primary",
        data_keys={
            "camera": camera_key(uri, SHAPE),
            "frame-well": {"source": "hcs:frame", "dtype": "string", "shape": []},
            "frame-fov": {"source": "hcs:frame", "dtype": "integer", "shape": []},
        },
    )
    sres = camera_resource(bundle, uri, SHAPE)
    docs: Docs = [("start", dict(bundle.start_doc)), ("descriptor", dict(desc.descriptor_doc))]
    docs.append(("stream_resource", dict(sres.stream_resource_doc)))
    for i in range(frames):
        datum = sres.compose_stream_datum(
            indices={"start": i, "stop": i + 1},
            seq_nums={"start": i + 1, "stop": i + 2},
            descriptor=desc.descriptor_doc,
        )
        docs.append(("stream_datum", dict(datum)))
        docs.append(
            (
                "event",
                dict(
                    desc.compose_event(
                        data={"frame-well": "B2", "frame-fov": i},
                        timestamps={"frame-well": 0.0, "frame-fov": 0.0},
                        seq_num=i + 1,
                    )
                ),
            )
        )
    docs.append(("stop", dict(bundle.compose_stop(exit_status="success"))))
    return docs


def journal(spool: Path, docs: Docs) -> Path:
    """Write a journal as a writer that ended (cleanly, or by a crash) would leave it."""
    spool.mkdir(parents=True, exist_ok=True)
    path = spool / f"{docs[0][1]['uid']}.jsonl"
    path.write_bytes(b"".join(encode_line(i, n, d) for i, (n, d) in enumerate(docs)))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("catalog")


@pytest.fixture(scope="module")
def catalog(data_dir: Path) -> Any:
    return open_catalog(data_dir)


@pytest.fixture
def spool(data_dir: Path) -> Iterator[Path]:
    path = data_dir / f"spool-{uuid.uuid4().hex[:8]}"
    yield path


def drain(forwarder: Forwarder, passes: int = 200) -> None:
    for _ in range(passes):
        if not forwarder.drain_once() and not forwarder._runs:  # pyright: ignore[reportPrivateUsage]
            return
    raise AssertionError("the forwarder did not finish")


def assert_exactly_once(catalog: Any, docs: Docs, exit_status: str = "success") -> Any:
    uid = docs[0][1]["uid"]
    events = [d for n, d in docs if n == "event"]
    run = catalog[uid]
    table = run["primary"].base["internal"].read()
    assert sorted(table["seq_num"]) == [e["seq_num"] for e in events]  # each once
    images = run["primary"]["camera"]
    assert images.shape[0] == len(events)
    assert int(images[len(events) - 1, 0, 0, 0]) == len(events) - 1  # the right files
    assert run.metadata["stop"]["exit_status"] == exit_status
    return run


@pytest.mark.slow
def test_forwarder_writes_a_journaled_run_into_the_catalog(
    catalog: Any, data_dir: Path, spool: Path
) -> None:
    docs = synthetic_run(frames_dir(data_dir), 7)
    path = journal(spool, docs)
    forwarder = Forwarder(spool, catalog, batch_docs=4)
    drain(forwarder)
    assert_exactly_once(catalog, docs)
    assert read_ack(path.with_suffix(".ack")) | {"time": 0} == {
        "seq": len(docs) - 1,
        "complete": True,
        "time": 0,
    }
    assert forwarder.stats.documents == len(docs)


@pytest.mark.slow
@pytest.mark.parametrize("batches_before_crash", [1, 3])
def test_restarted_forwarder_writes_nothing_twice_even_without_its_ack_file(
    catalog: Any, data_dir: Path, spool: Path, batches_before_crash: int
) -> None:
    docs = synthetic_run(frames_dir(data_dir), 7)
    path = journal(spool, docs)
    first = Forwarder(spool, catalog, batch_docs=5)
    for _ in range(batches_before_crash):
        first.drain_once()
    assert not read_ack(path.with_suffix(".ack"))["complete"]
    path.with_suffix(".ack").unlink()  # the crash came before the ack was recorded
    second = Forwarder(spool, catalog, batch_docs=5)
    drain(second)
    assert_exactly_once(catalog, docs)


@pytest.mark.slow
def test_forwarder_retries_failed_requests_with_backoff_and_loses_nothing(
    catalog: Any, data_dir: Path, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    docs = synthetic_run(frames_dir(data_dir), 8)
    journal(spool, docs)
    real_flush = ResumableRunWriter.flush
    calls = {"n": 0}

    def flaky_flush(self: ResumableRunWriter) -> None:
        calls["n"] += 1
        if calls["n"] in (2, 3):
            real_flush(self)  # written, then the response is "lost"
            raise httpx.ConnectError("Tiled went away")
        real_flush(self)

    monkeypatch.setattr(ResumableRunWriter, "flush", flaky_flush)
    forwarder = Forwarder(spool, catalog, batch_docs=5, backoff_initial_s=0.0)
    drain(forwarder)
    assert forwarder.stats.failures == 2
    assert "Tiled went away" in (forwarder.stats.last_error or "")
    assert_exactly_once(catalog, docs)


@pytest.mark.slow
def test_forwarder_backs_off_exponentially_up_to_the_cap(
    catalog: Any, data_dir: Path, spool: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    journal(spool, synthetic_run(frames_dir(data_dir), 2))

    def down(self: ResumableRunWriter) -> None:
        raise httpx.ConnectError("down")

    monkeypatch.setattr(ResumableRunWriter, "flush", down)
    forwarder = Forwarder(spool, catalog, backoff_initial_s=1.0, backoff_max_s=4.0)
    delays = []
    for _ in range(5):
        for run in forwarder._runs.values():  # pyright: ignore[reportPrivateUsage]
            run.retry_at = 0.0
        forwarder.drain_once()
        delays.append(round(forwarder.next_retry_in()))
    assert delays == [1, 2, 4, 4, 4]


def test_forwarder_closes_a_run_whose_writer_died_with_a_failed_stop(
    catalog: Any, data_dir: Path, spool: Path
) -> None:
    docs = synthetic_run(frames_dir(data_dir), 6)
    crashed = docs[: 3 + 2 * 4]  # start, descriptor, resource, 4 frames; no stop
    path = journal(spool, crashed)
    with open(path, "ab") as fh:
        fh.write(b'{"seq": 11, "name": "stream_da')  # torn by the crash
    forwarder = Forwarder(spool, catalog, batch_docs=100)
    drain(forwarder)
    run = assert_exactly_once(catalog, crashed, exit_status="fail")
    assert "without closing" in run.metadata["stop"]["reason"]
    assert run.metadata["stop"]["num_events"] == {"primary": 4}
    assert read_journal(path)[-1].name == "stop"


@pytest.mark.slow
def test_durable_storage_flush_means_the_catalog_holds_everything(
    catalog: Any, data_dir: Path, tmp_path: Path
) -> None:
    storage = DurableStorage(tmp_path, catalog, poll_s=0.05)
    docs = synthetic_run(frames_dir(data_dir), 5)
    try:
        for name, doc in docs[:-1]:
            storage(name, doc)
        assert storage.flush(30.0)
        uid = docs[0][1]["uid"]
        assert "stop" not in catalog[uid].metadata  # the open run is not closed by anyone
        storage(*docs[-1])
        assert storage.flush(30.0)
        assert storage.backlog == 0
        assert_exactly_once(catalog, docs)
    finally:
        assert storage.close(30.0)
