"""Per-image metadata and image counts read straight from a run's documents.

A plate run's ``frames`` stream gives each image of its ``primary`` stream one row
(EventPages, or Events); these helpers turn the documents back into those rows, in
image order, without a catalog.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from hcs_schema import FRAMES_STREAM, IMAGES_STREAM

Documents = Iterable[tuple[str, dict[str, Any]]]


def _descriptors(docs: Documents, stream: str) -> set[str]:
    return {d["uid"] for n, d in docs if n == "descriptor" and d["name"] == stream}


def frame_rows(docs: Documents) -> list[dict[str, Any]]:
    """Every image's row (``{"frame-well": ..., ...}``), in sequence-number order."""
    docs = list(docs)
    frames = _descriptors(docs, FRAMES_STREAM)
    rows: list[tuple[int, dict[str, Any]]] = []
    for name, doc in docs:
        if doc.get("descriptor") not in frames:
            continue
        if name == "event":
            rows.append((doc["seq_num"], dict(doc["data"])))
        elif name == "event_page":
            for i, seq in enumerate(doc["seq_num"]):
                rows.append((seq, {k: v[i] for k, v in doc["data"].items()}))
    return [row for _, row in sorted(rows, key=lambda r: r[0])]


def images_announced(docs: Documents) -> int:
    """How many images the run's StreamDatum documents announced."""
    docs = list(docs)
    primary = _descriptors(docs, IMAGES_STREAM)
    return sum(
        d["indices"]["stop"] - d["indices"]["start"]
        for n, d in docs
        if n == "stream_datum" and d["descriptor"] in primary
    )
