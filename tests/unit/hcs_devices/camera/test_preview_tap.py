"""The preview tap: offering never waits, slow viewers drop, shared memory is released."""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from hcs_devices.camera.preview import FrameMeta, PreviewTap, frame_meta
from hcs_devices.camera.shared_frame import (
    SHM_DIR,
    SharedFrameReader,
    SharedFrameSlot,
    leftover_segments,
)


def meta(seq: int) -> FrameMeta:
    return frame_meta(
        seq, channel="DAPI", exposure_ms=5.0, position_um=(1.0, 2.0, 3.0), mode="live"
    )


def frame(value: int, shape: tuple[int, int] = (32, 48)) -> np.ndarray:
    return np.full(shape, value, np.uint16)


def test_tap_keeps_every_frame_for_a_viewer_that_keeps_up_when_frames_come_slowly() -> None:
    tap = PreviewTap()
    viewer = tap.subscribe()
    try:
        seen = []
        for i in range(1, 21):
            tap.offer(frame(i), meta(i))
            got = viewer.get(timeout_s=5.0)
            assert got is not None
            seen.append(got.meta.seq)
        assert seen == list(range(1, 21))
        assert viewer.dropped == 0 and tap.dropped == 0
    finally:
        tap.close()


@pytest.mark.slow
def test_offer_never_waits_and_a_slow_viewer_drops_when_frames_come_faster() -> None:
    tap = PreviewTap(depth=2)
    slow = tap.subscribe()
    received: list[int] = []
    stop = threading.Event()

    def read_slowly() -> None:
        while not stop.is_set():
            got = slow.get(timeout_s=0.5)
            if got is not None:
                received.append(got.meta.seq)
                threading.Event().wait(0.02)  # a viewer far slower than the camera

    reader = threading.Thread(target=read_slowly)
    reader.start()
    try:
        offering_s = 0.0
        for i in range(1, 501):
            start = time.perf_counter()
            tap.offer(frame(i), meta(i))
            offering_s += time.perf_counter() - start
            threading.Event().wait(0.001)  # a camera at up to 1000 frames/s
        threading.Event().wait(0.1)
    finally:
        stop.set()
        reader.join()
        tap.close()
    assert tap.offered == 500
    assert slow.dropped + tap.dropped > 0 and 0 < len(received) < 500
    # Every frame was delivered or counted as dropped (by the tap or by the viewer).
    assert len(received) + slow.dropped + tap.dropped == 500
    assert received == sorted(received)  # newest-first never reorders frames
    # An offer that waited for this viewer (20 ms a frame) would make this 10 s; a
    # machine busy with other work adds milliseconds.
    assert offering_s < 1.0, f"the 500 offers took {offering_s:.2f} s"


def test_tap_offers_one_acquisition_frame_in_every_n() -> None:
    tap = PreviewTap(every_n=4)
    wanted = [tap.wants(i) for i in range(12)]
    assert wanted == [True, False, False, False] * 3


@pytest.mark.parametrize("every_n", [0, -3, 2.5])
def test_tap_refuses_every_n_below_one_and_names_the_value(every_n: object) -> None:
    with pytest.raises(ValueError, match=r"every_n .* must be a whole number >= 1"):
        PreviewTap(every_n=every_n)  # type: ignore[arg-type]


def test_async_viewer_gets_the_newest_frame_and_none_after_a_timeout() -> None:
    tap = PreviewTap()
    viewer = tap.subscribe()

    async def scenario() -> tuple[object, int | None]:
        nothing = await viewer.aget(timeout_s=0.05)
        loop = asyncio.get_running_loop()
        loop.call_later(0.02, tap.offer, frame(7), meta(7))
        got = await viewer.aget(timeout_s=5.0)
        return nothing, got.meta.seq if got is not None else None

    try:
        nothing, seq = asyncio.run(scenario())
    finally:
        tap.close()
    assert nothing is None and seq == 7


def test_close_stops_the_publisher_thread_and_releases_waiting_viewers() -> None:
    before = set(threading.enumerate())
    tap = PreviewTap()
    viewer = tap.subscribe()
    started = [t for t in set(threading.enumerate()) - before if t.name == "hcs-preview"]
    assert len(started) == 1
    tap.close()
    assert viewer.get(timeout_s=1.0) is None
    assert not started[0].is_alive()


def test_shared_slot_hands_the_latest_frame_and_metadata_to_a_reader() -> None:
    tap = PreviewTap()
    slot = SharedFrameSlot(64, 64)
    tap.add_sink(slot)
    reader = SharedFrameReader(slot.name)
    try:
        assert reader.read() is None
        tap.offer(frame(11, (40, 60)), meta(1))
        deadline = time.monotonic() + 5.0
        while slot.written < 1 and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        got = reader.read()
        assert got is not None
        pixels, got_meta = got
        assert pixels.shape == (40, 60) and int(pixels.min()) == int(pixels.max()) == 11
        assert got_meta.channel == "DAPI" and got_meta.x_um == 1.0 and got_meta.seq == 1
    finally:
        reader.close()
        tap.remove_sink(slot)
        slot.close()
        tap.close()
    assert not (SHM_DIR / slot.name).exists()
    assert leftover_segments() == []


def test_shared_slot_skips_a_frame_larger_than_it_holds() -> None:
    slot = SharedFrameSlot(16, 16)
    try:
        tap = PreviewTap()
        tap.add_sink(slot)
        tap.offer(frame(1, (32, 32)), meta(1))
        deadline = time.monotonic() + 5.0
        while tap.published < 1 and time.monotonic() < deadline:
            threading.Event().wait(0.005)
        tap.close()
        assert slot.skipped == 1 and slot.written == 0
    finally:
        slot.close()


def test_reader_of_a_closed_segment_is_refused_with_its_name() -> None:
    slot = SharedFrameSlot(8, 8)
    slot.close()
    slot.close()  # twice is fine
    with pytest.raises(FileNotFoundError, match=slot.name):
        SharedFrameReader(slot.name)
