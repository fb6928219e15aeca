"""The software sequencer sets each frame up through the real (simulated) devices."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from hcs_devices.microscope import Microscope
from hcs_devices.sequencer import SequencedFrame
from hcs_devices.software_sequencer import SoftwareSequencer


def frame(microscope: Microscope, channel: int, z_um: float) -> SequencedFrame:
    c = microscope.config.channels[channel]
    return SequencedFrame(
        z_um=z_um,
        source=c.source,
        intensity_percent=c.intensity_percent,
        filter_position=c.filter_position,
        exposure_ms=c.exposure_ms,
    )


def record_hardware(microscope: Microscope) -> list[tuple[str, Any]]:
    """What reaches the simulated hardware, in order: light on/off, z moves, filter turns."""
    log: list[tuple[str, Any]] = []
    light = microscope.illumination.backend
    z = microscope.stage_.z.backend
    wheel = microscope.filter_wheel.backend

    def tap(target: Any, method: str, label: str) -> None:
        original = getattr(target, method)

        async def recorded(*args: Any) -> Any:
            log.append((label, args[0] if args else None))
            return await original(*args)

        setattr(target, method, recorded)

    tap(light, "set_on", "light")
    tap(light, "all_off", "dark")
    tap(z, "move_to", "z")
    tap(wheel, "move_to", "filter")
    return log


def steps(log: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """The log with each z move's legs (a backlash overshoot) as its final target."""
    merged: list[tuple[str, Any]] = []
    for entry in log:
        if merged and entry[0] == "z" and merged[-1][0] == "z":
            merged[-1] = entry
        else:
            merged.append(entry)
    return merged


@pytest.mark.slow
def test_software_sequencer_moves_then_lights_each_frame_and_keeps_the_light_for_no_change(
    microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    sequencer = microscope.camera.software_sequencer
    assert isinstance(sequencer, SoftwareSequencer)
    assert len(microscope.config.channels) >= 2
    log = record_hardware(microscope)
    a, b = microscope.config.channels[:2]
    assert a.filter_position != b.filter_position
    first, plane, other = (
        frame(microscope, 0, 200.0),
        frame(microscope, 0, 201.0),
        frame(microscope, 1, 201.0),
    )

    run_on_re_loop(sequencer.apply(first))
    assert steps(log) == [("z", 200.0), ("light", True)]
    assert microscope.illumination.backend.selected == a.source
    assert sequencer.moved_z_um() == pytest.approx(microscope.stage_.z.backend.position_now())
    log.clear()

    run_on_re_loop(sequencer.apply(plane))  # another plane: dark while the focus moves
    assert steps(log) == [("light", False), ("z", 201.0), ("light", True)]
    log.clear()

    run_on_re_loop(sequencer.apply(other))  # another channel, same plane
    assert log == [("light", False), ("filter", b.filter_position), ("light", True)]
    assert microscope.illumination.backend.selected == b.source
    assert microscope.illumination.backend.intensity_percent == b.intensity_percent
    log.clear()

    run_on_re_loop(sequencer.apply(other))  # nothing changes: the light stays on
    assert log == []
    assert microscope.illumination.backend.is_on

    run_on_re_loop(sequencer.finish())
    assert not microscope.illumination.backend.is_on
    with pytest.raises(RuntimeError, match="no frame"):
        sequencer.moved_z_um()


@pytest.mark.slow
def test_software_sequencer_with_a_strobed_light_selects_the_source_and_never_lights_it(
    microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    strobed = SoftwareSequencer(
        microscope.stage_.z, microscope.filter_wheel, microscope.illumination, light_strobed=True
    )
    log = record_hardware(microscope)
    for f in (frame(microscope, 0, 200.0), frame(microscope, 1, 201.0)):
        run_on_re_loop(strobed.apply(f))
    run_on_re_loop(strobed.finish())
    assert ("light", True) not in log
    assert microscope.illumination.backend.selected == microscope.config.channels[1].source


def test_software_sequencer_refuses_a_focus_outside_the_soft_limits_and_nothing_moves(
    microscope: Microscope, run_on_re_loop: Callable[..., Any]
) -> None:
    sequencer = microscope.camera.software_sequencer
    assert sequencer is not None
    log = record_hardware(microscope)
    low = microscope.config.stage.z.low_limit_um
    with pytest.raises(Exception, match="soft limits"):
        run_on_re_loop(sequencer.apply(frame(microscope, 0, low - 10.0)))
    assert [entry for entry in log if entry[0] in ("z", "light") and entry[1] is not False] == []
