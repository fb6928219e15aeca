"""The watcher starts again a lab's storage service that died; ``hcs lab status`` shows it down.

A real Redis (the lab's first service) is started, killed with SIGKILL and started
again; the pause between two restarts of a service that keeps dying grows.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import psutil
import pytest

from hcs_orchestrator.lab.processes import wait_for
from hcs_orchestrator.lab.restarter import HEALTHY_AFTER_S, RESTART_PAUSE_S, ServiceRestarter
from hcs_orchestrator.lab.services import REDIS, redis_answers
from hcs_orchestrator.lab.supervisor import Lab

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server")

PROFILE = Path(__file__).resolve().parents[4] / "profile"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def kill(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    psutil.wait_procs([psutil.Process(pid)], timeout=10)


@pytest.mark.slow
@pytest.mark.timeout(60)
def test_restarter_starts_a_killed_redis_again_and_waits_longer_when_it_keeps_dying(
    tmp_path: Path,
) -> None:
    lab = Lab(tmp_path / "lab", out=lambda line: None)
    settings = lab.set_up(tmp_path / "data", PROFILE, None)
    lines: list[str] = []
    clock = Clock()
    restarter = ServiceRestarter(lab, [REDIS], out=lines.append, clock=clock)
    first = lab.start(REDIS)
    try:
        assert restarter.check() == []  # up: nothing to do
        kill(first)
        states = {state.name: state for state in lab.states()}
        assert not states[REDIS].up and states[REDIS].pid is None  # `hcs lab status`: DOWN

        assert restarter.check() == [REDIS]
        second = lab.pid(REDIS)
        assert second is not None and second != first
        assert lines[0] == "redis is down: starting it again"
        assert lab.start(REDIS) == second  # one start at a time: it is up, nothing doubled
        kill(second)

        # Died again at once: started again only after a pause, then a longer one.
        assert restarter.check() == []
        clock.now += RESTART_PAUSE_S
        assert restarter.check() == [REDIS]
        third = lab.pid(REDIS)
        assert third is not None
        kill(third)
        clock.now += RESTART_PAUSE_S
        assert restarter.check() == []
        clock.now += RESTART_PAUSE_S
        assert restarter.check() == [REDIS]

        # Up long enough, it is healthy again: its next death is restarted at once.
        fourth = lab.pid(REDIS)
        assert fourth is not None
        clock.now += HEALTHY_AFTER_S
        kill(fourth)
        assert restarter.check() == [REDIS]
        assert wait_for(lambda: redis_answers(settings.host, settings.redis_port), 10)
    finally:
        lab.down()
