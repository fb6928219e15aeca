"""Reading a user-written YAML file strictly, and cheaply whatever it holds.

PyYAML's ``safe_load`` lets a second ``camera:`` block silently replace the first,
expands aliases without limit (a few lines of "billion laughs" become gigabytes once a
model walks them), crashes the interpreter on nesting some 100,000 deep (and takes
seconds at 10,000), reads about 0.6 MB/s, and raises ``UnicodeDecodeError`` on a file
saved as Latin-1. :func:`read_yaml_file`
refuses each of these with a :class:`UserFileError` naming the file, the line and the
limit, before anything is built from the data:

- at most :data:`MAX_FILE_BYTES` bytes of UTF-8 text;
- at most :data:`MAX_DEPTH` nested mappings/sequences;
- at most :data:`MAX_NODES` values once aliases are expanded;
- no key given twice in one mapping, at any depth (a ``<<`` merge may be overridden).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel

from hcs_devices.config.errors import UserFileError, validate_model

M = TypeVar("M", bound=BaseModel)

#: Largest user file read, bytes: some 4,000 stage positions written out (a plate plan or
#: a grid takes a few lines). PyYAML reads 0.3-0.6 MB/s: this size takes 0.2-0.4 s.
MAX_FILE_BYTES = 128 * 1024
#: Deepest nesting of mappings and sequences.
MAX_DEPTH = 64
#: Most values in a file once aliases are expanded.
MAX_NODES = 200_000

_MERGE_KEY = "<<"
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml_file(path: str | Path) -> Any:
    """The data of a YAML (or JSON) file written by a user.

    Raises:
        UserFileError: the file cannot be read, is too large, is not UTF-8, is not
            YAML, nests too deeply, expands to too many values, or repeats a key.
    """
    source = str(path)
    try:
        with Path(path).open("rb") as stream:
            raw = stream.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserFileError(source, [f"cannot read: {exc.strerror or exc}"]) from exc
    if len(raw) > MAX_FILE_BYTES:
        raise UserFileError(
            source, [f"file is larger than {MAX_FILE_BYTES:,} bytes, the most a user file may be"]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise UserFileError(
            source,
            [f"line {line}: byte 0x{raw[exc.start]:02x} is not UTF-8 text; save the file as UTF-8"],
        ) from None
    try:
        problem = _scan(text)
        if problem is not None:
            raise UserFileError(source, [problem])
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise UserFileError(source, [f"not valid YAML: {yaml_problem(exc)}"]) from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML parser's error as one line: what it found wrong, and where (1-based)."""
    if not isinstance(exc, yaml.MarkedYAMLError):
        return " ".join(str(exc).split())
    where = exc.problem_mark
    at = f" at line {where.line + 1}, column {where.column + 1}" if where else ""
    context = ""
    if exc.context and exc.context_mark is not None:
        mark = exc.context_mark
        context = f" ({exc.context} at line {mark.line + 1}, column {mark.column + 1})"
    return f"{exc.problem or 'unreadable'}{at}{context}"


@dataclass
class _Mapping:
    """A mapping being scanned: its keys so far (with their lines), and what comes next."""

    keys: dict[str, int] = field(default_factory=dict[str, int])
    expect_key: bool = True


def _scan(text: str) -> str | None:
    """What is wrong with the file's structure, read as events before building anything.

    One pass over the parser's events finds a key given twice in one mapping, nesting
    deeper than :data:`MAX_DEPTH`, and more than :data:`MAX_NODES` values once aliases
    are expanded (an anchor's size is counted where it is defined, and again at each
    alias), without composing the document (which the C parser cannot do safely at
    depths of tens of thousands).

    Raises:
        yaml.YAMLError: the text is not YAML.
    """
    loader = _Loader(text)
    stack: list[_Mapping | None] = []  # None for a sequence
    started: list[tuple[str | None, int]] = []  # anchor and the count where it opened
    anchors: dict[str, int] = {}
    count = 0
    try:
        while (event := loader.get_event()) is not None:
            if isinstance(event, yaml.NodeEvent | yaml.CollectionEndEvent):
                line = event.start_mark.line + 1
            else:
                continue
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                anchor, opened = started.pop()
                if anchor is not None:
                    anchors[anchor] = count - opened + 1
                continue
            mapping = stack[-1] if stack else None
            if mapping is not None:
                if mapping.expect_key and isinstance(event, yaml.ScalarEvent):
                    key = event.value
                    first = mapping.keys.get(key)
                    if first is not None and key != _MERGE_KEY:
                        return (
                            f"line {line}: duplicate key {key!r} (first given at line "
                            f"{first}); a second value would silently replace the first, "
                            "so give each key once"
                        )
                    mapping.keys[key] = line
                mapping.expect_key = not mapping.expect_key
            if isinstance(event, yaml.AliasEvent):
                count += anchors.get(event.anchor or "", 1)
            else:
                count += 1
                if isinstance(event, yaml.ScalarEvent) and event.anchor is not None:
                    anchors[event.anchor] = 1
            if count > MAX_NODES:
                return (
                    f"line {line}: the file expands to more than {MAX_NODES:,} values "
                    "(aliases included), the most allowed"
                )
            if isinstance(event, yaml.CollectionStartEvent):
                if len(stack) >= MAX_DEPTH:
                    return f"line {line}: nested more than {MAX_DEPTH} levels deep"
                stack.append(_Mapping() if isinstance(event, yaml.MappingStartEvent) else None)
                started.append((event.anchor, count))
    finally:
        loader.dispose()
    return None


def load_yaml_model(model: type[M], path: str | Path) -> M:
    """Read a YAML file into a model; every error names the file and the field.

    Raises:
        UserFileError: the file is unreadable, is not YAML (see :func:`read_yaml_file`),
            or does not validate.
    """
    data = read_yaml_file(path)
    return validate_model(model, data if data is not None else {}, str(path))


__all__ = ["MAX_DEPTH", "MAX_FILE_BYTES", "MAX_NODES", "load_yaml_model", "read_yaml_file"]
