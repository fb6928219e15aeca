"""The console's overview panel draws nothing while an acquisition runs."""

from __future__ import annotations

import pytest

from hcs_orchestrator.console.overview import LastOverview


class NoCatalog:
    """A catalog that fails the test if anything reads it."""

    def __getattr__(self, name: str) -> None:
        raise AssertionError(f"the catalog was read ({name}) while an acquisition runs")

    def __getitem__(self, key: str) -> None:
        raise AssertionError(f"the catalog was read ({key}) while an acquisition runs")


def test_overview_kept_while_an_acquisition_runs_reads_no_catalog() -> None:
    panel = LastOverview(NoCatalog())
    assert panel.latest(refresh=False) is None  # nothing drawn yet, nothing read
    with pytest.raises(AssertionError, match="the catalog was read"):
        panel.latest()  # once idle, it looks for a newer run
