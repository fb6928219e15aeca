"""``hcs export``'s progress bar: drawn on a terminal, silent elsewhere."""

from __future__ import annotations

import io

from hcs_orchestrator.cli.export_progress import export_progress


class Terminal(io.StringIO):
    """A text stream that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def test_export_progress_reaches_the_image_count_on_a_terminal() -> None:
    out = Terminal()
    with export_progress(out) as progress:
        for done in (9, 18, 27):
            progress(done, 27)
    text = out.getvalue()
    assert "27/27" in text
    assert "100%" in text


def test_export_progress_draws_nothing_when_not_a_terminal() -> None:
    out = io.StringIO()
    with export_progress(out) as progress:
        progress(5, 10)
        progress(10, 10)
    assert out.getvalue() == ""
