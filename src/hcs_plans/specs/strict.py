"""Strict reading of models that ignore unknown keys (useq-schema's).

useq-schema models drop keys they do not know, so ``exposur: 20`` would silently run
at the default exposure. Validating, dumping back what was understood, and comparing
the keys finds every key that was dropped; each is then named with the keys its
section allows (for a section that takes several forms, such as a z plan, those of
the form the user's keys match best).
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticCustomError

from hcs_devices.config.errors import (
    annotation_at,
    closest_model,
    model_keys,
    union_members,
    unknown_key_message,
)

Loc = tuple[int | str, ...]


def dropped_keys(data: Any, understood: Any, loc: Loc = ()) -> list[Loc]:
    """Locations of keys present in ``data`` but absent from ``understood``."""
    found: list[Loc] = []
    if isinstance(data, dict) and isinstance(understood, dict):
        for key, value in data.items():
            where = (*loc, str(key))
            if key not in understood:
                found.append(where)
            else:
                found.extend(dropped_keys(value, understood[key], where))
    elif isinstance(data, list | tuple) and isinstance(understood, list | tuple):
        for i, (value, known) in enumerate(zip(data, understood, strict=False)):
            found.extend(dropped_keys(value, known, (*loc, i)))
    return found


def understood_form(model: BaseModel) -> Any:
    """What a model understood of its input, as plain data with the input's key names."""
    return model.model_dump(mode="json", exclude_unset=True, by_alias=False)


def describe_dropped_keys(
    model: type[BaseModel], data: Any, dropped: list[Loc]
) -> list[tuple[Loc, str]]:
    """Each dropped key's location, with a likely intended key and the keys allowed there.

    Args:
        model: the model ``data`` was validated into.
        data: what the user wrote.
        dropped: what :func:`dropped_keys` found.
    """
    problems: list[tuple[Loc, str]] = []
    for loc in dropped:
        parent = loc[:-1]
        written = _at(data, parent)
        members = union_members(annotation_at(model, parent)) or [annotation_at(model, parent)]
        owner = closest_model(members, written) if isinstance(written, dict) else None
        if owner is None and len(members) == 1 and _is_model(members[0]):
            owner = members[0]
        allowed = sorted(model_keys(owner)) if owner is not None else []
        if str(loc[-1]) in allowed and any(str(k) not in allowed for k in written):
            continue  # a key of the form meant, dropped only because another was misspelt
        problems.append((loc, unknown_key_message(str(loc[-1]), allowed)))
    return problems


def dropped_keys_error(title: str, problems: list[tuple[Loc, str]], data: Any) -> ValidationError:
    """A validation error with one line per dropped key (each at its own location)."""
    return ValidationError.from_exception_data(
        title,
        [
            {
                "type": PydanticCustomError("unknown_key", "{message}", {"message": message}),
                "loc": loc,
                "input": _at(data, loc[:-1]),
            }
            for loc, message in problems
        ],
    )


def nested_error(title: str, prefix: Loc, error: ValidationError) -> ValidationError:
    """``error`` (from validating a part of the data alone) with ``prefix`` on each location.

    Raised from a field validator, pydantic puts the field's own location in front, so
    the user reads ``sequence.stage_positions.selected_wells`` and the problem there.
    """
    return ValidationError.from_exception_data(
        title,
        [
            {
                "type": PydanticCustomError(
                    "invalid", "{message}", {"message": e["msg"].removeprefix("Value error, ")}
                ),
                "loc": (*prefix, *e["loc"]),
                "input": e["input"],
            }
            for e in error.errors(include_url=False)
        ],
    )


def _at(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
