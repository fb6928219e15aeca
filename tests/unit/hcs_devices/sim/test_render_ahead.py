"""Items made ahead: in order, a bounded number at once, kept when expected again."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import numpy as np
import pytest

from hcs_devices.sim.lookahead import RenderAhead


class _Maker:
    """Makes an image whose pixels say which key it is for; counts the images made.

    While ``held`` is clear the thread waits inside ``make`` (an image being made).
    """

    def __init__(self) -> None:
        self.made: list[int] = []
        self.held = threading.Event()
        self.held.set()
        self._lock = threading.Lock()

    def make(self, key: int) -> np.ndarray:
        assert self.held.wait(10.0), "the test never let the image be made"
        with self._lock:
            self.made.append(key)
        return np.full((4, 4), key, np.float32)


@pytest.fixture
def maker() -> _Maker:
    return _Maker()


@pytest.fixture
def ahead(maker: _Maker) -> Iterator[RenderAhead[int, np.ndarray]]:
    made = RenderAhead(maker.make, capacity=3)
    yield made
    maker.held.set()
    made.close()


def test_render_ahead_gives_each_key_its_own_item_when_taken_in_order(
    ahead: RenderAhead[int, np.ndarray], maker: _Maker
) -> None:
    ahead.expect(range(7))
    for i in range(7):
        image = ahead.take(i)
        assert image is not None and np.all(image == i), f"image {i} is another key's"
    assert maker.made == list(range(7)), "each key made once, in order"
    assert ahead.items == 0


def test_render_ahead_makes_no_more_than_its_capacity_when_more_keys_are_expected(
    ahead: RenderAhead[int, np.ndarray], maker: _Maker
) -> None:
    maker.held.clear()  # the first image stays under way: nothing is taken
    ahead.expect(range(10))
    assert ahead.items == 3
    maker.held.set()
    first = ahead.take(0)
    assert first is not None and np.all(first == 0)
    # One taken, one more started: still three in memory or on their way.
    assert ahead.items == 3
    for i in range(1, 10):
        assert ahead.take(i) is not None
        assert ahead.items <= 3
    assert sorted(maker.made) == list(range(10))


def test_render_ahead_keeps_an_item_expected_again_and_drops_the_others_when_expected_anew(
    ahead: RenderAhead[int, np.ndarray], maker: _Maker
) -> None:
    ahead.expect([0, 1, 2])
    assert ahead.take(1) is not None  # waits until made; 0 was made before it
    ahead.expect([2, 3])  # 2 made already (or on its way), 0 not expected any more
    assert ahead.take(0) is None, "an item no longer expected is dropped"
    assert ahead.take(2) is not None and ahead.take(3) is not None
    assert maker.made.count(2) == 1, "an item expected twice is made once"


def test_render_ahead_gives_nothing_when_a_key_was_not_expected(
    ahead: RenderAhead[int, np.ndarray],
) -> None:
    ahead.expect([0])
    assert ahead.take(5) is None
    assert ahead.take(0) is not None


def test_render_ahead_drops_everything_when_closed(maker: _Maker) -> None:
    ahead = RenderAhead(maker.make, capacity=3)
    ahead.expect(range(5))
    ahead.close()
    assert ahead.items == 0
    assert ahead.take(4) is None
    ahead.expect([6])  # after closing: nothing starts
    assert ahead.items == 0
