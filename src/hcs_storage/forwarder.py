"""The forwarder: drains the document spool into Tiled, exactly once, whatever crashed.

A :class:`Forwarder` reads each run's journal (see :mod:`hcs_storage.spool`) in order
and feeds the documents to a Tiled writer built on bluesky-tiled-plugins'
``TiledWriter`` machinery (the same normalizer, consolidators and tables). It writes in
batches it controls: after each batch every event row and every frame it has read is
in Tiled, and the acknowledged seq is recorded in the run's ``.ack`` file.

Exactly once: the acknowledgement file cannot be updated in the same transaction as
Tiled, so it is only a progress marker. The truth is what Tiled holds. Whenever a
writer for a run is (re)built, after a crash of either side or after any failed
request, the run's journal is replayed from its start through a writer that first
looks at what the catalog has: it re-opens the existing run container and its stream
nodes instead of creating them, skips the event rows already in each stream's table
(counted per stream), re-registers frames only past the count each array node already
has (a data source update replaces the whole registration, so it is idempotent), and
does not write a stop document twice. Replay costs reading the journal, not requests.

A journal with no stop document whose writer process is gone (its lock is free) is
closed with an honest stop document (exit status ``"fail"``) before it is forwarded.

When Tiled is unreachable the forwarder retries with exponential backoff (capped) and
the spool grows; nothing is ever raised into the RunEngine.

Run it in the acquisition process (:class:`DurableStorage`, embedded mode) or as a
process of its own (lab mode)::

    export HCS_TILED_API_KEY=...   # or: --api-key-file PATH
    python -m hcs_storage.forwarder --data-dir D --tiled-uri http://host:8000

The API key is read from ``$HCS_TILED_API_KEY`` or from a key file, never from the
command line (every user of the machine can read command lines).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bluesky_tiled_plugins.writing.tiled_writer import (
    RunNormalizer,
    _RunWriter,  # pyright: ignore[reportPrivateUsage]
)
from tiled.client.utils import handle_error
from tiled.utils import safe_json_dump

from hcs_storage.spool import (
    ACK_SUFFIX,
    JOURNAL_SUFFIX,
    Document,
    SpoolCorruptError,
    SpoolWriter,
    close_abandoned,
    is_abandoned,
    read_ack,
    read_journal,
    spool_dir,
    write_ack,
)

log = logging.getLogger(__name__)

#: Documents read and written to Tiled per batch (one table append per stream and one
#: frame registration per array per batch).
BATCH_DOCS = 500
#: Backoff after a failed batch: first delay and cap (seconds).
BACKOFF_INITIAL_S = 0.5
BACKOFF_MAX_S = 30.0
#: How often an idle forwarder looks for new documents (seconds).
POLL_S = 0.2
#: Larger than any batch: the writer writes only when the forwarder flushes it.
_NEVER = 2**62


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


class ResumableRunWriter(_RunWriter):
    """A ``_RunWriter`` that writes only when flushed and can resume a partly written run.

    If the run's container already exists in the catalog, the writer attaches to it
    and skips what the catalog already holds (see the module docstring).

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
        self._assets_sent: dict[str, int] = {}
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

    def _write_external_data(self, doc: Any) -> None:
        node, consolidator, patch = self._update_consolidator(doc)
        present = self._frames_present.get(node.uri)
        if present is not None and consolidator.shape[0] <= present:
            return  # the catalog has registered these frames already
        data_source = consolidator.get_data_source()
        assets = list(data_source.assets)
        # Tiled adds the assets of a data source update to those it has (and replaces
        # the structure): sending only the new ones keeps each update O(batch) rather
        # than O(frames so far). A re-opened node gets the full list once.
        sent = self._assets_sent.get(node.uri, None if present is not None else 0)
        if sent is not None:
            data_source.assets = assets[sent:]
        self._update_data_source_for_node(node, data_source, patch)
        self._assets_sent[node.uri] = len(assets)

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


class RunForwarder:
    """Forwards one run's journal: a normalizer feeding a :class:`ResumableRunWriter`."""

    def __init__(self, client: Any, journal: Path) -> None:
        self.journal = journal
        self.ack_path = journal.with_suffix(ACK_SUFFIX)
        ack = read_ack(self.ack_path)
        self.acked: int = ack["seq"]
        self.complete: bool = ack["complete"]
        self._client = client
        self._writer: ResumableRunWriter | None = None
        self._normalizer: RunNormalizer | None = None
        self._offset = 0
        self._fed = -1
        self.failures = 0
        self.retry_at = 0.0

    @property
    def uid(self) -> str:
        """The run's uid."""
        return self.journal.stem

    def reset(self) -> None:
        """Forget the writer: the next batch replays the journal against the catalog."""
        self._writer = None
        self._normalizer = None
        self._offset = 0
        self._fed = -1

    def step(self, batch_docs: int) -> bool:
        """Forward one batch; True if anything was written or acknowledged."""
        if self._writer is None:
            self._writer = ResumableRunWriter(self._client)
            self._normalizer = RunNormalizer()
            self._normalizer.subscribe(self._writer)
        assert self._normalizer is not None
        entries = read_journal(self.journal, self._offset, limit=batch_docs)
        if not entries:
            if is_abandoned(self.journal) and close_abandoned(self.journal) is not None:
                log.warning(
                    "run %s was left open by a crash: closed with exit status 'fail'", self.uid
                )
                return True
            return False
        for entry in entries:
            if entry.seq != self._fed + 1:
                raise RuntimeError(f"{self.journal}: seq {entry.seq} after {self._fed}")
            self._normalizer(entry.name, entry.doc)
            self._fed = entry.seq
            self._offset = entry.end_offset
            if entry.name == "stop":
                self.complete = True
        self._writer.flush()
        if self._fed > self.acked or self.complete:
            self.acked = max(self.acked, self._fed)
            write_ack(self.ack_path, self.acked, complete=self.complete, sync=self.complete)
        return True


@dataclass
class ForwarderStats:
    """Counters of a forwarder."""

    batches: int = 0
    documents: int = 0
    failures: int = 0
    busy_s: float = 0.0
    last_error: str | None = None
    closed_runs: list[str] = field(default_factory=list)


class Forwarder:
    """Drains every journal of a spool directory into Tiled, oldest run first.

    Args:
        directory: the spool directory.
        client: a Tiled client (a catalog of runs, writable).
        batch_docs: documents per batch.
        poll_s: how often to look for new documents when idle.
        backoff_initial_s: first delay after a failure; doubled each failure.
        backoff_max_s: the longest delay.
    """

    def __init__(
        self,
        directory: str | Path,
        client: Any,
        *,
        batch_docs: int = BATCH_DOCS,
        poll_s: float = POLL_S,
        backoff_initial_s: float = BACKOFF_INITIAL_S,
        backoff_max_s: float = BACKOFF_MAX_S,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.client = client.include_data_sources()
        self.batch_docs = batch_docs
        self.poll_s = poll_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.stats = ForwarderStats()
        self._runs: dict[str, RunForwarder] = {}
        self._done: set[str] = set()
        self._started: dict[str, float] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._acked = threading.Condition()
        self._thread: threading.Thread | None = None

    # Progress --------------------------------------------------------------------
    def acked(self, uid: str) -> int:
        """Last seq of run ``uid`` the catalog holds (-1 if none)."""
        run = self._runs.get(uid)
        if run is not None:
            return run.acked
        return read_ack((self.directory / uid).with_suffix(ACK_SUFFIX))["seq"]

    def wait_for(self, targets: dict[str, int], timeout_s: float | None) -> bool:
        """Wait until the catalog holds each run ``uid`` up to seq ``targets[uid]``."""
        with self._acked:
            self._wake.set()
            return self._acked.wait_for(
                lambda: all(self.acked(uid) >= seq for uid, seq in targets.items()),
                timeout=timeout_s,
            )

    def notify(self) -> None:
        """New documents were spooled: look now rather than at the next poll."""
        self._wake.set()

    # Draining --------------------------------------------------------------------
    def _pending(self) -> list[RunForwarder]:
        """Unfinished runs, oldest first (new journals are picked up here)."""
        for path in self.directory.glob(f"*{JOURNAL_SUFFIX}"):
            uid = path.stem
            if uid in self._done or uid in self._runs:
                continue
            run = RunForwarder(self.client, path)
            if run.complete:
                self._done.add(uid)
                continue
            try:
                first = read_journal(path, 0, limit=1)
            except (OSError, SpoolCorruptError):
                log.exception("cannot read journal %s", path)
                continue
            if first:  # an empty journal is a run being created
                self._runs[uid] = run
                self._started[uid] = float(first[0].doc.get("time", 0.0))
        return sorted(self._runs.values(), key=lambda r: (self._started[r.uid], r.uid))

    def drain_once(self) -> bool:
        """One pass over every unfinished run; True if anything was forwarded."""
        progressed = False
        now = time.monotonic()
        for run in self._pending():
            if run.retry_at > now:
                continue
            start = time.perf_counter()
            try:
                before = run.acked
                moved = run.step(self.batch_docs)
            except Exception as exc:
                run.failures += 1
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"
                delay = min(self.backoff_max_s, self.backoff_initial_s * 2 ** (run.failures - 1))
                run.retry_at = time.monotonic() + delay
                log.warning(
                    "forwarding run %s failed (%s); retrying in %.1f s",
                    run.uid,
                    self.stats.last_error,
                    delay,
                )
                run.reset()
                continue
            finally:
                self.stats.busy_s += time.perf_counter() - start
            if moved:
                progressed = True
                run.failures = 0
                self.stats.batches += 1
                self.stats.documents += max(0, run.acked - before)
                with self._acked:
                    self._acked.notify_all()
            if run.complete:
                self._done.add(run.uid)
                self._runs.pop(run.uid, None)
        return progressed

    def next_retry_in(self) -> float:
        """Seconds until the earliest scheduled retry (inf if none)."""
        now = time.monotonic()
        waits = [r.retry_at - now for r in self._runs.values() if r.retry_at > now]
        return min(waits, default=math.inf)

    def run_forever(self) -> None:
        """Drain until :meth:`stop` is called (the body of lab mode and of the thread)."""
        while not self._stop.is_set():
            try:
                if self.drain_once():
                    continue
            except Exception:  # a bug must not end the forwarder; it logs and retries
                log.exception("forwarder pass failed")
            self._wake.wait(min(self.poll_s, self.next_retry_in()))
            self._wake.clear()

    def start(self) -> None:
        """Run in a daemon thread (embedded mode)."""
        self._thread = threading.Thread(target=self.run_forever, name="hcs-forwarder", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float | None = None) -> None:
        """Stop the thread after its current batch."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout_s)


class DurableStorage:
    """The RunEngine's storage: a spool it appends to, and a forwarder draining it.

    Subscribe :attr:`spool` to the RunEngine. With ``client`` given, a forwarder thread
    feeds that catalog (embedded mode); without, a forwarder process does (lab mode)
    and :meth:`flush` waits on the acknowledgement files it writes.

    Args:
        data_dir: the data directory (the spool is ``DATA_DIR/spool``).
        client: the catalog to forward to in this process, or None.
        forwarder_options: passed to :class:`Forwarder`.
    """

    def __init__(self, data_dir: str | Path, client: Any | None = None, **forwarder_options: Any):
        self.directory = spool_dir(data_dir)
        self.forwarder: Forwarder | None = None
        if client is not None:
            self.forwarder = Forwarder(self.directory, client, **forwarder_options)
        notify = self.forwarder.notify if self.forwarder is not None else None
        self.spool = SpoolWriter(self.directory, on_append=notify)
        if self.forwarder is not None:
            self.forwarder.start()
        self._closed = False

    def __call__(self, name: str, doc: Document) -> None:
        """Spool one document (the RunEngine callback)."""
        self.spool(name, doc)

    def _acked(self, uid: str) -> int:
        if self.forwarder is not None:
            return self.forwarder.acked(uid)
        return read_ack((self.directory / uid).with_suffix(ACK_SUFFIX))["seq"]

    @property
    def backlog(self) -> int:
        """Documents spooled by this session that the catalog does not hold yet."""
        return sum(max(0, seq - self._acked(uid)) for uid, seq in list(self.spool.written.items()))

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until the catalog holds every document spooled so far; False on timeout."""
        targets = dict(self.spool.written)
        if self.forwarder is not None:
            return self.forwarder.wait_for(targets, timeout_s)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not all(self._acked(uid) >= seq for uid, seq in targets.items()):
            if deadline is not None and time.monotonic() >= deadline:
                return False
            threading.Event().wait(0.05)
        return True

    def close(self, timeout_s: float | None = None) -> bool:
        """Give the forwarder up to ``timeout_s`` to catch up, then stop it.

        What it has not forwarded stays in the spool, for the next forwarder. In lab
        mode (no forwarder in this process) nothing is waited for.

        Returns:
            True when the catalog held everything at close.
        """
        if self._closed:
            return True
        self._closed = True
        # Lab mode: the forwarder process drains the spool whenever it can; no need to
        # wait for it here (the spool is durable).
        caught_up = self.flush(timeout_s if self.forwarder is not None else 0.0)
        self.spool.close()
        if self.forwarder is not None:
            self.forwarder.stop(timeout_s)
        return caught_up


#: The option that used to take the key on the command line (now refused).
REFUSED_KEY_OPTION = "--api-key"


def forwarder_api_key(key_file: Path | None) -> str:
    """The forwarder's API key: from ``key_file``, else ``$HCS_TILED_API_KEY``.

    Raises:
        ServerError: neither gives a key, or the file cannot be read.
    """
    from hcs_storage.api_key import API_KEY_ENV, read_api_key_file
    from hcs_storage.server_error import ServerError

    if key_file is not None:
        return read_api_key_file(key_file)
    key = os.environ.get(API_KEY_ENV, "").strip()
    if not key:
        raise ServerError(
            f"no API key: set {API_KEY_ENV} or pass --api-key-file PATH "
            "(a key allowed to write to the Tiled server)"
        )
    return key


def main(argv: list[str] | None = None) -> int:
    """Lab mode: forward a data directory's spool to a Tiled server until stopped.

    The API key comes from --api-key-file, else $HCS_TILED_API_KEY; never from the
    command line.
    """
    parser = argparse.ArgumentParser(
        prog="python -m hcs_storage.forwarder",
        description=main.__doc__,
        allow_abbrev=False,  # so that --api-key is never taken for --api-key-file
    )
    parser.add_argument("--data-dir", required=True, type=Path, help="the data directory")
    parser.add_argument(
        "--tiled-uri", required=True, help="the Tiled server, e.g. http://127.0.0.1:8000"
    )
    parser.add_argument(
        "--api-key-file",
        type=Path,
        default=None,
        metavar="PATH",
        help="file holding a Tiled API key allowed to write (default: $HCS_TILED_API_KEY)",
    )
    # Refused, not absent: a key given here has already been exposed (ps, shell
    # history), and the user must be told so.
    parser.add_argument(
        REFUSED_KEY_OPTION, dest="api_key", nargs="?", const="", help=argparse.SUPPRESS
    )
    parser.add_argument("--batch-docs", type=int, default=BATCH_DOCS, help="documents per batch")
    parser.add_argument(
        "--backoff-max-s", type=float, default=BACKOFF_MAX_S, help="longest retry delay"
    )
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    if args.api_key is not None:
        parser.error(
            f"{REFUSED_KEY_OPTION} is not accepted: a key on the command line can be read by "
            "every user of this machine (ps) and stays in shell history; treat that key "
            "as exposed. Set $HCS_TILED_API_KEY or use --api-key-file PATH."
        )
    from hcs_storage.redact import redact_secrets_in_logs
    from hcs_storage.server_error import ServerError

    try:
        api_key = forwarder_api_key(args.api_key_file)
    except ServerError as exc:
        parser.error(str(exc))
    redact_secrets_in_logs([api_key])
    logging.basicConfig(
        level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    from tiled.client import from_uri

    forwarder: Forwarder | None = None

    def stop(signum: int, frame: Any) -> None:
        if forwarder is not None:
            forwarder.stop()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    backoff = BACKOFF_INITIAL_S
    while True:  # the server may not be up yet
        try:
            client = from_uri(args.tiled_uri, api_key=api_key)
            break
        except Exception as exc:
            log.warning(
                "Tiled at %s is not reachable (%s); retrying in %.1f s",
                args.tiled_uri,
                exc,
                backoff,
            )
            threading.Event().wait(backoff)
            backoff = min(args.backoff_max_s, backoff * 2)
    forwarder = Forwarder(
        spool_dir(args.data_dir),
        client,
        batch_docs=args.batch_docs,
        backoff_max_s=args.backoff_max_s,
    )
    log.info("forwarding %s to %s", forwarder.directory, args.tiled_uri)
    forwarder.run_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
