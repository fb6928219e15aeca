"""The decoding QC callback: image runs' documents in, QC runs in a real catalog out."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hcs_orchestrator.merfish.qc.callback import DecodingQc
from hcs_orchestrator.merfish.qc.summary import qc_summary
from hcs_storage.catalog import close_catalog, open_catalog
from hcs_storage.durable_storage import DurableStorage
from merfish_runs import Documents, image_run
from merfish_synthetic import N_ROUNDS, example_codebook, make_field

pytestmark = pytest.mark.slow  # system tests of a second or more each


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[tuple[Any, DurableStorage]]:
    catalog = open_catalog(tmp_path / "data")
    store = DurableStorage(tmp_path / "data", catalog)
    yield catalog, store
    store.close(30.0)
    close_catalog(catalog)


def _feed(qc: DecodingQc, docs: Documents) -> None:
    for name, doc in docs:
        qc(name, doc)


def test_qc_of_a_four_round_experiment_reaches_the_catalog_and_the_summary(
    tmp_path: Path, storage: tuple[Any, DurableStorage]
) -> None:
    catalog, store = storage
    fields = {("B2", 0): make_field(0), ("B2", 1): make_field(1)}
    qc = DecodingQc(example_codebook(), store)
    for r in range(1, N_ROUNDS + 1):
        for (well, fov), field in fields.items():
            _feed(qc, image_run(tmp_path / "frames", field, r, well=well, fov=fov))
    qc.close(120.0)
    assert qc.failures == 0 and qc.dropped == 0
    assert len(qc.qc_runs) == N_ROUNDS * len(fields)
    assert store.flush(60.0)

    summary = qc_summary(catalog, "exp-1")
    assert len(summary.rounds) == N_ROUNDS * len(fields)
    assert [(f.well, f.fov) for f in summary.fields] == sorted(fields)
    for f in summary.fields:
        assert f.decoded >= 0.95 * 150
        assert f.blank_rate < 0.01
        assert f.recovery_rate is None  # no truth given
    for r in summary.rounds:
        truth = fields[(r.well, r.fov)].shifts[r.round]
        assert r.shift_px == pytest.approx(truth, abs=0.3)
        assert len(r.spot_counts) == 2
    assert summary.flagged_rounds == ()
    assert any("decoded" in line for line in summary.lines())
    assert qc_summary(catalog, "another-experiment").rounds == ()


def test_qc_flags_the_swapped_rounds_in_the_catalog_and_gives_recovery_with_truth(
    tmp_path: Path, storage: tuple[Any, DurableStorage]
) -> None:
    catalog, store = storage
    field = make_field(5, swap={2: 3, 3: 2})
    truth = {("B2", 0): (field.positions, field.entries)}
    qc = DecodingQc(example_codebook(), store, truth=lambda well, fov: truth.get((well, fov)))
    for r in range(1, N_ROUNDS + 1):
        _feed(qc, image_run(tmp_path / "frames", field, r))
    qc.close(120.0)
    assert store.flush(60.0)
    summary = qc_summary(catalog, "exp-1")
    (decoded,) = summary.fields
    assert decoded.flagged_rounds == (2, 3)
    assert decoded.recovery_rate is not None and decoded.recovery_rate < 0.5
    assert any(line.startswith("QC warning: round 2: bit03") for line in summary.lines())


def test_a_round_arriving_before_round_1_is_checked_once_round_1_arrives(
    tmp_path: Path,
) -> None:
    emitted: Documents = []
    field = make_field(2)
    qc = DecodingQc(example_codebook(), lambda name, doc: emitted.append((name, doc)))
    _feed(qc, image_run(tmp_path / "frames", field, 3))
    qc.join()
    assert qc.qc_runs == [] and emitted == []
    _feed(qc, image_run(tmp_path / "frames", field, 1))
    qc.close(60.0)
    assert len(qc.qc_runs) == 1
    rounds = sorted(d["data"]["round"] for n, d in emitted if n == "event")
    assert rounds == [1, 3]


def test_the_callback_never_waits_for_a_stuck_worker_and_counts_what_it_could_not_queue(
    tmp_path: Path,
) -> None:
    stuck, release = threading.Event(), threading.Event()
    emitted: list[str] = []

    def slow_emit(name: str, doc: dict[str, Any]) -> None:
        stuck.set()
        release.wait(60.0)
        emitted.append(name)

    field = make_field(0)
    queue_size = 10
    qc = DecodingQc(example_codebook(), slow_emit, queue_size=queue_size)
    first = image_run(tmp_path / "frames", field, 1)
    for name, doc in first[:-1]:
        qc(name, doc)
        qc.join()
    qc(*first[-1])  # its stop: the worker checks round 1, then waits in emit
    assert stuck.wait(60.0)  # the worker is stuck emitting round 1's QC
    more = image_run(tmp_path / "frames", field, 2)
    _feed(qc, more)  # returns although nothing is taken off the queue
    assert qc.dropped == len(more) - queue_size
    assert qc.backlog == queue_size
    release.set()
    qc.close(60.0)
    assert qc.failures == 0
    assert emitted[0] == "start" and emitted[-1] == "stop"
