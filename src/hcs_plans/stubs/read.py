"""Reading a value in a plan so that an immediate pause cannot change what it reads.

An immediate pause that lands while a ``locate`` or ``read`` message is under way
cancels it; on resume the RunEngine replays the message but hands the plan ``None``
for it, which ``bluesky.plan_stubs.rd`` turns into its default value, 0. A plan that
then moved to "where the focus was" would move to z = 0. :func:`rd` asks again
instead: a device read never answers ``None`` in a live RunEngine.
"""

from __future__ import annotations

from typing import Any

import bluesky.plan_stubs as bps
from bluesky.protocols import Readable
from bluesky.utils import MsgGenerator

#: Reads a pause may interrupt in a row before the plan gives up (a RunEngine that
#: answers nothing at all: the plan is not run live).
MAX_ASKS = 100

_INTERRUPTED = object()


def rd(obj: Readable) -> MsgGenerator[Any]:
    """The single value of ``obj``, as ``bluesky.plan_stubs.rd`` reads it, never a stand-in.

    Raises:
        RuntimeError: when no read is answered (the plan is not run by a RunEngine).
    """
    for _ in range(MAX_ASKS):
        value = yield from bps.rd(obj, default_value=_INTERRUPTED)
        if value is not _INTERRUPTED:
            return value
    raise RuntimeError(f"{getattr(obj, 'name', obj)!r}: no read was answered")
