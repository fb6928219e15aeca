"""What the simulated camera makes for its frames before they are exposed.

A plan knows which frames come next (a field of view's stack, and the field after it);
the simulated camera makes what it can of them meanwhile, in a thread of its own (the
noise-free image of each frame's scene, and what the sensor's pixels collect from it),
so that a frame's exposure does not wait for its rendering. What was made is used only
for exactly the scene it was made for (read when the frame is exposed); the noise is
drawn at the exposure, in order, so the frames are the same pixels as without looking
ahead.

At most ``capacity`` items are made or being made at once (they wait in memory): the
ones expected further on wait in order, and the next one starts as each is taken. The
simulated camera sets the capacity from the frames' size (:func:`capacity_for`): 16
frames of 1024 x 1024 pixels, 8 of 2048 x 2048.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Callable, Hashable, Iterable
from typing import Generic, TypeVar

#: Items made ahead at most (each waits in memory until its frame is exposed).
LOOKAHEAD_FRAMES = 16
#: Memory the items made ahead may take at most, bytes (fewer items for large frames).
LOOKAHEAD_BYTES = 256 * 2**20


def capacity_for(item_bytes: int) -> int:
    """Items made ahead at most when each takes ``item_bytes``: within both limits, at least 1."""
    return max(1, min(LOOKAHEAD_FRAMES, LOOKAHEAD_BYTES // max(1, item_bytes)))


K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class RenderAhead(Generic[K, T]):
    """Makes the items of expected keys in order, in a thread, a bounded number ahead.

    Args:
        make: makes the item of a key (called in the thread).
        capacity: items made (or being made) ahead at most.
    """

    def __init__(self, make: Callable[[K], T], capacity: int = LOOKAHEAD_FRAMES) -> None:
        self.make = make
        self.capacity = capacity
        #: Items started, in order: made, being made, or queued in the thread.
        self._started: dict[K, concurrent.futures.Future[T]] = {}
        #: Keys expected beyond ``capacity``, in order (started as items are taken).
        self._waiting: dict[K, None] = {}
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sim-camera-ahead")
        self._closed = False

    def expect(self, keys: Iterable[K]) -> None:
        """The keys of the frames exposed next, in order (replacing those expected before).

        An item expected before and again is kept (made already, or on its way); items
        expected before and not any more are dropped.
        """
        with self._lock:
            earlier, self._started, self._waiting = self._started, {}, {}
            if not self._closed:
                for key in keys:
                    if key in self._started or key in self._waiting:
                        continue
                    if len(self._started) < self.capacity:
                        future = earlier.pop(key, None)
                        self._started[key] = (
                            future
                            if future is not None and not future.cancelled()
                            else self._pool.submit(self.make, key)
                        )
                    else:
                        self._waiting[key] = None
            for future in earlier.values():
                future.cancel()

    def take(self, key: K) -> T | None:
        """The item made ahead for exactly this key (waiting for it), or None.

        Either way the key is no longer expected, and the next key waiting starts.
        """
        with self._lock:
            future = self._started.pop(key, None)
            self._waiting.pop(key, None)
            while self._waiting and len(self._started) < self.capacity and not self._closed:
                following = next(iter(self._waiting))
                del self._waiting[following]
                self._started[following] = self._pool.submit(self.make, following)
        if future is None or future.cancelled():
            return None
        return future.result()

    @property
    def items(self) -> int:
        """Items made or being made ahead now (each waits in memory)."""
        with self._lock:
            return len(self._started)

    def close(self) -> None:
        """Drop every item expected, and stop the thread."""
        with self._lock:
            self._closed = True
            for future in self._started.values():
                future.cancel()
            self._started.clear()
            self._waiting.clear()
        self._pool.shutdown(wait=True)
