"""The microscope configuration file: pydantic models, plate formats, loading."""

from pathlib import Path

from hcs_devices.config.errors import UserFileError
from hcs_devices.config.models import (
    AxisConfig,
    CameraConfig,
    ChannelConfig,
    FilterConfig,
    FilterWheelConfig,
    IlluminationConfig,
    IlluminationSourceConfig,
    LaserAutofocusConfig,
    MicroscopeConfig,
    ObjectiveConfig,
    SpecimenConfig,
    StageConfig,
)
from hcs_devices.config.plates import PlateFormat, standard_plate_formats
from hcs_devices.config.yaml_file import load_yaml_model, read_yaml_file


def load_config(path: str | Path) -> MicroscopeConfig:
    """Read and validate a microscope configuration YAML file.

    Raises:
        UserFileError: naming the file, the field and what is allowed.
    """
    return load_yaml_model(MicroscopeConfig, path)


__all__ = [
    "AxisConfig",
    "CameraConfig",
    "ChannelConfig",
    "FilterConfig",
    "FilterWheelConfig",
    "IlluminationConfig",
    "IlluminationSourceConfig",
    "LaserAutofocusConfig",
    "MicroscopeConfig",
    "ObjectiveConfig",
    "PlateFormat",
    "SpecimenConfig",
    "StageConfig",
    "UserFileError",
    "load_config",
    "read_yaml_file",
    "standard_plate_formats",
]
