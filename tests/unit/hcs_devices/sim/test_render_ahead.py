"""Images made ahead: in order, a bounded number at once, kept when expected again."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from hcs_devices.sim.lookahead import RenderAhead, SceneKey
from hcs_devices.sim.render import Light, View
from hcs_devices.sim.specimen import STILL, SampleState

LIGHT = Light(
    wavelength_nm=488.0,
    dose_mw_s=1.0,
    filter_center_nm=525.0,
    filter_bandwidth_nm=50.0,
    numerical_aperture=0.75,
)


def scene(i: int) -> SceneKey:
    """A scene of its own for each ``i`` (a view ``i`` um to the right)."""
    return View(float(i), 0.0, 3000.0, 4, 4, 1.0), LIGHT, STILL


class _Renderer:
    """Makes an image whose pixels say which scene it shows; counts the images made.

    While ``held`` is clear the thread waits inside ``expected`` (an image being made).
    """

    def __init__(self) -> None:
        self.made: list[float] = []
        self.held = threading.Event()
        self.held.set()
        self._lock = threading.Lock()

    def expected(self, view: View, light: Light, state: SampleState | None = None) -> np.ndarray:
        assert self.held.wait(10.0), "the test never let the image be made"
        with self._lock:
            self.made.append(view.center_x_um)
        return np.full((view.height_px, view.width_px), view.center_x_um, np.float32)


@pytest.fixture
def renderer() -> _Renderer:
    return _Renderer()


@pytest.fixture
def ahead(renderer: _Renderer) -> Iterator[RenderAhead]:
    made = RenderAhead(renderer, capacity=3)
    yield made
    renderer.held.set()
    made.close()


def test_render_ahead_gives_each_scene_its_own_image_when_taken_in_order(
    ahead: RenderAhead, renderer: _Renderer
) -> None:
    ahead.expect([scene(i) for i in range(7)])
    for i in range(7):
        image = ahead.take(scene(i))
        assert image is not None and np.all(image == i), f"image {i} is another scene's"
    assert renderer.made == [float(i) for i in range(7)], "each scene made once, in order"
    assert ahead.images == 0


def test_render_ahead_makes_no_more_than_its_capacity_when_more_scenes_are_expected(
    ahead: RenderAhead, renderer: _Renderer
) -> None:
    renderer.held.clear()  # the first image stays under way: nothing is taken
    ahead.expect([scene(i) for i in range(10)])
    assert ahead.images == 3
    renderer.held.set()
    first = ahead.take(scene(0))
    assert first is not None and np.all(first == 0)
    # One taken, one more started: still three in memory or on their way.
    assert ahead.images == 3
    for i in range(1, 10):
        assert ahead.take(scene(i)) is not None
        assert ahead.images <= 3
    assert sorted(renderer.made) == [float(i) for i in range(10)]


def test_render_ahead_keeps_an_image_expected_again_and_drops_the_others_when_expected_anew(
    ahead: RenderAhead, renderer: _Renderer
) -> None:
    ahead.expect([scene(0), scene(1), scene(2)])
    kept = ahead.take(scene(1))  # waits until made; scene 0 was made before it
    assert kept is not None
    ahead.expect([scene(2), scene(3)])  # 2 made already (or on its way), 0 not expected
    assert ahead.take(scene(0)) is None, "an image no longer expected is dropped"
    assert ahead.take(scene(2)) is not None and ahead.take(scene(3)) is not None
    assert renderer.made.count(2.0) == 1, "an image expected twice is made once"


def test_render_ahead_gives_nothing_when_a_scene_was_not_expected(ahead: RenderAhead) -> None:
    ahead.expect([scene(0)])
    assert ahead.take(scene(5)) is None
    assert ahead.take(scene(0)) is not None


def test_render_ahead_drops_everything_when_closed(renderer: _Renderer) -> None:
    ahead = RenderAhead(renderer, capacity=3)
    ahead.expect([scene(i) for i in range(5)])
    ahead.close()
    assert ahead.images == 0
    assert ahead.take(scene(4)) is None
    ahead.expect([scene(6)])  # after closing: nothing starts
    assert ahead.images == 0
