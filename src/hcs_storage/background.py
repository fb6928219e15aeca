"""Run a document callback off the RunEngine's thread.

The RunEngine calls :class:`BackgroundCallback` with each document; the document is
queued and the call returns at once. A worker thread hands the documents, in order, to
the wrapped callback (TiledWriter, for instance), so slow or stalled storage never
stalls the plan. ``flush`` waits until everything queued has been handled.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)

Document = tuple[str, dict[str, Any]]


class BackgroundCallback:
    """Calls ``callback(name, doc)`` from a worker thread, in order.

    Args:
        callback: the slow callback.
        name: used in log messages and the thread's name.
    """

    def __init__(
        self, callback: Callable[[str, dict[str, Any]], Any], name: str = "storage"
    ) -> None:
        self.callback = callback
        self.name = name
        self._queue: queue.Queue[Document | None] = queue.Queue()
        self._errors: list[BaseException] = []
        self._done = threading.Condition()
        self._queued = 0
        self._handled = 0
        self.busy_s = 0.0
        self._thread = threading.Thread(target=self._run, name=f"hcs-{name}", daemon=True)
        self._thread.start()

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        """Queue one document (returns at once)."""
        self._queued += 1
        self._queue.put((name, doc))

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, doc = item
            start = time.perf_counter()
            try:
                self.callback(name, doc)
            except Exception as exc:
                log.exception("%s callback failed on a %s document", self.name, name)
                self._errors.append(exc)
            finally:
                self.busy_s += time.perf_counter() - start
                with self._done:
                    self._handled += 1
                    self._done.notify_all()

    @property
    def backlog(self) -> int:
        """Documents queued and not yet handled."""
        return self._queued - self._handled

    @property
    def errors(self) -> list[BaseException]:
        """Exceptions the callback raised (the documents were still consumed)."""
        return list(self._errors)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every queued document has been handled; False on timeout."""
        target = self._queued
        with self._done:
            return self._done.wait_for(lambda: self._handled >= target, timeout=timeout_s)

    def close(self, timeout_s: float | None = None) -> None:
        """Handle what is queued, then stop the worker."""
        self.flush(timeout_s)
        self._queue.put(None)
        self._thread.join(timeout_s)
