"""Live view through the RunEngine: navigation, refusals, snap, and switching to acquisitions.

A real session (MicroscopeRunEngine, simulated microscope, embedded catalog) and
:class:`LiveControl`, as the web console and the prompt use it.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from plate_harness import SessionHarness, open_test_session
from preview_support import (
    frames_of,
    one_well_spec,
    open_fds,
    thread_kinds,
    threads_settle_to,
    well_center_um,
)

from hcs_devices.camera.shared_frame import SharedFrameReader, SharedFrameSlot, leftover_segments
from hcs_devices.config import MicroscopeConfig
from hcs_devices.navigation import MoveTo, SetChannel, SetExposure, SetIntensity
from hcs_devices.ownership import BusyError
from hcs_orchestrator.live_control import LiveControl
from hcs_orchestrator.live_prompt import PromptHelpers

pytestmark = pytest.mark.slow  # system tests of a second or more each


@pytest.fixture(scope="module")
def harness(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(fast_profile_config, tmp_path_factory.mktemp("live")) as h:
        yield h


@pytest.fixture
def control(harness: SessionHarness) -> Iterator[LiveControl]:
    live = LiveControl(harness.RE, harness.microscope)
    yield live
    live.close()
    assert harness.safe_state_problems() == []
    assert not harness.microscope.camera.live.running


def test_live_view_moves_the_stage_and_changes_channel_when_commands_are_posted(
    harness: SessionHarness, control: LiveControl
) -> None:
    viewer = harness.microscope.camera.preview.subscribe()
    try:
        control.start_live(channel="DAPI", exposure_ms=5.0)
        assert control.state == "live"
        assert harness.sim.illumination.is_on
        first = frames_of(viewer, 2)[-1].meta
        assert (first.mode, first.channel, first.exposure_ms) == ("live", "DAPI", 5.0)
        x, y = well_center_um(2, 3)
        control.navigate(MoveTo(x, y))
        control.navigate(SetChannel("GFP"))
        control.navigate(SetExposure(7.0))
        control.navigate(SetIntensity(30.0))
        # The frame held for the viewer and the one exposing may predate the last command.
        meta = frames_of(viewer, 3)[-1].meta
        assert (meta.x_um, meta.y_um) == pytest.approx((x, y))
        assert (meta.channel, meta.exposure_ms) == ("GFP", 7.0)
        assert harness.sim.illumination.intensity_percent == 30.0
        control.stop_live()
    finally:
        viewer.close()
    assert control.state == "idle"
    assert not harness.sim.illumination.is_on


def test_live_view_refuses_a_move_outside_the_soft_limits_and_stays_live(
    harness: SessionHarness, control: LiveControl
) -> None:
    control.start_live()
    before = harness.moves()
    with pytest.raises(
        ValueError,
        match=r"x_um 1000000000.0 is outside the stage.s soft limits \[0.0, 120000.0\] um",
    ):
        control.navigate(MoveTo(1e9, 0.0))
    with pytest.raises(ValueError, match=r"x_um nan is outside"):
        control.navigate(MoveTo(math.nan, 0.0))
    with pytest.raises(KeyError, match="unknown channel 'DAPY'"):
        control.navigate(SetChannel("DAPY"))
    with pytest.raises(ValueError, match=r"intensity_percent 120.0 is outside \[0, 100\]"):
        control.navigate(SetIntensity(120.0))
    assert harness.moves() == before
    assert control.state == "live"


def test_navigation_while_idle_runs_a_plan_and_moves_the_stage(
    harness: SessionHarness, control: LiveControl
) -> None:
    x, y = well_center_um(1, 1)
    control.navigate(MoveTo(x, y))
    assert harness.sim.xy_um() == pytest.approx((x, y))
    assert control.state == "idle"


def test_navigation_is_refused_as_busy_when_an_acquisition_runs(
    harness: SessionHarness, control: LiveControl
) -> None:
    control.start_live()
    control.start_acquisition(one_well_spec(4, ("DAPI", "GFP", "Cy3")))
    assert control.state == "acquisition"
    assert not harness.microscope.camera.live.running  # starting the acquisition ended live
    where = harness.sim.xy_um()
    with pytest.raises(BusyError, match=r"busy: .* refused"):
        control.navigate(MoveTo(*well_center_um(5, 5)))
    with pytest.raises(BusyError, match="busy"):
        control.start_live()
    control.wait(120.0)
    assert control.last_error is None
    assert harness.sim.xy_um() != pytest.approx(well_center_um(5, 5))
    assert where != pytest.approx(well_center_um(5, 5))
    stop = [d for n, d in harness.documents if n == "stop" and d["run_start"] == control.last_uid]
    assert stop and stop[0]["exit_status"] == "success"


def test_snap_takes_one_image_into_its_own_run_and_ends_live_view(
    harness: SessionHarness, control: LiveControl
) -> None:
    control.start_live()
    uid = control.snap(channel="GFP")
    assert control.state == "idle"
    docs = harness.run_documents(uid)
    assert [d["plan_name"] for n, d in docs if n == "start"] == ["snap"]
    assert [d["exit_status"] for n, d in docs if n == "stop"] == ["success"]
    assert len(harness.image_files(uid)) == 1
    latest = harness.microscope.camera.preview.latest
    assert latest is not None and latest.meta.channel == "GFP"
    assert not harness.sim.illumination.is_on


def test_prompt_helpers_start_live_move_and_snap_a_frame_when_called_at_the_prompt(
    harness: SessionHarness, control: LiveControl, capsys: pytest.CaptureFixture[str]
) -> None:
    helpers = PromptHelpers(control)
    helpers.live(channel="Cy3", exposure_ms=3.0)
    assert control.state == "live"
    helpers.move_to(*well_center_um(0, 2))
    assert harness.sim.xy_um() == pytest.approx(well_center_um(0, 2))
    pixels = helpers.snap()
    assert control.state == "idle"
    assert pixels.shape == (256, 256) and int(pixels.max()) > int(pixels.min())
    assert "snapped: run" in capsys.readouterr().out


def test_hundred_switches_between_live_and_acquisition_leak_nothing_and_lose_no_image(
    harness: SessionHarness, control: LiveControl
) -> None:
    camera = harness.microscope.camera
    viewer = camera.preview.subscribe()
    slot = SharedFrameSlot(256, 256)
    camera.preview.add_sink(slot)
    reader = SharedFrameReader(slot.name)
    spec = one_well_spec(1, ("DAPI", "GFP"))
    uids: list[str] = []
    baseline: tuple[list[str], int] | None = None
    try:
        for i in range(100):
            control.start_live(exposure_ms=2.0)
            frames_of(viewer, 1)
            uids.append(control.acquire(spec))
            assert reader.read() is not None
            if i == 1:  # after the pools every first run starts
                baseline = (thread_kinds(), open_fds())
        assert baseline is not None
        assert threads_settle_to(baseline[0]) == []  # no thread beyond the baseline
        # A leak would grow with the switches (98 more after the baseline); the storage
        # path may hold one file more or less at any moment (a spool segment, say).
        assert open_fds() <= baseline[1] + 2
    finally:
        reader.close()
        camera.preview.remove_sink(slot)
        slot.close()
        viewer.close()
    assert leftover_segments() == []
    assert len(set(uids)) == 100
    for uid in uids:
        stops = [d for n, d in harness.documents if n == "stop" and d["run_start"] == uid]
        assert stops[0]["exit_status"] == "success"
        assert stops[0]["num_events"].get("primary") == 2


def _run_images_and_rows(harness: SessionHarness, uid: str) -> tuple[list[Any], int]:
    """A run's image files (from its documents) and its frame rows."""
    docs = harness.run_documents(uid)
    frames = {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == "frames"}
    rows = sum(
        len(d["seq_num"]) if n == "event_page" else 1
        for n, d in docs
        if n in ("event", "event_page") and d["descriptor"] in frames
    )
    return harness.image_files(uid), rows


def _newest_start(harness: SessionHarness) -> str:
    return next((d["uid"] for n, d in reversed(harness.documents) if n == "start"), "")


def _wait_until(condition: Any, what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        threading.Event().wait(0.01)


def _images_so_far(harness: SessionHarness, after: str) -> int:
    uid = _newest_start(harness)
    if uid == after:
        return 0
    return sum(
        d["indices"]["stop"] - d["indices"]["start"]
        for n, d in harness.run_documents(uid)
        if n == "stream_datum"
    )


def test_acquisition_in_the_background_pauses_resumes_and_aborts_from_the_prompt(
    harness: SessionHarness, control: LiveControl
) -> None:
    helpers = PromptHelpers(control)
    spec = one_well_spec(3, ("DAPI", "GFP"))  # 9 fields x 2 channels
    # Paused after the first images, resumed: the plate completes, each image once.
    before = _newest_start(harness)
    helpers.acquire_in_background(spec)
    _wait_until(lambda: _images_so_far(harness, before) >= 2, "the first images")
    helpers.pause()
    _wait_until(lambda: harness.RE.state == "paused", "the pause")
    assert not harness.sim.illumination.is_on
    paused_at = _images_so_far(harness, before)
    assert paused_at < 18, "the plate ended before the pause: make it longer"
    helpers.resume()
    helpers.wait()
    uid = _newest_start(harness)
    files, rows = _run_images_and_rows(harness, uid)
    assert len(files) == len(set(files)) == rows == 18
    (stop,) = [d for n, d in harness.run_documents(uid) if n == "stop"]
    assert stop["exit_status"] == "success"
    # Paused, then aborted: the run closes as aborted with what it had.
    helpers.acquire_in_background(spec)
    _wait_until(lambda: _images_so_far(harness, uid) >= 2, "the first images")
    helpers.pause()
    _wait_until(lambda: harness.RE.state == "paused", "the pause")
    helpers.abort()
    uid = _newest_start(harness)
    files, rows = _run_images_and_rows(harness, uid)
    (stop,) = [d for n, d in harness.run_documents(uid) if n == "stop"]
    assert stop["exit_status"] == "abort"
    assert 2 <= len(files) == rows < 18
    assert harness.RE.state == "idle"
    with pytest.raises(RuntimeError, match="not paused"):
        helpers.resume()
