"""The progress bar of a run's images: counts what the run announces, one bar per run."""

from __future__ import annotations

import io
from typing import Any

from bluesky.run_engine import RunEngine
from event_model import DocumentNames

from hcs_orchestrator.progress import ProgressBar, RunProgress, show_progress
from hcs_schema import IMAGES_STREAM


class Terminal(io.StringIO):
    """A text stream that says it is a terminal, so rich draws on it."""

    def isatty(self) -> bool:
        return True


def documents(uid: str, total: int, batches: list[int]) -> list[tuple[str, dict[str, Any]]]:
    """A run's start, its images stream and StreamDatum documents of ``batches`` images."""
    docs: list[tuple[str, dict[str, Any]]] = [
        ("start", {"uid": uid, "num_images": total}),
        ("descriptor", {"uid": f"{uid}-d", "run_start": uid, "name": IMAGES_STREAM}),
        ("descriptor", {"uid": f"{uid}-other", "run_start": uid, "name": "frames"}),
    ]
    done = 0
    for n in batches:
        docs.append(
            (
                "stream_datum",
                {"descriptor": f"{uid}-d", "indices": {"start": done, "stop": done + n}},
            )
        )
        docs.append(
            ("stream_datum", {"descriptor": f"{uid}-other", "indices": {"start": 0, "stop": 99}})
        )
        done += n
    return docs


def test_progress_counts_only_the_images_stream_of_the_open_run() -> None:
    updates: list[tuple[str, int, int]] = []
    progress = RunProgress(lambda u: updates.append((u.run_uid, u.done, u.total)))
    for name, doc in documents("aaaaaaaa-1", 4, [2, 2]) + documents("bbbbbbbb-2", 3, [1]):
        progress(name, doc)
    assert updates == [("aaaaaaaa-1", 2, 4), ("aaaaaaaa-1", 4, 4), ("bbbbbbbb-2", 1, 3)]


def test_bar_shows_each_run_on_a_terminal_one_bar_per_run() -> None:
    out = Terminal()
    bar = ProgressBar(out)
    progress = RunProgress(bar)
    for name, doc in documents("aaaaaaaa-1", 4, [2, 2]) + documents("bbbbbbbb-2", 3, [1]):
        progress(name, doc)
    bar.close()  # an aborted run's bar is closed where it stopped
    text = out.getvalue()
    assert "run aaaaaaaa" in text and "4/4" in text
    assert "run bbbbbbbb" in text and "1/3" in text


def test_bar_draws_nothing_when_the_stream_is_not_a_terminal() -> None:
    out = io.StringIO()
    progress = RunProgress(ProgressBar(out))
    for name, doc in documents("aaaaaaaa-1", 4, [4]):
        progress(name, doc)
    assert out.getvalue() == ""


def test_show_progress_subscribes_a_bar_that_the_run_engine_feeds(RE: RunEngine) -> None:
    out = Terminal()
    token = show_progress(RE, out)
    try:
        for name, doc in documents("cccccccc-3", 2, [2]):
            RE.dispatcher.process(DocumentNames[name], doc)
    finally:
        RE.unsubscribe(token)
    assert "run cccccccc" in out.getvalue() and "2/2" in out.getvalue()
