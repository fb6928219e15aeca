"""A progress bar for ``hcs export``: rich on stderr when it is a terminal, else nothing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

from hcs_orchestrator.progress import image_progress


@contextmanager
def export_progress(stream: TextIO | None = None) -> Iterator[Callable[[int, int], None]]:
    """Yield a callback ``(images written, images in all)`` that draws a progress bar.

    Args:
        stream: where to draw (stderr by default); nothing is drawn unless it is a
            terminal, so logs and pipes stay clean.
    """
    progress = image_progress(stream)
    task = progress.add_task("export", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    with progress:
        yield update
