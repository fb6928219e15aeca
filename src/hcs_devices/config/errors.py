"""Readable errors for user-written files (microscope configurations, specs, protocols).

A pydantic ``ValidationError`` lists locations as tuples; a microscopist wants the
file, the field written as in the file (``channels[2].exposure_ms``), what was wrong
and what is allowed. For an unknown key, the allowed keys of that section are listed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class UserFileError(ValueError):
    """A user-written file is unreadable or invalid; the message names file and field."""

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source}: invalid:\n{lines}")


class FieldError(ValueError):
    """Raised by a model validator about one field, so the message can name that field.

    Cross-field checks run on a whole model, where pydantic reports no field; the
    ``loc`` given here (relative to the model that raised it) is appended to pydantic's
    location, so the user reads ``channels[1].filter_position`` rather than the model.
    """

    def __init__(self, loc: tuple[int | str, ...], message: str) -> None:
        self.loc = loc
        super().__init__(message)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("channels", 2, "exposure_ms")`` -> ``"channels[2].exposure_ms"``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _model_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc``, if it can be found."""
    current: Any = model
    for part in loc[:-1]:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                # a discriminated union tag such as 'sim' / 'squid' appears in loc
                continue
            current = field.annotation
        elif isinstance(part, int):
            args = typing.get_args(current)
            current = args[0] if args else None
        else:
            args = typing.get_args(current)
            current = args[-1] if args else None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """Strip Optional/Annotated/containers down to the model class where there is one."""
    for _ in range(5):
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            models = [
                a
                for a in typing.get_args(annotation)
                if isinstance(a, type) and issubclass(a, BaseModel)
            ]
            if len(models) == 1:
                return models[0]
            others = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = others[0] if len(others) == 1 else annotation
            if len(others) != 1:
                return annotation
        elif origin in (tuple, list):
            return annotation
        else:
            return annotation
    return annotation


def describe_validation_error(model: type[BaseModel], error: ValidationError) -> list[str]:
    """One readable line per problem in a validation error."""
    problems: list[str] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.loc
        path = field_path(loc)
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            allowed = sorted(owner.model_fields) if owner else []
            hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
            problems.append(f"{path}: unknown key{hint}")
            continue
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        problems.append(f"{path}: {message}{shown}")
    return problems


def load_yaml_model(model: type[M], path: str | Path) -> M:
    """Read a YAML file into a model; every error names the file and the field.

    Raises:
        UserFileError: the file is missing, is not YAML, or does not validate.
    """
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise UserFileError(source, [f"cannot read: {exc.strerror}"]) from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise UserFileError(source, [f"not valid YAML: {exc}"]) from exc
    return validate_model(model, data if data is not None else {}, source)


def validate_model(model: type[M], data: Any, source: str) -> M:
    """Validate plain data into a model, raising :class:`UserFileError` on failure."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UserFileError(source, describe_validation_error(model, exc)) from exc


__all__ = [
    "FieldError",
    "UserFileError",
    "describe_validation_error",
    "field_path",
    "load_yaml_model",
    "validate_model",
]
