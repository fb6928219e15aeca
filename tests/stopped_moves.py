"""A stop that comes right after a move was asked for, before the move's task has run."""

from __future__ import annotations

from typing import Any

import pytest


async def stop_before_the_move_runs(device: Any, status: Any, *, success: bool) -> None:
    """Stop ``device`` now: its move ``status`` ends quietly with ``success``, else fails."""
    await device.stop(success=success)
    if success:
        await status
    else:
        with pytest.raises(RuntimeError, match=f"{device.name} was stopped"):
            await status
