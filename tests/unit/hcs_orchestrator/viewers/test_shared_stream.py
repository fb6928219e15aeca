"""Following the preview stream in shared memory without napari: each new frame once.

A real shared-memory slot (the one ``hcs console --shared-memory`` writes) and a real
reader mapping it; no GUI.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from hcs_devices.camera.preview import FrameMeta, PreviewFrame
from hcs_devices.camera.shared_frame import SharedFrameSlot, preview_segments
from hcs_orchestrator.viewers.shared_stream import SharedStream, frame_title


def frame(seq: int, value: int) -> PreviewFrame:
    pixels = np.full((24, 32), value, np.uint16)
    pixels[seq % 24, :] = 1000 + seq
    return PreviewFrame(pixels, FrameMeta(seq, "GFP", 12.5, 100.0, 200.0, 3.25, 0.0, "live"))


@pytest.fixture
def slot() -> Iterator[SharedFrameSlot]:
    slot = SharedFrameSlot(64, 64)
    yield slot
    slot.close()


def test_shared_stream_hands_out_each_new_frame_once_with_its_metadata(
    slot: SharedFrameSlot,
) -> None:
    with SharedStream(slot.name) as stream:
        assert stream.poll() is None  # nothing written yet
        slot(frame(1, 7))
        got = stream.poll()
        assert got is not None
        pixels, meta = got
        assert np.array_equal(pixels, frame(1, 7).pixels)
        assert meta == frame(1, 7).meta
        assert stream.poll() is None  # the same frame is not handed out twice
        assert (stream.received, stream.skipped) == (1, 0)


def test_shared_stream_gives_the_newest_frame_and_counts_those_it_never_saw(
    slot: SharedFrameSlot,
) -> None:
    with SharedStream(slot.name) as stream:
        slot(frame(1, 1))
        assert stream.poll() is not None
        for seq in (2, 3, 4):
            slot(frame(seq, seq))
        got = stream.poll()
        assert got is not None and got[1].seq == 4
        assert np.array_equal(got[0], frame(4, 4).pixels)
        assert (stream.received, stream.skipped) == (2, 2)


def test_shared_stream_names_a_segment_that_does_not_exist(slot: SharedFrameSlot) -> None:
    assert slot.name in preview_segments()
    with pytest.raises(FileNotFoundError, match="no preview segment 'hcs-preview-gone'"):
        SharedStream("hcs-preview-gone")


def test_frame_title_says_channel_exposure_and_stage_position() -> None:
    assert frame_title(frame(9, 0).meta) == "#9 live GFP 12.5 ms at x 100.0, y 200.0, z 3.25 um"
