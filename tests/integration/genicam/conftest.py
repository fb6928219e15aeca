"""The fake GigE Vision camera (Aravis's, in its own process on 127.0.0.1) for tests.

Tests that use ``fake_camera`` skip, with the reason, where Aravis or PyGObject is
missing (``./dev setup`` as root installs them). One fake camera runs on the machine at
a time (GigE Vision's control port is fixed): concurrent test processes take turns.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from hcs_devices.camera.genicam import aravis_missing
from hcs_devices.camera.genicam.fake_camera import FakeCameraProcess


@pytest.fixture
def fake_camera() -> Iterator[FakeCameraProcess]:
    """A running fake camera on 127.0.0.1, stopped after the test."""
    missing = aravis_missing()
    if missing is not None:
        pytest.skip(missing)
    with FakeCameraProcess(serial=f"HCS{os.getpid() % 100000:05d}") as camera:
        yield camera
