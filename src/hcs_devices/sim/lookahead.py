"""Images of the simulated camera made before their frames are exposed.

A plan knows which frames come next (a field of view's stack, and the field after it);
the simulated camera renders their images in a thread of its own meanwhile, so that a
frame's exposure does not wait for its rendering. An image is used only for exactly the
scene it was made for (view, light and state of the sample, read when the frame is
exposed); noise is added at the exposure, so the frames are the same pixels as without
looking ahead.

At most ``capacity`` images are made or being made at once (they wait in memory): the
scenes expected further on wait in order, and the next one starts as each image is
taken.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections.abc import Iterable
from typing import Protocol

import numpy as np

from hcs_devices.sim.render import Light, View
from hcs_devices.sim.specimen import SampleState

#: What an image depends on: the view, the light and the state of the sample.
SceneKey = tuple[View, Light, SampleState]

#: Images made ahead at most (each waits in memory until its frame is exposed).
LOOKAHEAD_FRAMES = 16


class ImageRenderer(Protocol):
    """Makes the noise-free image of a scene (:class:`~hcs_devices.sim.render.Renderer`)."""

    def expected(self, view: View, light: Light, state: SampleState | None = None) -> np.ndarray:
        """Expected photons per pixel of the view, in this light and state of the sample."""
        ...


class RenderAhead:
    """Renders the images of expected scenes in order, in a thread, a bounded number ahead.

    Args:
        renderer: makes the images (its ``expected`` method, looked up at each image).
        capacity: images made (or being made) ahead at most.
    """

    def __init__(self, renderer: ImageRenderer, capacity: int = LOOKAHEAD_FRAMES) -> None:
        self.renderer = renderer
        self.capacity = capacity
        #: Images started, in order: made, being made, or queued in the thread.
        self._started: dict[SceneKey, concurrent.futures.Future[np.ndarray]] = {}
        #: Scenes expected beyond ``capacity``, in order (started as images are taken).
        self._waiting: dict[SceneKey, None] = {}
        self._lock = threading.Lock()
        self._pool = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="sim-camera-ahead")
        self._closed = False

    def expect(self, scenes: Iterable[SceneKey]) -> None:
        """The scenes of the frames exposed next, in order (replacing those expected before).

        An image expected before and again is kept (made already, or on its way);
        images expected before and not any more are dropped.
        """
        with self._lock:
            earlier, self._started, self._waiting = self._started, {}, {}
            if not self._closed:
                for key in scenes:
                    if key in self._started or key in self._waiting:
                        continue
                    if len(self._started) < self.capacity:
                        future = earlier.pop(key, None)
                        self._started[key] = (
                            future
                            if future is not None and not future.cancelled()
                            else self._start(key)
                        )
                    else:
                        self._waiting[key] = None
            for future in earlier.values():
                future.cancel()

    def take(self, key: SceneKey) -> np.ndarray | None:
        """The image made ahead for exactly this scene (waiting for it), or None.

        Either way the scene is no longer expected, and the next scene waiting starts.
        """
        with self._lock:
            future = self._started.pop(key, None)
            self._waiting.pop(key, None)
            while self._waiting and len(self._started) < self.capacity and not self._closed:
                following = next(iter(self._waiting))
                del self._waiting[following]
                self._started[following] = self._start(following)
        if future is None or future.cancelled():
            return None
        return future.result()

    @property
    def images(self) -> int:
        """Images made or being made ahead now (each waits in memory)."""
        with self._lock:
            return len(self._started)

    def _start(self, key: SceneKey) -> concurrent.futures.Future[np.ndarray]:
        return self._pool.submit(self._render, key)

    def _render(self, key: SceneKey) -> np.ndarray:
        view, light, state = key
        return self.renderer.expected(view, light, state)

    def close(self) -> None:
        """Drop every image expected, and stop the thread."""
        with self._lock:
            self._closed = True
            for future in self._started.values():
                future.cancel()
            self._started.clear()
            self._waiting.clear()
        self._pool.shutdown(wait=True)
