"""Readable errors for user-written files (microscope configurations, specs, protocols).

A pydantic ``ValidationError`` lists locations as tuples; a microscopist wants the
file, the field written as in the file (``channels[2].exposure_ms``), what was wrong
and what is allowed. For an unknown key, the allowed keys of that section are listed.
"""

from __future__ import annotations

import collections.abc
import difflib
import types
import typing
from collections.abc import Iterable
from typing import Any, TypeVar, cast

import annotated_types
from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)


class UserFileError(ValueError):
    """A user-written file is unreadable or invalid; the message names file and field.

    One problem is one line (``spec.yaml: sequence.z_plan.stepp: unknown key ...``);
    several are listed under ``spec.yaml: invalid:``, one per line.
    """

    def __init__(self, source: str, problems: Iterable[str]) -> None:
        self.source = source
        self.problems = list(problems)
        if len(self.problems) == 1:
            super().__init__(f"{source}: {self.problems[0]}")
        else:
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
    """One readable line per problem in a validation error.

    Where a field takes one of several forms (a union, such as useq's z plans), pydantic
    reports every form's complaints; they are collapsed to the form whose keys match
    the keys the user wrote, so ``z_plan: {range: 4, stepp: 2}`` gives one line naming
    ``stepp`` rather than one line per missing key of every form.
    """
    problems: list[str] = []
    errors = _collapse_unions(model, error.errors(include_url=False), problems)
    errors = _drop_missing_keys_misspelt(errors)
    for err in errors:
        loc = tuple(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):
            loc += cause.loc
        path = field_path(loc)
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc)
            allowed = sorted(owner.model_fields) if owner else []
            problems.append(_unknown_key(path, str(loc[-1]), allowed))
            continue
        message = err["msg"].removeprefix("Value error, ")
        value = err.get("input")
        shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
        allowed = _allowed_range(model, loc) if err["type"] in _NUMBER_ERRORS else None
        hint = f"; allowed: {allowed}" if allowed else ""
        problems.append(f"{path}: {message}{shown}{hint}")
    return problems


def _drop_missing_keys_misspelt(errors: list[Any]) -> list[Any]:
    """Without "Field required" for a key written misspelt (its unknown key names it)."""
    unknown: dict[tuple[Any, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden":
            loc = tuple(err["loc"])
            unknown.setdefault(loc[:-1], []).append(str(loc[-1]))
    kept: list[Any] = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc:
            written = unknown.get(loc[:-1], [])
            if any(difflib.get_close_matches(str(loc[-1]), [k], n=1) for k in written):
                continue
        kept.append(err)
    return kept


def _unknown_key(path: str, key: str, allowed: Iterable[str]) -> str:
    """``z_plan.stepp: unknown key (did you mean 'step'?); allowed keys here: ...``."""
    return f"{path}: {unknown_key_message(key, allowed)}"


def unknown_key_message(key: str, allowed: Iterable[str]) -> str:
    """``unknown key (did you mean 'step'?); allowed keys here: go_up, range, step``."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(key, allowed, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    hint = f"; allowed keys here: {', '.join(allowed)}" if allowed else ""
    return f"unknown key{guess}{hint}"


def model_keys(model: type[BaseModel]) -> set[str]:
    """The keys a model takes: its field names and their aliases."""
    keys = set(model.model_fields)
    keys.update(f.alias for f in model.model_fields.values() if f.alias)
    return keys


def union_members(annotation: Any) -> list[Any]:
    """The members of a union annotation (``Annotated`` and ``None`` removed)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return []
    members: list[Any] = []
    for member in typing.get_args(annotation):
        if member is type(None):
            continue
        members.extend(union_members(member) or [member])
    return members


def closest_model(candidates: Iterable[Any], data: dict[str, Any]) -> type[BaseModel] | None:
    """Of the model classes among ``candidates``, the one that shares most keys with ``data``.

    A key of ``data`` close to one of the model's (a likely misspelling) counts as
    shared. Ties go to the model with fewer required keys missing. None when no model
    shares a key with ``data``.
    """
    best: tuple[int, int] | None = None
    chosen: type[BaseModel] | None = None
    for member in candidates:
        if not (isinstance(member, type) and issubclass(member, BaseModel)):
            continue
        keys = model_keys(member)
        shared = len(keys & set(data))
        misspelt = sum(bool(difflib.get_close_matches(str(k), keys, n=1)) for k in set(data) - keys)
        required = {n for n, f in member.model_fields.items() if f.is_required()}
        score = (shared + misspelt, -len(required - set(data)))
        if score[0] and (best is None or score > best):
            best, chosen = score, member
    return chosen


def describe_unknown_keys(path: str, model: type[BaseModel], data: dict[str, Any]) -> list[str]:
    """One line per key of ``data`` that ``model`` does not take (the path is ``data``'s)."""
    keys = model_keys(model)
    where = f"{path}." if path else ""
    return [
        _unknown_key(f"{where}{key}", str(key), model.model_fields)
        for key in data
        if key not in keys
    ]


def _branch_at(model: type[BaseModel], loc: tuple[Any, ...]) -> int | None:
    """The index in ``loc`` of the first union-member name pydantic put there, if any."""
    current: Any = model
    for i, part in enumerate(loc):
        current, is_member_name = _step(current, part)
        if is_member_name:
            return i
        if current is None:
            return None
    return None


def _collapse_unions(model: type[BaseModel], errors: list[Any], problems: list[str]) -> list[Any]:
    """Replace each union's per-form errors by those of the form the user meant.

    Lines for forms collapsed here are appended to ``problems``; the errors left to
    describe one by one are returned (with the form's name taken out of their path).
    """
    groups: dict[tuple[Any, ...], dict[str, list[Any]]] = {}
    kept: list[Any] = []
    for err in errors:
        loc = tuple(err["loc"])
        i = _branch_at(model, loc)
        if i is None:
            kept.append(err)
            continue
        groups.setdefault(loc[:i], {}).setdefault(str(loc[i]), []).append(err)
    for prefix, branches in groups.items():
        path = field_path(prefix) if prefix else "(top level)"
        data = _written_mapping(prefix, branches)
        members = {n: _member_named(model, prefix, n) for n in branches}
        chosen = closest_model([m for m in members.values() if m is not None], data or {})
        if data is None or chosen is None:
            forms = " or ".join(_form(n, members[n]) for n in branches)
            value = next((e.get("input") for errs in branches.values() for e in errs), None)
            shown = "" if isinstance(value, dict | list) else f" (got {value!r})"
            keys = f"; it has keys {', '.join(map(str, data))}" if data else ""
            problems.append(
                f"{path}: not one of the forms allowed here{shown}{keys}; forms: {forms}"
            )
            continue
        name = next(n for n, m in members.items() if m is chosen)
        unknown = describe_unknown_keys(path if prefix else "", chosen, data)
        problems.extend(unknown)
        for err in branches[name]:
            if unknown and err["type"] == "missing":
                continue  # most likely the misspelt key: named above
            loc = tuple(err["loc"])
            kept.append({**err, "loc": prefix + loc[len(prefix) + 1 :]})
    return kept


def _can_hold(annotation: Any, part: Any) -> bool:
    """Whether a union member could own the ``loc`` element ``part`` (index or key)."""
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return isinstance(part, str) and part in annotation.model_fields
    origin = typing.get_origin(annotation)
    if isinstance(part, int):
        return origin in (list, tuple, collections.abc.Sequence)
    return origin in (dict, collections.abc.Mapping)


def _form(name: str, member: type[BaseModel] | None) -> str:
    """``ZRangeAround (range, step)``: a form and the keys it requires."""
    if member is None:
        return name
    required = [n for n, f in member.model_fields.items() if f.is_required()]
    return f"{name} ({', '.join(required)})" if required else name


def _written_mapping(
    prefix: tuple[Any, ...], branches: dict[str, list[Any]]
) -> dict[str, Any] | None:
    """What the user wrote at ``prefix``, when pydantic's errors show it as a mapping."""
    for name, errs in branches.items():
        for err in errs:
            loc = tuple(err["loc"])
            value = err.get("input")
            if not isinstance(value, dict):
                continue
            if loc == (*prefix, name) or (len(loc) == len(prefix) + 2 and err["type"] == "missing"):
                return cast(dict[str, Any], value)
    return None


def _member_named(
    model: type[BaseModel], prefix: tuple[Any, ...], name: str
) -> type[BaseModel] | None:
    """The union member called ``name`` of the field at ``prefix``."""
    annotation = annotation_at(model, prefix)
    for member in union_members(annotation):
        if getattr(member, "__name__", None) == name and issubclass(member, BaseModel):
            return member
    return None


def annotation_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The annotation of the field at ``loc`` (union-member names in ``loc`` followed)."""
    current: Any = model
    for part in loc:
        current, _ = _step(current, part)
        if current is None:
            return None
    return current


def _step(current: Any, part: Any) -> tuple[Any, bool]:
    """The annotation one ``loc`` element below ``current``; and whether it named a form."""
    members = union_members(current)
    named = [m for m in members if getattr(m, "__name__", None) == part]
    if named and isinstance(part, str):
        return named[0], True
    if len(members) > 1:
        members = [m for m in members if _can_hold(m, part)]
    if len(members) == 1:
        current = members[0]
    while typing.get_origin(current) is typing.Annotated:
        current = typing.get_args(current)[0]
    if isinstance(current, type) and issubclass(current, BaseModel):
        field = current.model_fields.get(str(part))
        return (field.annotation if field is not None else None), False
    args = typing.get_args(current)
    if not args:
        return None, False
    return (args[0] if isinstance(part, int) else args[-1]), False


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
    "annotation_at",
    "closest_model",
    "describe_unknown_keys",
    "describe_validation_error",
    "field_path",
    "model_keys",
    "union_members",
    "unknown_key_message",
    "validate_model",
]
