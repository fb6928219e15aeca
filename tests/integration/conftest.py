"""Fixtures for end-to-end plate acquisitions (helpers live in ``plate_harness``)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from plate_harness import fast_config

from hcs_devices.config import MicroscopeConfig


@pytest.fixture(scope="session")
def fast_profile_config(profile_config: MicroscopeConfig) -> MicroscopeConfig:
    """The shipped microscope, quick to test (see :func:`fast_config`)."""
    return fast_config(profile_config)


@pytest.fixture
def config_file(fast_profile_config: MicroscopeConfig, tmp_path: Path) -> Path:
    """``fast_profile_config`` as a YAML file, for ``hcs --config``."""
    path = tmp_path / "microscope.yaml"
    path.write_text(yaml.safe_dump(fast_profile_config.model_dump(mode="json")))
    return path
