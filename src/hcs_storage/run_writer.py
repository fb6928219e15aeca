"""A Tiled run writer that writes only when flushed and resumes a partly written run.

Built on bluesky-tiled-plugins' ``TiledWriter`` machinery (the same normalizer,
consolidators and tables). Whenever a writer for a run is (re)built, after a crash of
either side or after any failed request, the forwarder replays the run's journal from
its start through a :class:`ResumableRunWriter`, which first looks at what the catalog
has: it re-opens the existing run container and its stream nodes instead of creating
them, skips the event rows already in each stream's table (counted per stream),
re-registers frames only past the count each array node already has (a data source
update replaces the whole registration, so it is idempotent), and does not write a
stop document twice. Replay costs reading the journal, not requests.

What one frame registration costs grows as little with the run as Tiled allows: the
writer sends a field's new frames only and then forgets them (the consolidator would
otherwise keep, and the writer copy, an ``Asset`` for every frame of the run), and it
describes the image stack in chunks of :data:`CHUNK_BYTES` rather than one chunk per
frame. Tiled replaces a data source's structure with every update, and a structure
lists every chunk along the frame axis: with one per frame, each update sent, hashed
and stored a structure growing with the run (a new ``structures`` row each time, the
catalog growing with the square of the run). Each frame is still its own file; readers
see the same ``(N, 1, H, W)`` array. The consolidator's map of each frame's sequence
number to its index (a dict entry per frame) is kept as runs of consecutive pairs
(:class:`SeqNumRuns`): one run for a plate's frames.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from bluesky_tiled_plugins.writing.tiled_writer import (
    _RunWriter,  # pyright: ignore[reportPrivateUsage]
)
from tiled.client.utils import handle_error
from tiled.structures.array import ArrayStructure
from tiled.structures.data_source import Asset
from tiled.utils import safe_json_dump

log = logging.getLogger(__name__)

#: Larger than any batch: the writer writes only when the forwarder flushes it.
_NEVER = 2**62
#: Bytes of frames per chunk of an image stack (as many whole frames as fit, at least
#: one): the most one block read of the stack loads.
CHUNK_BYTES = 64 * 2**20
#: Mimetype prefix of a sequence of files (``multipart/related;type=image/tiff``...).
FILE_SEQUENCE_MIMETYPE = "multipart/related"


class _Attached:
    """An existing Tiled container, standing in for one the writer would create.

    ``new``, ``create_container`` and ``create_appendable_table`` return the existing
    child of that name when there is one, and report it, so a replayed run re-opens
    its nodes instead of failing on a name conflict.
    """

    def __init__(self, node: Any, on_existing: Callable[[str, Any], None]) -> None:
        self._node = node
        self._on_existing = on_existing

    def _existing(self, key: str) -> Any | None:
        if key in self._node:
            child = self._node[key]
            self._on_existing(key, child)
            return child
        return None

    def new(self, key: str, **kwargs: Any) -> Any:
        """An existing child, or a new one."""
        child = self._existing(key)
        return child if child is not None else self._node.new(key=key, **kwargs)

    def create_appendable_table(self, key: str, **kwargs: Any) -> Any:
        """An existing table, or a new one."""
        child = self._existing(key)
        return child if child is not None else self._node.create_appendable_table(key=key, **kwargs)

    def create_container(self, key: str, **kwargs: Any) -> Any:
        """An existing container (as a ``.base`` holder), or a new one."""
        child = self._existing(key)
        if child is None:
            return self._node.create_container(key=key, **kwargs)
        return _BaseHolder(getattr(child, "base", child))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def __contains__(self, key: str) -> bool:
        return key in self._node

    def __getitem__(self, key: str) -> Any:
        return self._node[key]


@dataclass
class _BaseHolder:
    base: Any


class _UnsentAssets(list[Asset]):
    """A consolidator's asset list holding only the assets not yet sent to the catalog.

    Its length still counts every asset of the data source (the consolidator numbers
    each new asset by it), so the assets already registered need not stay in memory.

    Args:
        sent: how many assets the catalog has already.
    """

    def __init__(self, sent: int) -> None:
        super().__init__()
        self.sent = sent

    def __len__(self) -> int:
        return self.sent + super().__len__()

    def unsent(self) -> list[Asset]:
        """The assets not yet sent, in order."""
        return list(self.__iter__())


class SeqNumRuns(Mapping[int, int]):
    """A map of sequence numbers to indices, kept as runs of consecutive pairs.

    It stands in for a consolidator's ``_seqnums_to_indices_map``, which gets a dict of
    each StreamDatum's pairs (``update``) and is asked its length. Pairs that extend
    the map past its last sequence number, both numbers counting up by one, are runs
    (a plate's frames make one); any other update makes it a plain dict from then on,
    with a dict's meaning.

    Args:
        pairs: the map so far.
    """

    def __init__(self, pairs: Mapping[int, int] | None = None) -> None:
        #: [first sequence number, one past the last, index of the first]
        self._runs: list[list[int]] = []
        self._count = 0
        self._plain: dict[int, int] | None = None
        self.update(pairs or {})

    def update(self, pairs: Mapping[int, int]) -> None:
        """Add ``pairs`` (a later pair for a sequence number replaces the earlier)."""
        if self._plain is None and not self._extend(pairs):
            self._plain = dict(self.items())
        if self._plain is not None:
            self._plain.update(pairs)

    def _extend(self, pairs: Mapping[int, int]) -> bool:
        """Add ``pairs`` as a run if they are one, past every sequence number so far."""
        if not pairs:
            return True
        items = iter(pairs.items())
        first_seq, first_index = next(items)
        count = 1
        for seq, index in items:
            if seq != first_seq + count or index != first_index + count:
                return False
            count += 1
        last = self._runs[-1] if self._runs else None
        if last is not None and first_seq < last[1]:
            return False
        if last is not None and first_seq == last[1] and first_index == last[2] + last[1] - last[0]:
            last[1] += count
        else:
            self._runs.append([first_seq, first_seq + count, first_index])
        self._count += count
        return True

    def __getitem__(self, seq: int) -> int:
        if self._plain is not None:
            return self._plain[seq]
        for start, stop, index in self._runs:
            if start <= seq < stop:
                return index + seq - start
        raise KeyError(seq)

    def __iter__(self) -> Iterator[int]:
        if self._plain is not None:
            return iter(self._plain)
        return (seq for start, stop, _ in self._runs for seq in range(start, stop))

    def __len__(self) -> int:
        return len(self._plain) if self._plain is not None else self._count


def stack_chunks(structure: ArrayStructure) -> ArrayStructure:
    """An image stack's structure with its frame axis in chunks of :data:`CHUNK_BYTES`.

    Args:
        structure: the stack's structure, one chunk per frame along axis 0.
    """
    if not structure.shape:
        return structure
    frames = structure.shape[0]
    frame_bytes = math.prod(structure.shape[1:]) * structure.data_type.itemsize
    per_chunk = max(1, CHUNK_BYTES // max(1, frame_bytes))
    full, rest = divmod(frames, per_chunk)
    axis = (per_chunk,) * full + ((rest,) if rest else ())
    return dataclasses.replace(structure, chunks=(axis, *structure.chunks[1:]))


def _is_frame_per_file(data_source: Any) -> bool:
    """Whether a data source is a file sequence of one frame per file (a TIFF sequence)."""
    return (
        str(data_source.mimetype).startswith(FILE_SEQUENCE_MIMETYPE)
        and "chunks" not in (data_source.properties or {})  # else several frames a file
        and isinstance(data_source.structure, ArrayStructure)
    )


class ResumableRunWriter(_RunWriter):
    """A ``_RunWriter`` that writes only when flushed and can resume a partly written run.

    If the run's container already exists in the catalog, the writer attaches to it
    and skips what the catalog already holds (see :mod:`hcs_storage.run_writer`).

    Args:
        client: the catalog client (with data sources included).
    """

    def __init__(self, client: Any) -> None:
        super().__init__(client, batch_size=_NEVER)
        self.attached = False
        self._stopped_already = False
        self._rows_present: dict[str, int] = {}
        self._rows_seen: dict[str, int] = defaultdict(int)
        self._frames_present: dict[str, int] = {}
        self._data_source_ids: dict[str, int] = {}
        self.rows_skipped = 0

    # Resuming ----------------------------------------------------------------------
    def start(self, doc: Any) -> None:
        """Create the run container, or re-open it when the catalog already has it."""
        uid = doc["uid"]
        client: Any = self.client
        if uid not in client:
            super().start(doc)
            return
        self.attached = True
        self.access_tags = doc.get("tiled_access_tags")
        existing = client[uid]
        existing = getattr(existing, "base", existing)
        self._stopped_already = "stop" in (existing.metadata or {})
        self.root_node = _Attached(existing, self._found)  # type: ignore[assignment]

    def _found(self, key: str, node: Any) -> None:
        """Record what an existing node already holds."""
        if getattr(node, "structure_family", None) == "array":
            self._frames_present[node.uri] = int(node.shape[0]) if node.shape else 0

    def descriptor(self, doc: Any) -> None:
        """Create or re-open the stream; count the rows its table already has."""
        name = doc["name"]
        if not self.attached:
            super().descriptor(doc)
            return
        if name in self._desc_nodes:
            metadata: Any = self._desc_nodes[name].metadata
            updates: list[dict[str, Any]] = metadata.get("_config_updates", [])
            if any(u.get("uid") == doc["uid"] for u in updates):
                self._desc_nodes[doc["uid"]] = self._desc_nodes[name]
                return
            super().descriptor(doc)
            return
        super().descriptor(doc)
        node = self._desc_nodes[name]
        attached = _Attached(node, self._found)
        self._desc_nodes[name] = self._desc_nodes[doc["uid"]] = attached  # type: ignore[assignment]
        if "internal" in node:
            table = node["internal"]
            self._internal_tables[name] = table
            self._rows_present[name] = len(table.read())
        for key in self._int_array_keys[name]:
            if key in node:
                array = node[key]
                self._internal_arrays[f"{name}/{key}"] = array
                if int(array.shape[0]) != self._rows_present.get(name, 0):
                    log.warning(
                        "run %s stream %s: array %s has %s rows, the table %s; resuming from "
                        "the table",
                        self.root_node and self.root_node.item["id"],
                        name,
                        key,
                        array.shape[0],
                        self._rows_present.get(name, 0),
                    )

    def event(self, doc: Any) -> None:
        """Cache the row, unless the stream's table already holds it."""
        name = self._desc_nodes[doc["descriptor"]].item["id"]
        self._rows_seen[name] += 1
        if self._rows_seen[name] <= self._rows_present.get(name, 0):
            self.rows_skipped += 1
            return
        super().event(doc)

    def _update_consolidator(self, doc: Any) -> Any:
        # The consolidator's sequence-number map as runs, not a dict entry per frame.
        _, consolidator = self.get_sres_node(doc["stream_resource"], doc["descriptor"])
        pairs = consolidator._seqnums_to_indices_map  # pyright: ignore[reportPrivateUsage]
        if not isinstance(pairs, SeqNumRuns):
            consolidator._seqnums_to_indices_map = SeqNumRuns(pairs)  # pyright: ignore[reportPrivateUsage, reportAttributeAccessIssue]
        return super()._update_consolidator(doc)

    def _write_external_data(self, doc: Any) -> None:
        node, consolidator, patch = self._update_consolidator(doc)
        present = self._frames_present.get(node.uri)
        if present is not None and consolidator.shape[0] <= present:
            return  # the catalog has registered these frames already
        data_source = consolidator.get_data_source()
        # Tiled adds the assets of a data source update to those it has (and replaces
        # the structure): sending only the new ones keeps each update O(batch) rather
        # than O(frames so far). A re-opened node gets the full list once.
        assets = consolidator.assets
        total = len(assets)
        if isinstance(assets, _UnsentAssets):
            data_source.assets = assets.unsent()
        else:
            data_source.assets = list(assets)
        if _is_frame_per_file(data_source):
            data_source.structure = stack_chunks(data_source.structure)
        self._update_data_source_for_node(node, data_source, patch)
        consolidator.assets = _UnsentAssets(total)

    def _update_data_source_for_node(
        self, node: Any, data_source: Any, patch: Any | None = None
    ) -> None:
        # As _RunWriter's, but the data source id is asked for once per node: asking
        # fetches the node with every asset registered so far.
        ds_id = self._data_source_ids.get(node.uri)
        if ds_id is None:
            ds_id = self._data_source_ids[node.uri] = node.data_sources()[0].id
        data_source.id = ds_id
        params = (
            {
                "patch_shape": ",".join(map(str, patch.shape)),
                "patch_offset": ",".join(map(str, patch.offset)),
            }
            if patch
            else None
        )
        handle_error(
            node.context.http_client.put(
                node.uri.replace("/metadata/", "/data_source/", 1),
                content=safe_json_dump({"data_source": data_source}),
                params=params,
            )
        )

    def _append_with_retry(self, df_client: Any, table: Any, desc_name: str) -> None:
        # No blind retry: a lost response may hide a successful append. The forwarder
        # rebuilds the writer, which counts the rows the table really has.
        df_client.append_partition(0, table)

    # Writing -----------------------------------------------------------------------
    def flush(self) -> None:
        """Write every cached event row and frame registration to Tiled."""
        for desc_name, cache in self._internal_data_cache.items():
            if cache:
                self._write_internal_data(cache, desc_node=self._desc_nodes[desc_name])
                cache.clear()
        for sres_uid in list(self._external_data_cache):
            self._write_external_data(self._external_data_cache[sres_uid])
            del self._external_data_cache[sres_uid]

    def stop(self, doc: Any) -> None:
        """Flush and write the stop document (unless the catalog already has it)."""
        self.flush()
        if self._stopped_already:
            try:
                self._close_stream_tree()
            except Exception:
                log.debug("closing the streams of an already stopped run", exc_info=True)
            return
        super().stop(doc)
