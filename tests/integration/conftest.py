"""Fixtures for end-to-end plate acquisitions (helpers live in ``plate_harness``)."""

from __future__ import annotations

import pytest
from plate_harness import fast_config

from hcs_devices.config import MicroscopeConfig


@pytest.fixture(scope="session")
def fast_profile_config(profile_config: MicroscopeConfig) -> MicroscopeConfig:
    """The shipped microscope, quick to test (see :func:`fast_config`)."""
    return fast_config(profile_config)
