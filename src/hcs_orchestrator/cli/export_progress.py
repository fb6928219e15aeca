"""A progress bar for ``hcs export``: tqdm on stderr when it is a terminal, else nothing."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO


@contextmanager
def export_progress(stream: TextIO | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield a callback ``(images written, images in all)`` that draws a progress bar.

    Args:
        stream: where to draw (stderr by default); nothing is drawn unless it is a
            terminal, so logs and pipes stay clean.
    """
    from tqdm import tqdm

    out = sys.stderr if stream is None else stream
    bar = tqdm(desc="export", unit="image", file=out, disable=not out.isatty(), leave=True)

    def update(done: int, total: int) -> None:
        if bar.disable:
            return
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()
