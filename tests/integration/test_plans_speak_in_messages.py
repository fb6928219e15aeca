"""Plans touch hardware only through messages: every hardware call is the RunEngine's.

Every coroutine method of the simulated hardware (stage axes, light, filter wheel,
camera frame source, the burst sequencer) records, when called, which message the
RunEngine was handling and whether plan code was running at that moment. A plan's
code runs inside the generator's ``send``; a task it started would carry that mark in
its context. The plate plan must leave no call made from plan code, none from another
thread, and none under a ``wait_for`` (a callable handed to the RunEngine, not a
device command). Two small plans that break the rule show that the check catches
them.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import threading
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from bluesky.utils import Msg, MsgGenerator
from plate_harness import SessionHarness, open_test_session
from test_plate_acquisition import make_spec, plate_sequence

from hcs_devices.config import MicroscopeConfig
from hcs_plans.acquire import acquire_plate

pytestmark = pytest.mark.slow

#: True while plan code (the generator) runs; tasks it starts inherit it.
IN_PLAN: contextvars.ContextVar[bool] = contextvars.ContextVar("in_plan", default=False)
#: The message the RunEngine handles now (set by its message hook).
HANDLING: contextvars.ContextVar[str] = contextvars.ContextVar("handling", default="")

SEQUENCE = plate_sequence(rows=1, columns=2, channels=(("DAPI", 2.0), ("GFP", 3.0)), z_range=1.0)


@dataclass(frozen=True)
class Call:
    hardware: str
    method: str
    in_plan: bool
    handling: str
    thread: str


def marked(plan: Generator[Msg, Any, Any]) -> MsgGenerator:
    """``plan``, with :data:`IN_PLAN` set while its own code runs."""
    response: Any = None
    error: BaseException | None = None
    while True:
        token = IN_PLAN.set(True)
        try:
            msg = plan.throw(error) if error is not None else plan.send(response)
        except StopIteration as stop:
            return stop.value
        finally:
            IN_PLAN.reset(token)
        error = None
        try:
            response = yield msg
        except BaseException as exc:  # handed to the plan, as the RunEngine does
            error = exc


class Recorder:
    """Wraps every coroutine method of the simulated hardware to record its calls."""

    def __init__(self, harness: SessionHarness) -> None:
        self.calls: list[Call] = []
        self._undo: list[Callable[[], None]] = []
        m = harness.microscope
        sim = harness.sim
        self.targets: dict[str, Any] = {
            "x": sim.x,
            "y": sim.y,
            "z": sim.z,
            "illumination": sim.illumination,
            "filter_wheel": sim.filter_wheel,
            "frame_source": m.camera.source,
            "sequencer": m.camera.sequencer,
        }
        self.loop_thread = ""

    def _wrap(self, name: str, target: Any, method: str) -> None:
        original = getattr(target, method)

        @functools.wraps(original)
        async def recorded(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(
                Call(name, method, IN_PLAN.get(), HANDLING.get(), threading.current_thread().name)
            )
            return await original(*args, **kwargs)

        setattr(target, method, recorded)
        self._undo.append(lambda: delattr(target, method))

    @contextlib.contextmanager
    def installed(self, harness: SessionHarness) -> Iterator[Recorder]:
        for name, target in self.targets.items():
            for method in dir(type(target)):
                if not method.startswith("_") and asyncio.iscoroutinefunction(
                    getattr(type(target), method)
                ):
                    self._wrap(name, target, method)

        def hook(msg: Msg) -> None:
            HANDLING.set(msg.command)

        harness.RE.msg_hook = hook
        self.loop_thread = harness.on_loop(_thread_name)
        try:
            yield self
        finally:
            harness.RE.msg_hook = None
            for undo in reversed(self._undo):
                undo()

    def violations(self) -> list[Call]:
        return [
            c
            for c in self.calls
            if c.in_plan or c.thread != self.loop_thread or c.handling in ("", "wait_for")
        ]


async def _thread_name() -> str:
    return threading.current_thread().name


@pytest.fixture(scope="module")
def harness(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(fast_profile_config, tmp_path_factory.mktemp("messages")) as h:
        yield h


@pytest.mark.parametrize("hardware", [True, False], ids=["burst", "software"])
def test_acquire_plate_calls_hardware_only_from_message_handling_when_run(
    harness: SessionHarness, hardware: bool
) -> None:
    spec = make_spec(SEQUENCE, hardware_sequencing=hardware)
    with Recorder(harness).installed(harness) as recorder:
        harness.RE(marked(acquire_plate(harness.microscope, spec)))
    assert recorder.violations() == []
    called = {c.hardware for c in recorder.calls}
    expected = {"x", "y", "z", "illumination", "filter_wheel", "frame_source"}
    assert expected <= called
    # Software triggers set each frame up through the devices, not the hardware's sequencer.
    assert ("sequencer" in called) == hardware
    exposures = [c for c in recorder.calls if c.method == "expose"]
    assert len(exposures) == 8  # 2 fields x 2 channels x 2 planes
    # Frames are taken by the task each field's kickoff started, in either mode.
    assert {c.handling for c in exposures} == {"kickoff"}


def test_recorder_catches_a_plan_that_calls_hardware_from_its_own_code(
    harness: SessionHarness,
) -> None:
    stage_z = harness.sim.z

    def sneaky() -> MsgGenerator:
        yield Msg("null")
        task = asyncio.ensure_future(stage_z.position_um())  # plan code reaching around
        yield Msg("sleep", None, 0.01)
        assert task.done()

    def waits_on_hardware() -> MsgGenerator:
        yield Msg("wait_for", None, [stage_z.position_um])

    with Recorder(harness).installed(harness) as recorder:
        harness.RE(marked(sneaky()))
        harness.RE(marked(waits_on_hardware()))
    bad = [(c.hardware, c.method, c.in_plan, c.handling) for c in recorder.violations()]
    assert bad[0] == ("z", "position_um", True, "null")
    assert ("z", "position_um", False, "wait_for") in bad
