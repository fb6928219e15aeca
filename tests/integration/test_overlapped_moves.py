"""The plate plan overlaps what the hardware can overlap, and never a move with an exposure.

Between two fields of view the stage, the filter wheel and the focus are separate
motors: the filter turns to the next field's first channel, and the focus goes to its
first plane, while the stage travels there. Inside a burst the focus and the filter
move at once. No move of any of them may happen while the camera exposes.

The simulated hardware's backends are wrapped to log when each move and each exposure
starts and ends (monotonic clock); the run is a real RunEngine on the simulated
microscope.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from bluesky.run_engine import RunEngine
from plate_harness import fast_config

from hcs_devices.config import MicroscopeConfig
from hcs_devices.factory import Microscope
from hcs_plans.acquire import acquire_plate
from hcs_plans.specs import spec_from_data

#: (what, start, end, argument) of every move and exposure.
Event = tuple[str, float, float, Any]
X0_UM, Y0_UM = 20_000.0, 20_000.0


def logged(events: list[Event], what: str, call: Callable[..., Awaitable[Any]]):
    async def wrapper(*args: Any) -> Any:
        start = time.monotonic()
        result = await call(*args)
        events.append((what, start, time.monotonic(), args[0] if args else None))
        return result

    return wrapper


@pytest.fixture
def microscope_and_events(
    profile_config: MicroscopeConfig, make_microscope: Callable[..., Microscope]
) -> tuple[Microscope, list[Event]]:
    config = fast_config(profile_config)
    # A wheel that takes time (fast_config's is instant): 20 ms per position.
    wheel = config.filter_wheel.model_copy(update={"move_time_per_position_s": 0.02})
    microscope = make_microscope(config.model_copy(update={"filter_wheel": wheel}))
    events: list[Event] = []
    stage, wheel_backend = microscope.stage_, microscope.filter_wheel.backend
    for name, backend in (("x", stage.x.backend), ("y", stage.y.backend), ("z", stage.z.backend)):
        backend.move_to = logged(events, name, backend.move_to)  # type: ignore[method-assign]
    wheel_backend.move_to = logged(events, "filter", wheel_backend.move_to)  # type: ignore[method-assign]
    source = microscope.camera.source
    source.expose = logged(events, "exposure", source.expose)  # type: ignore[method-assign]
    return microscope, events


@pytest.mark.slow
@pytest.mark.parametrize("hardware_sequencing", [True, False], ids=["burst", "software"])
def test_plate_moves_filter_and_focus_with_the_stage_and_never_during_an_exposure(
    microscope_and_events: tuple[Microscope, list[Event]],
    RE: RunEngine,
    hardware_sequencing: bool,
) -> None:
    microscope, events = microscope_and_events
    # Two fields 2 mm apart; DAPI (filter 2, in focus) then Cy5 (filter 5, 1 um up).
    assert microscope.config.channel("Cy5").z_offset_um == 1.0
    spec = spec_from_data(
        {
            "hardware_sequencing": hardware_sequencing,
            "sequence": {
                "stage_positions": [
                    {"x": X0_UM, "y": Y0_UM},
                    {"x": X0_UM + 2000.0, "y": Y0_UM},
                ],
                "channels": [
                    {"config": "DAPI", "exposure": 5.0},
                    {"config": "Cy5", "exposure": 5.0},
                ],
            },
        }
    )
    base_z = microscope.config.stage.z.start_um  # where the run finds the focus
    messages: list[tuple[str, Any, tuple[Any, ...]]] = []  # every message, in order
    RE.msg_hook = lambda msg: messages.append((msg.command, msg.obj, msg.args))
    RE(acquire_plate(microscope, spec))

    exposures = [e for e in events if e[0] == "exposure"]
    moves = [e for e in events if e[0] != "exposure"]
    # Before the first field: the wheel turns to DAPI's filter while the stage travels.
    first_travel = next(e for e in moves if e[0] == "x")
    assert first_travel[3] == X0_UM
    to_dapi = next(e for e in moves if e[0] == "filter")
    assert to_dapi[3] == microscope.config.channel("DAPI").filter_position
    assert to_dapi[1] < first_travel[2], "the filter waited for the stage to arrive"
    # After the last field the focus goes back to where the run found it while the
    # field's images are recorded.
    after_last = [e for e in moves if e[0] == "z" and e[1] >= exposures[-1][2]]
    assert after_last and after_last[-1][3] == pytest.approx(base_z)
    last_taken = max(i for i, (c, _, _) in enumerate(messages) if c in ("trigger", "complete"))
    last_collect = max(i for i, (c, _, _) in enumerate(messages) if c == "collect")
    back = [
        c == "set" and obj is microscope.stage_.z and args[0] == pytest.approx(base_z)
        for c, obj, args in messages[last_taken:last_collect]
    ]
    assert any(back), "the focus waited for the images to be recorded"
    assert len(exposures) == 4
    for what, start, end, target in moves:
        for _, exposed, read, _ in exposures:
            assert end <= exposed or start >= read, f"{what} -> {target} moved during an exposure"

    # Between the fields: the stage's move to the second field, and during it the
    # wheel's turn back to DAPI's filter and the focus's move down to its plane.
    second_field_end = exposures[1][2]
    travel = next(e for e in moves if e[0] == "x" and e[3] == X0_UM + 2000.0)
    assert travel[1] >= second_field_end
    back_to_dapi = next(e for e in moves if e[0] == "filter" and e[1] >= second_field_end)
    assert back_to_dapi[3] == microscope.config.channel("DAPI").filter_position
    assert back_to_dapi[1] < travel[2], "the filter waited for the stage to arrive"
    third_start = exposures[2][1]
    focus_down = [e for e in moves if e[0] == "z" and second_field_end <= e[1] < third_start]
    assert focus_down and focus_down[0][1] < travel[2], "the focus waited for the stage"
    assert third_start >= max(travel[2], back_to_dapi[2], focus_down[-1][2])

    if hardware_sequencing:
        # Inside the first field's burst: DAPI -> Cy5 turns the wheel and raises the
        # focus at once (each starts before the other ends).
        turn = next(e for e in moves if e[0] == "filter" and exposures[0][2] <= e[1])
        rise = next(e for e in moves if e[0] == "z" and exposures[0][2] <= e[1])
        assert turn[1] < rise[2] and rise[1] < turn[2]
