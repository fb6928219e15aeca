"""A software readable that holds the last record of a plan's own stream.

A plan that records what it did (a fluidics step, a time point) as events needs a
Bluesky readable: the same object in every event of a stream. :class:`RecordLog`
holds the last record (a dataclass whose fields are the stream's), describes those
fields with their units, and reads them.
"""

from __future__ import annotations

import time
from dataclasses import astuple
from typing import Any, Literal

from event_model import DataKey

#: A field's event-model type and units (None: no units).
FieldSpec = tuple[Literal["string", "number", "integer", "boolean"], str | None]


class RecordLog:
    """Holds the last record, read into events as ``<name>-<field>``.

    Args:
        name: prefix of the event fields.
        source: the data keys' source.
        fields: field name -> its type and units, in the record's field order.
    """

    def __init__(self, name: str, source: str, fields: dict[str, FieldSpec]) -> None:
        self.name = name
        self.parent = None
        self._source = source
        self._fields = fields
        self._record: Any | None = None

    def record(self, record: Any) -> None:
        """Hold ``record`` (a dataclass with the fields) for the next read."""
        self._record = record

    def describe(self) -> dict[str, DataKey]:
        """The event fields of a record."""
        keys: dict[str, DataKey] = {}
        for field, (dtype, units) in self._fields.items():
            key = DataKey(source=self._source, dtype=dtype, shape=[])
            if units is not None:
                key["units"] = units
            keys[f"{self.name}-{field}"] = key
        return keys

    def read(self) -> dict[str, Any]:
        """The last record as readings."""
        if self._record is None:
            raise RuntimeError(f"{self.name}: nothing recorded yet")
        now = time.time()
        return {
            f"{self.name}-{field}": {"value": value, "timestamp": now}
            for field, value in zip(self._fields, astuple(self._record), strict=True)
        }
