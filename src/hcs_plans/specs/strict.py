"""Strict reading of models that ignore unknown keys (useq-schema's).

useq-schema models drop keys they do not know, so ``exposur: 20`` would silently run
at the default exposure. Validating, dumping back what was understood, and comparing
the keys finds every key that was dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


def dropped_keys(data: Any, understood: Any, path: str = "") -> list[str]:
    """Paths of keys present in ``data`` but absent from ``understood``."""
    found: list[str] = []
    if isinstance(data, dict) and isinstance(understood, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in understood:
                found.append(where)
            else:
                found.extend(dropped_keys(value, understood[key], where))
    elif isinstance(data, list | tuple) and isinstance(understood, list | tuple):
        for i, (value, known) in enumerate(zip(data, understood, strict=False)):
            found.extend(dropped_keys(value, known, f"{path}[{i}]"))
    return found


def understood_form(model: BaseModel) -> Any:
    """What a model understood of its input, as plain data with the input's key names."""
    return model.model_dump(mode="json", exclude_unset=True, by_alias=False)
