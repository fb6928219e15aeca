"""The document spool: journal format, routing, locking, and closing crashed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from event_model import ComposeRunBundle, ComposeStreamResourceBundle, compose_run

from hcs_storage.spool import (
    SpoolCorruptError,
    SpoolWriter,
    close_abandoned,
    encode_line,
    inspect_journal,
    is_abandoned,
    read_ack,
    read_journal,
    write_ack,
)


def run_documents(events: int = 3) -> list[tuple[str, dict[str, Any]]]:
    bundle = compose_run(metadata={"plan_name": "count"})
    desc = bundle.compose_descriptor(
        name="primary", data_keys={"x": {"source": "sim", "dtype": "number", "shape": []}}
    )
    docs: list[tuple[str, dict[str, Any]]] = [("start", dict(bundle.start_doc))]
    docs.append(("descriptor", dict(desc.descriptor_doc)))
    for i in range(events):
        docs.append(("event", dict(desc.compose_event(data={"x": i}, timestamps={"x": 0.0}))))
    docs.append(("stop", dict(bundle.compose_stop())))
    return docs


def tiff_resource(bundle: ComposeRunBundle) -> ComposeStreamResourceBundle:
    """A StreamResource of 8 x 8 ``camera`` frames, as a TIFF sequence."""
    compose = bundle.compose_stream_resource
    assert compose is not None
    return compose(
        mimetype="multipart/related;type=image/tiff",
        uri="file://localhost/frames/",
        data_key="camera",
        parameters={"chunk_shape": [1, 8, 8], "template": "{:06d}.tif"},
    )


def plate_documents(fields: list[int]) -> list[tuple[str, dict[str, Any]]]:
    """A plate run's documents: per field of view, one StreamDatum announcing its images
    in ``primary`` and one EventPage of their rows in ``frames``; no stop."""
    bundle = compose_run(metadata={"plan_name": "acquire_plate"})
    images = bundle.compose_descriptor(
        name="primary",
        data_keys={
            "camera": {
                "source": "sim",
                "dtype": "array",
                "shape": [1, 8, 8],
                "dtype_numpy": "<u2",
                "external": "STREAM:",
            }
        },
    )
    frames = bundle.compose_descriptor(
        name="frames",
        data_keys={"frame-fov": {"source": "hcs:frame", "dtype": "integer", "shape": []}},
    )
    resource = tiff_resource(bundle)
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", dict(bundle.start_doc)),
        ("descriptor", dict(images.descriptor_doc)),
        ("descriptor", dict(frames.descriptor_doc)),
        ("stream_resource", dict(resource.stream_resource_doc)),
    ]
    done = 0
    for fov, n in enumerate(fields):
        datum = resource.compose_stream_datum(
            indices={"start": done, "stop": done + n},
            seq_nums={"start": done + 1, "stop": done + n + 1},
            descriptor=images.descriptor_doc,
        )
        docs.append(("stream_datum", dict(datum)))
        page = frames.compose_event_page(
            data={"frame-fov": [fov] * n},
            timestamps={"frame-fov": [0.0] * n},
            seq_num=list(range(done + 1, done + n + 1)),
            time=[0.0] * n,
            uid=[f"row-{done + i}" for i in range(n)],
        )
        docs.append(("event_page", dict(page)))
        done += n
    return docs


def write_journal(path: Path, docs: list[tuple[str, dict[str, Any]]]) -> Path:
    path.write_bytes(b"".join(encode_line(i, n, d) for i, (n, d) in enumerate(docs)))
    return path


@pytest.mark.parametrize("fields", [[6], [3, 3], [2, 1, 3]], ids=["one", "two", "uneven"])
def test_inspect_journal_counts_images_and_their_rows_per_stream_when_a_plate_run_has_two(
    tmp_path: Path, fields: list[int]
) -> None:
    images = sum(fields)
    state = inspect_journal(write_journal(tmp_path / "run.jsonl", plate_documents(fields)))
    assert state.events == {"primary": images, "frames": images}
    assert not state.has_stop


def test_inspect_journal_counts_each_stream_up_to_its_own_last_document_when_cut_between_them(
    tmp_path: Path,
) -> None:
    docs = plate_documents([3, 3])[:-1]  # killed after the second field's images, before rows
    state = inspect_journal(write_journal(tmp_path / "run.jsonl", docs))
    assert state.events == {"primary": 6, "frames": 3}


def test_inspect_journal_counts_a_frame_once_when_its_event_and_stream_datum_share_a_stream(
    tmp_path: Path,
) -> None:
    bundle = compose_run(metadata={"plan_name": "count"})
    desc = bundle.compose_descriptor(
        name="primary",
        data_keys={
            "x": {"source": "sim", "dtype": "number", "shape": []},
            "camera": {
                "source": "sim",
                "dtype": "array",
                "shape": [1, 8, 8],
                "external": "STREAM:",
            },
        },
    )
    resource = tiff_resource(bundle)
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", dict(bundle.start_doc)),
        ("descriptor", dict(desc.descriptor_doc)),
        ("stream_resource", dict(resource.stream_resource_doc)),
    ]
    for i in range(4):
        datum = resource.compose_stream_datum(
            indices={"start": i, "stop": i + 1},
            seq_nums={"start": i + 1, "stop": i + 2},
            descriptor=desc.descriptor_doc,
        )
        docs.append(("stream_datum", dict(datum)))
        event = desc.compose_event(data={"x": i}, timestamps={"x": 0.0}, seq_num=i + 1)
        docs.append(("event", dict(event)))
    state = inspect_journal(write_journal(tmp_path / "run.jsonl", docs))
    assert state.events == {"primary": 4}


def test_close_abandoned_reports_the_images_and_rows_of_a_crashed_plate_run(
    tmp_path: Path,
) -> None:
    path = write_journal(tmp_path / "crashed.jsonl", plate_documents([3, 3]))
    stop = close_abandoned(path, reason=None)
    assert stop is not None
    assert stop["exit_status"] == "fail"
    assert stop["num_events"] == {"primary": 6, "frames": 6}


def test_encode_line_turns_numpy_values_into_plain_json() -> None:
    line = encode_line(3, "event", {"data": {"a": np.float32(1.5), "b": np.arange(3)}})
    assert line.endswith(b"\n")
    assert json.loads(line) == {
        "seq": 3,
        "name": "event",
        "doc": {"data": {"a": 1.5, "b": [0, 1, 2]}},
    }


def test_spool_writer_journals_each_run_in_order_with_seq_numbers(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    first, second = run_documents(2), run_documents(4)
    for name, doc in first + second:
        writer(name, doc)
    writer.close()
    for docs in (first, second):
        uid = docs[0][1]["uid"]
        entries = read_journal(tmp_path / f"{uid}.jsonl")
        assert [e.seq for e in entries] == list(range(len(docs)))
        assert [(e.name, e.doc["uid"]) for e in entries] == [(n, d["uid"]) for n, d in docs]
        assert writer.written[uid] == len(docs) - 1


def test_read_journal_ignores_a_torn_last_line_and_resumes_from_an_offset(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    path.write_bytes(encode_line(0, "start", {"uid": "u"}) + encode_line(1, "event", {}) + b'{"se')
    entries = read_journal(path)
    assert [e.seq for e in entries] == [0, 1]
    assert [e.seq for e in read_journal(path, entries[0].end_offset)] == [1]
    path.write_bytes(b"not json\n")
    with pytest.raises(SpoolCorruptError):
        read_journal(path)


def test_open_journal_is_locked_until_its_stop(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path)
    docs = run_documents(1)
    for name, doc in docs[:-1]:
        writer(name, doc)
    path = tmp_path / f"{docs[0][1]['uid']}.jsonl"
    assert not is_abandoned(path)
    assert close_abandoned(path) is None  # its writer is alive: not closed
    writer(*docs[-1])
    writer.close()  # the background sync of the stop holds the file until it is done
    assert is_abandoned(path)  # closed properly: lock released
    assert close_abandoned(path) is None  # and it has its stop already


def test_close_abandoned_drops_a_torn_line_and_appends_a_failed_stop(tmp_path: Path) -> None:
    docs = run_documents(3)[:-1]  # no stop: the writer crashed
    path = tmp_path / "crashed.jsonl"
    path.write_bytes(
        b"".join(encode_line(i, n, d) for i, (n, d) in enumerate(docs)) + b'{"seq": 5, "na'
    )
    stop = close_abandoned(path, reason=None)
    assert stop is not None
    assert stop["exit_status"] == "fail"
    assert "without closing" in stop["reason"]
    assert stop["num_events"] == {"primary": 3}
    entries = read_journal(path)
    assert [e.name for e in entries][-1] == "stop"
    assert [e.seq for e in entries] == list(range(len(docs) + 1))
    assert inspect_journal(path).has_stop


def test_journal_of_a_killed_process_is_abandoned_and_complete_up_to_the_kill(
    tmp_path: Path,
) -> None:
    script = f"""
import os, signal, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_spool import run_documents
from hcs_storage.spool import SpoolWriter
writer = SpoolWriter({str(tmp_path)!r}, sync_every=10**9, sync_interval_s=10**9)
for name, doc in run_documents(50)[:-1]:
    writer(name, doc)
print(next(iter(writer.written)), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == -9, result.stderr
    uid = result.stdout.strip()
    path = tmp_path / f"{uid}.jsonl"
    assert len(read_journal(path)) == 52  # never synced, but written: the kill loses nothing
    assert is_abandoned(path)


def test_background_sync_runs_every_n_documents(tmp_path: Path) -> None:
    writer = SpoolWriter(tmp_path, sync_every=2, sync_interval_s=10**9)
    for name, doc in run_documents(6)[:-1]:
        writer(name, doc)
    writer.close()
    assert writer.syncs >= 3


def test_ack_is_written_atomically_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "run.ack"
    assert read_ack(path) == {"seq": -1, "complete": False}
    write_ack(path, 7, complete=True, sync=True)
    assert read_ack(path)["seq"] == 7
    assert read_ack(path)["complete"] is True
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".tmp")]
