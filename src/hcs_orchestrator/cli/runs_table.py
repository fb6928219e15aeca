"""``hcs runs``'s listing: a rich table on a terminal, plain columns anywhere else."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO

from hcs_storage.runs import RUN_COLUMNS, RunSummary, format_runs, run_cells, run_note

#: The columns that may wrap when the terminal is too narrow for a run on one line.
WRAPPING_COLUMNS = ("plan", "experiment")


def print_runs(runs: Sequence[RunSummary], stream: TextIO | None = None) -> None:
    """Print ``runs`` (newest first): a table on a terminal, else the plain columns.

    The plain form (in a pipe, a file, a test) is the same text whatever the terminal's
    width, so scripts can read it.

    Args:
        runs: the runs to list.
        stream: where to print (stdout by default).
    """
    out = sys.stdout if stream is None else stream
    if not out.isatty():
        for line in format_runs(runs):
            print(line, file=out)
        return
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, header_style="bold", pad_edge=False, collapse_padding=True)
    for title, width, align in RUN_COLUMNS:
        # On a narrow terminal the plan and experiment wrap; times, uids, counts never do.
        wraps = title in WRAPPING_COLUMNS
        table.add_column(
            title,
            justify="right" if align == ">" else "left",
            min_width=None if wraps else width or None,
            no_wrap=not wraps,
            overflow="fold",
        )
    for run in runs:
        table.add_row(*(Text(cell) for cell in run_cells(run)))
    console = Console(file=out, highlight=False)
    console.print(table)
    for run in runs:
        note = run_note(run)
        if note is not None:
            console.print(Text(note))
