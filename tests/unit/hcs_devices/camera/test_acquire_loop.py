"""The camera's acquisition loop stops before its next exposure, however it is stopped."""

from __future__ import annotations

import asyncio

import numpy as np

from hcs_devices.camera.logic import AcquisitionPlan, CameraAcquireLogic
from hcs_devices.camera.settings import ExposureSettings, Roi
from hcs_devices.ownership import HardwareOwner

SETTINGS = ExposureSettings(exposure_ms=1.0, gain=1.0, binning=1, roi=Roi(0, 0, 4, 4))


class CountingSource:
    """Frames on request; counts the exposures."""

    def __init__(self) -> None:
        self.exposures = 0

    async def connect(self) -> None:
        """Nothing to open."""

    async def expose(self, settings: ExposureSettings) -> np.ndarray:
        self.exposures += 1
        return np.zeros(settings.shape, np.uint16)

    def min_frame_period_s(self, settings: ExposureSettings) -> float:
        return 0.0


async def test_acquisition_loop_takes_no_exposure_after_a_stop_a_frame_step_swallowed() -> None:
    # A frame's set-up awaits device code; Python 3.11's asyncio.wait_for can return
    # its awaitable's value and drop a cancellation that arrives at that moment. The
    # step below does the same on purpose: it survives the cancel and returns.
    source = CountingSource()
    frames: list[np.ndarray] = []
    in_step = asyncio.Event()
    swallowed: list[int] = []

    async def step(index: int) -> float | None:
        if index == 1:
            in_step.set()
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed.append(index)  # the cancellation is lost here
        return None

    async def sink(frame: np.ndarray) -> None:
        frames.append(frame)

    async def settings() -> ExposureSettings:
        return SETTINGS

    plan = AcquisitionPlan()
    plan.frames, plan.step = 5, step
    logic = CameraAcquireLogic(
        source,
        plan,
        settings,
        sink,
        HardwareOwner(),
        name=lambda: "camera",
        set_acquiring=lambda acquiring: None,
    )
    await logic.start_acquiring()
    await asyncio.wait_for(in_step.wait(), 5)
    await asyncio.wait_for(logic.ensure_stopped(), 5)
    await asyncio.sleep(0.05)
    assert swallowed == [1]
    assert source.exposures == 1 and len(frames) == 1  # frame 0 only
