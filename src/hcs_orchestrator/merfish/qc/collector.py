"""Which image file is which (round, bit, field, z): bookkeeping over a run's documents.

A MERFISH image run announces its images as StreamResource/StreamDatum documents
(TIFF files, one per image, named by the resource's template) and gives each image a
row in its ``frames`` stream (well, fov, z_index, round, bit). :class:`ImageIndex`
follows those documents and says, at each run's stop, which rounds of which fields
the run imaged and where each of their images is on disk.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse
from urllib.request import url2pathname

from hcs_schema import FRAMES_STREAM, IMAGES_STREAM, MERFISH_KEY, frame_key

#: A field of view: (well, fov).
FieldId = tuple[str, int]


@dataclass
class _Run:
    experiment_id: str
    merfish: dict[str, Any]
    descriptors: dict[str, str] = field(default_factory=dict)  # uid -> stream name
    resources: dict[str, tuple[Path, str]] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)  # image k of the primary stream
    rows: dict[int, dict[str, Any]] = field(default_factory=dict)  # image k -> row


@dataclass(frozen=True)
class RunImages:
    """What one finished run imaged: per (field, round), bit -> z planes' files.

    Attributes:
        uid: the run's uid.
        experiment_id: its start document's ``experiment_id``.
        merfish: its start document's MERFISH metadata.
        rounds: (field, round) -> bit -> the files of its z planes (by z index).
    """

    uid: str
    experiment_id: str
    merfish: dict[str, Any]
    rounds: dict[tuple[FieldId, int], dict[str, dict[int, Path]]]


def _local_path(uri: str) -> Path:
    return Path(url2pathname(urlparse(uri).path))


class ImageIndex:
    """Follows documents; hands back a :class:`RunImages` at each MERFISH run's stop."""

    def __init__(self) -> None:
        self._runs: dict[str, _Run] = {}
        self._owner: dict[str, str] = {}  # descriptor / resource uid -> run uid

    def __call__(self, name: str, doc: dict[str, Any]) -> RunImages | None:
        """Take one document; at the stop of a MERFISH run, what it imaged."""
        if name == "start":
            if MERFISH_KEY in doc:
                self._runs[doc["uid"]] = _Run(doc.get("experiment_id", ""), dict(doc[MERFISH_KEY]))
            return None
        if name == "stop":
            run = self._runs.pop(doc["run_start"], None)
            return None if run is None else self._finish(doc["run_start"], run)
        if name in ("descriptor", "stream_resource"):
            run = self._runs.get(doc.get("run_start", ""))
            if run is None:
                return None
            self._owner[doc["uid"]] = doc["run_start"]
            if name == "descriptor":
                run.descriptors[doc["uid"]] = doc["name"]
            elif "template" in doc.get("parameters", {}):
                run.resources[doc["uid"]] = (_local_path(doc["uri"]), doc["parameters"]["template"])
            return None
        if name == "stream_datum":
            run = self._runs.get(self._owner.get(doc["stream_resource"], ""))
            if run is not None and run.descriptors.get(doc["descriptor"]) == IMAGES_STREAM:
                directory, template = run.resources[doc["stream_resource"]]
                indices = doc["indices"]
                run.files += [
                    directory / template.format(i) for i in range(indices["start"], indices["stop"])
                ]
            return None
        if name in ("event", "event_page"):
            run = self._runs.get(self._owner.get(doc["descriptor"], ""))
            if run is None or run.descriptors.get(doc["descriptor"]) != FRAMES_STREAM:
                return None
            if name == "event":
                run.rows[doc["seq_num"] - 1] = doc["data"]
            else:
                for i, seq in enumerate(doc["seq_num"]):
                    run.rows[seq - 1] = {k: v[i] for k, v in doc["data"].items()}
        return None

    def _finish(self, uid: str, run: _Run) -> RunImages:
        for owned in [k for k, v in self._owner.items() if v == uid]:
            del self._owner[owned]
        rounds: dict[tuple[FieldId, int], dict[str, dict[int, Path]]] = defaultdict(dict)
        for k, row in sorted(run.rows.items()):
            round_ = int(row.get(frame_key("round"), 0))
            if round_ < 1 or k >= len(run.files):
                continue  # not a MERFISH image, or an image never announced
            where = (str(row[frame_key("well")]), int(row[frame_key("fov")]))
            bits = rounds[(where, round_)]
            bits.setdefault(str(row[frame_key("bit")]), {})[int(row[frame_key("z_index")])] = (
                run.files[k]
            )
        return RunImages(uid, run.experiment_id, run.merfish, dict(rounds))
