"""The microscope configuration file: pydantic models, plate formats, loading."""

from pathlib import Path

from hcs_devices.config.errors import UserFileError, validate_model
from hcs_devices.config.merfish import MerfishSampleConfig, TubeContent, resolve_codebook_path
from hcs_devices.config.models import (
    AxisConfig,
    CameraConfig,
    ChannelConfig,
    FilterConfig,
    FilterWheelConfig,
    FramesConfig,
    IlluminationConfig,
    IlluminationSourceConfig,
    LaserAutofocusConfig,
    MicroscopeConfig,
    ObjectiveConfig,
    SpecimenConfig,
    StageConfig,
)
from hcs_devices.config.plates import PlateFormat, standard_plate_formats
from hcs_devices.config.yaml_file import read_yaml_file


def load_config(path: str | Path) -> MicroscopeConfig:
    """Read and validate a microscope configuration YAML file.

    Paths in the file (``specimen.merfish.codebook``) are relative to its folder.

    Raises:
        UserFileError: naming the file, the field and what is allowed.
    """
    data = read_yaml_file(path)
    data = resolve_codebook_path(data, Path(path).resolve().parent)
    return validate_model(MicroscopeConfig, data if data is not None else {}, str(path))


__all__ = [
    "AxisConfig",
    "CameraConfig",
    "ChannelConfig",
    "FilterConfig",
    "FilterWheelConfig",
    "FramesConfig",
    "IlluminationConfig",
    "IlluminationSourceConfig",
    "LaserAutofocusConfig",
    "MerfishSampleConfig",
    "MicroscopeConfig",
    "ObjectiveConfig",
    "PlateFormat",
    "SpecimenConfig",
    "StageConfig",
    "TubeContent",
    "UserFileError",
    "load_config",
    "read_yaml_file",
    "standard_plate_formats",
]
