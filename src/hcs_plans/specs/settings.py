"""Plan settings from what a client sends: a model, or its plain (JSON) data."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from hcs_devices.config.errors import UserFileError, describe_validation_error

M = TypeVar("M", bound=BaseModel)


def as_settings(model: type[M], value: M | dict[str, Any] | None, source: str) -> M:
    """``value`` as a ``model``: itself, validated plain data, or the defaults for None.

    Raises:
        UserFileError: naming ``source``, the field and what is wrong.
    """
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value or {})
    except ValidationError as exc:
        raise UserFileError(source, describe_validation_error(model, exc)) from exc
