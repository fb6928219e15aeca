"""Readable errors for user-written files (microscope configurations, specs, protocols).

A pydantic ``ValidationError`` lists locations as tuples; a microscopist wants the
file, the field written as in the file (``channels[2].exposure_ms``), what was wrong
and what is allowed. For an unknown key, the allowed keys of that section are listed.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Iterable
from typing import Any, TypeVar

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

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
        allowed = _allowed_range(model, loc) if err["type"] in _NUMBER_ERRORS else None
        hint = f"; allowed: {allowed}" if allowed else ""
        problems.append(f"{path}: {message}{shown}{hint}")
    return problems


#: Error types about a number, after which the field's allowed range is stated.
_NUMBER_ERRORS = frozenset(
    {
        "finite_number",
        "float_parsing",
        "float_type",
        "greater_than",
        "greater_than_equal",
        "int_from_float",
        "int_parsing",
        "int_parsing_size",
        "int_type",
        "less_than",
        "less_than_equal",
    }
)


def _allowed_range(model: type[BaseModel], loc: tuple[int | str, ...]) -> str | None:
    """The range a numeric field (or item) allows, e.g. ``(0, 100]``, if it can be found."""
    index = 1 if loc and isinstance(loc[-1], int) else 0  # an item of a tuple field
    field_loc = loc[: len(loc) - index]
    owner = _model_at(model, field_loc)
    name = field_loc[-1] if field_loc else None
    field = owner.model_fields.get(name) if owner and isinstance(name, str) else None
    if field is None:
        return None
    metadata: list[Any] = list(field.metadata)
    if index:
        items = typing.get_args(field.annotation)
        metadata = _annotated_metadata(items[0]) if items else []
    elif not metadata:
        metadata = _annotated_metadata(field.annotation)  # e.g. ``Coordinate | None``
    low: tuple[str, Any] | None = None
    high: tuple[str, Any] | None = None
    for bound in _flatten(metadata):
        if isinstance(bound, annotated_types.Gt):
            low = ("(", bound.gt)
        elif isinstance(bound, annotated_types.Ge):
            low = ("[", bound.ge)
        elif isinstance(bound, annotated_types.Lt):
            high = (")", bound.lt)
        elif isinstance(bound, annotated_types.Le):
            high = ("]", bound.le)
    if low and high:
        return f"{low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {_number(low[1])}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {_number(high[1])}"
    return "a finite number"


def _annotated_metadata(annotation: Any) -> list[Any]:
    """The metadata of an ``Annotated`` type, or of the one ``Annotated`` in a union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return list(typing.get_args(annotation)[1:])
    if origin in (typing.Union, types.UnionType):
        found = [m for a in typing.get_args(annotation) for m in _annotated_metadata(a)]
        return found
    return []


def _flatten(metadata: list[Any]) -> list[Any]:
    """Constraints, with those inside a ``Field(...)`` of an ``Annotated`` type taken out."""
    out: list[Any] = []
    for item in metadata:
        out.extend(item.metadata if isinstance(item, FieldInfo) else [item])
    return out


def _number(value: Any) -> str:
    return str(value) if isinstance(value, int) else f"{value:g}"


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
    "validate_model",
]
