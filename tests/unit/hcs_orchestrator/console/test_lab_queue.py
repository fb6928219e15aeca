"""The console's lab queue client: finding the lab, a manager that does not answer."""

from __future__ import annotations

import gc
import warnings
from pathlib import Path

import pytest

from hcs_orchestrator.console.lab_queue import LabQueue, item_summary, lab_settings
from hcs_orchestrator.lab.layout import LabLayout, LabSettings


def test_lab_settings_give_the_managers_loopback_address_from_lab_json(tmp_path: Path) -> None:
    layout = LabLayout(tmp_path)
    layout.save(LabSettings.new(tmp_path / "data", tmp_path / "profile", None))
    settings = layout.load()
    assert settings is not None
    address = lab_settings(tmp_path).zmq_control_address
    assert address == f"tcp://127.0.0.1:{settings.zmq_control_port}"


@pytest.mark.slow
def test_a_lab_queue_whose_manager_does_not_answer_says_so_and_leaves_no_0mq_context(
    tmp_path: Path,
) -> None:
    settings = LabSettings.new(tmp_path / "data", tmp_path / "profile", None)
    LabLayout(tmp_path).save(settings)  # nothing listens at its free ports
    address = settings.zmq_control_address
    queue = LabQueue(tmp_path, timeout_s=0.3)
    try:
        view = queue.snapshot()
    finally:
        queue.close()
    assert view["mode"] == "lab" and view["control"] == address
    assert view["error"].startswith(f"the lab's RE Manager at {address} does not answer")
    del queue
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert not [w for w in caught if "Unclosed context" in str(w.message)]


def test_a_history_item_is_summarised_with_how_it_ended() -> None:
    item = {
        "item_uid": "u1",
        "name": "acquire_plate",
        "args": ["microscope"],
        "kwargs": {"spec": "demo.yaml"},
        "user": "ann",
        "item_type": "plan",
        "result": {"exit_status": "failed", "msg": "out of range", "run_uids": ["r1"]},
    }
    summary = item_summary(item)
    assert summary["exit_status"] == "failed" and summary["msg"] == "out of range"
    assert summary["run_uids"] == ["r1"] and summary["user"] == "ann"
    assert item_summary({"name": "mv"})["exit_status"] == ""  # waiting: no result yet


def test_no_lab_directory_is_named_in_the_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no lab there"):
        lab_settings(tmp_path / "nothing")
