"""Immediate pause and resume, anywhere in a plate run: every image exactly once.

An immediate pause (a second Ctrl-C, ``RE.request_pause(defer=False)``) stops the
RunEngine between two messages or inside one; ``RE.resume()`` replays the messages
since the last checkpoint. Whatever the moment, the run must end "success" with each
image recorded once, its row describing it: images == rows == files on disk, no
(well, field, channel, z, t) twice, and each row's channel is the one its image shows.

The moments are seeded: a message index of the run, drawn uniformly, at which another
thread asks for the pause (as Ctrl-C does), in both acquisition modes.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from bluesky.run_engine import RunEngineInterrupted
from bluesky.utils import Msg
from plate_harness import SessionHarness, correlation, open_test_session
from test_plate_acquisition import (
    frame_set_files,
    make_spec,
    plate_sequence,
    rows_of,
    scene,
    stop_doc,
)

from hcs_devices.config import MicroscopeConfig
from hcs_plans.acquire import acquire_plate
from hcs_storage.query import frame_table

pytestmark = pytest.mark.slow

#: One well, a 2 x 2 grid, two channels of different dyes, three planes: 24 images.
SEQUENCE = plate_sequence(
    rows=2, columns=2, channels=(("DAPI", 2.0), ("GFP", 3.0)), z_range=2.0, z_step=1.0
)
IMAGES = 24
MOMENTS = 20
MODES = {"burst": True, "software": False}


@pytest.fixture(scope="module")
def harness(
    fast_profile_config: MicroscopeConfig, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionHarness]:
    with open_test_session(fast_profile_config, tmp_path_factory.mktemp("pause")) as h:
        yield h


class PauseAtMessage:
    """A RunEngine message hook: at message ``n`` of a run, another thread asks for an
    immediate pause (as a second Ctrl-C does), once."""

    def __init__(self, harness: SessionHarness, n: int | None) -> None:
        self.harness = harness
        self.n = n
        self.count = 0
        self.commands: list[str] = []
        self.asked = threading.Event()
        self.thread: threading.Thread | None = None

    def __call__(self, msg: Msg) -> None:
        self.count += 1
        self.commands.append(msg.command)
        if self.n is not None and self.count == self.n and not self.asked.is_set():
            self.asked.set()
            self.thread = threading.Thread(
                target=self.harness.RE.request_pause, kwargs={"defer": False}, daemon=True
            )
            self.thread.start()


def run_with_pause(harness: SessionHarness, hardware: bool, n: int | None) -> tuple[str, int]:
    """Run the sequence, pausing at message ``n`` and resuming; returns (uid, pauses)."""
    spec = make_spec(SEQUENCE, experiment_id=f"pause-{n}", hardware_sequencing=hardware)
    hook = PauseAtMessage(harness, n)
    harness.RE.msg_hook = hook
    pauses = 0
    try:
        try:
            harness.RE(acquire_plate(harness.microscope, spec))
        except RunEngineInterrupted:
            pauses += 1
            assert harness.RE.state == "paused"
            assert not harness.sim.illumination.is_on, "the light stayed on during the pause"
            harness.RE.resume()
    except Exception as error:
        mode = "burst" if hardware else "software"
        error.add_note(f"{mode}: pause asked at message {n}, after {hook.commands[-8:]}")
        raise
    finally:
        harness.RE.msg_hook = None
        if hook.thread is not None:
            hook.thread.join(10.0)
    starts = [d["uid"] for name, d in harness.documents if name == "start"]
    return starts[-1], pauses


@pytest.fixture(scope="module")
def messages_per_run(harness: SessionHarness) -> dict[str, int]:
    """Messages of an uninterrupted run in each mode (the range the moments are drawn from)."""
    counts = {}
    for mode, hardware in MODES.items():
        hook = PauseAtMessage(harness, None)
        harness.RE.msg_hook = hook
        try:
            harness.RE(
                acquire_plate(harness.microscope, make_spec(SEQUENCE, hardware_sequencing=hardware))
            )
        finally:
            harness.RE.msg_hook = None
        counts[mode] = hook.count
    return counts


def channel_scores(
    harness: SessionHarness, config: MicroscopeConfig, row: dict[str, Any], image: np.ndarray
) -> dict[str, float]:
    """How well each channel's noise-free render of the row's position matches the image."""
    return {
        channel: correlation(image, scene(config, harness, row | {"channel": channel}, image.shape))
        for channel in ("DAPI", "GFP")
    }


def moments(mode: str) -> list[int]:
    """The seeded fractions of a run at which to pause (in thousandths)."""
    rng = random.Random(f"immediate-pause-{mode}")
    return sorted(rng.randrange(1, 1000) for _ in range(MOMENTS))


@pytest.mark.parametrize("mode", list(MODES))
def test_immediate_pause_and_resume_records_each_image_once_with_its_row_when_paused_anywhere(
    harness: SessionHarness, messages_per_run: dict[str, int], mode: str
) -> None:
    config = harness.microscope.config
    total = messages_per_run[mode]
    paused = 0
    for permille in moments(mode):
        n = max(1, total * permille // 1000)
        uid, pauses = run_with_pause(harness, MODES[mode], n)
        paused += pauses
        context = f"{mode}, pause asked at message {n} of {total}"
        assert stop_doc(harness, uid)["exit_status"] == "success", context
        assert harness.session.flush(60.0)
        run = harness.session.catalog[uid]
        rows = rows_of(frame_table(run))
        keys = [(r["well"], r["fov"], r["channel"], r["z_index"], r["time_index"]) for r in rows]
        assert len(keys) == IMAGES, context
        assert len(set(keys)) == IMAGES, f"{context}: an image recorded twice"
        images = run["primary"]["camera"].read()
        assert images.shape[0] == IMAGES, context
        files: list[Path] = frame_set_files(harness, uid)
        assert len(files) == IMAGES, f"{context}: {len(files)} frame files on disk"
        announced = harness.image_files(uid)
        assert sorted(announced) == files, f"{context}: announced images are not the files"
        for k, row in enumerate(rows):
            image = np.asarray(images[k]).reshape(images.shape[-2:])
            assert np.array_equal(image, tifffile.imread(announced[k])), f"{context}: image {k}"
            scores = channel_scores(harness, config, row, image)
            shows = max(scores, key=lambda c: scores[c])
            assert shows == row["channel"], (
                f"{context}: row {k} says {row['channel']} but its image shows {shows} "
                f"(correlations {scores}, mean {image.mean():.1f})"
            )
    # Most moments land inside the run (a few may fall after its last checkpoint).
    assert paused >= MOMENTS * 3 // 4, f"only {paused} of {MOMENTS} runs were paused"


@pytest.mark.parametrize("n", [1, 2])
def test_immediate_pause_during_the_runs_first_reads_resumes_where_the_focus_really_is(
    harness: SessionHarness, n: int
) -> None:
    # The run reads the focus twice before anything moves; a pause cancels the read
    # under way, and the RunEngine hands the plan nothing for it on resume.
    z_before = harness.sim.z.position_now()
    uid, pauses = run_with_pause(harness, True, n)
    assert pauses == 1
    assert stop_doc(harness, uid)["exit_status"] == "success"
    assert harness.session.flush(60.0)
    rows = rows_of(frame_table(harness.session.catalog[uid]))
    assert len(rows) == IMAGES
    # The planes sit around where the focus was, not around z = 0.
    assert min(r["z_um"] for r in rows) > z_before - 5.0
    assert harness.sim.z.position_now() == pytest.approx(z_before)
