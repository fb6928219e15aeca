"""The lab's RE Manager queue waits for Redis to come back instead of failing.

A real Redis with its data in an append-only file is killed (SIGKILL) and started
again on the same port a moment later, while the queue records a finished plan.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from pathlib import Path

import pytest
from bluesky_queueserver.manager.plan_queue_ops import PlanQueueOperations
from redis import exceptions as redis_exceptions

from hcs_orchestrator.lab.layout import LabLayout, LabSettings
from hcs_orchestrator.lab.processes import wait_for
from hcs_orchestrator.lab.re_manager import (
    REDIS_OUTAGE_S,
    RETRY_CAP_S,
    OutageTolerantPlanQueue,
    outage_retry,
)
from hcs_orchestrator.lab.services import redis_answers, redis_argv
from hcs_storage.server import free_port

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")


def test_outage_retry_lasts_the_outage_and_backs_off_to_its_cap() -> None:
    retry = outage_retry(10.0)
    pauses = [retry._backoff.compute(n) for n in range(1, retry.get_retries() + 1)]
    assert 10.0 <= sum(pauses) < 10.0 + RETRY_CAP_S
    assert pauses == sorted(pauses) and pauses[-1] == RETRY_CAP_S
    assert (
        sum(outage_retry()._backoff.compute(n) for n in range(1, outage_retry().get_retries() + 1))
        >= REDIS_OUTAGE_S
    )


def start_redis(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """Redis as a lab runs it (its data in ``directory/redis``), on ``port``."""
    settings = LabSettings("", "", "", redis_port=port, tiled_port=0, zmq_control_port=0,
                           zmq_info_port=0)  # fmt: skip
    layout = LabLayout(directory)
    layout.make()
    process = subprocess.Popen(redis_argv(layout, settings), stdout=subprocess.DEVNULL)
    if not wait_for(lambda: redis_answers("127.0.0.1", port), 10, 0.05):
        process.kill()
        raise RuntimeError("redis-server did not start")
    return process


@pytest.mark.slow
@pytest.mark.timeout(60)
async def test_queue_records_a_finished_plan_once_a_killed_redis_is_back(tmp_path: Path) -> None:
    port = free_port()
    redis = start_redis(tmp_path, port)
    queue = OutageTolerantPlanQueue(redis_host=f"127.0.0.1:{port}", name_prefix="hcs_test")
    plain = PlanQueueOperations(redis_host=f"127.0.0.1:{port}", name_prefix="hcs_plain")
    try:
        await queue.start()
        await plain.start()
        await queue.add_item_to_queue({"item_type": "plan", "name": "acquire_plate"})
        running = await queue.process_next_item()
        assert running["name"] == "acquire_plate"

        redis.kill()  # SIGKILL
        redis.wait()
        # bluesky-queueserver's own queue fails at once (the manager then stays stuck).
        with pytest.raises(redis_exceptions.ConnectionError):
            await plain.set_processed_item_as_completed(
                exit_status="completed", run_uids=[], scan_ids=[], err_msg="", err_tb=""
            )
        # The plan ends while Redis is down: recording it waits for Redis instead of failing.
        record = asyncio.ensure_future(
            queue.set_processed_item_as_completed(
                exit_status="completed", run_uids=["run-1"], scan_ids=[1], err_msg="", err_tb=""
            )
        )
        await asyncio.sleep(1.5)
        assert not record.done()
        redis = start_redis(tmp_path, port)  # same port, same data
        item = await asyncio.wait_for(record, 30)
        assert item["result"]["exit_status"] == "completed"
        history, _ = await queue.get_history()
        assert [entry["result"]["run_uids"] for entry in history] == [["run-1"]]
        assert queue.get_running_item_info() == {}
    finally:
        await queue.stop()
        await plain.stop()
        redis.kill()
        redis.wait()
