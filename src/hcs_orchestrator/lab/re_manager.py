"""The lab's RE Manager: bluesky-queueserver's ``start-re-manager``, riding out a Redis restart.

The RE Manager keeps the queue, the running item and the history in Redis; the worker
process that runs the plan does not use Redis at all, so a plate goes on acquiring
while Redis is down. What bluesky-queueserver 0.0.25 does not survive is the end of a
plan during the outage: the manager takes the worker's report (which the worker then
forgets) and fails to record it in Redis, and stays "executing_queue" for good, with
the finished plate still "running" and the queue stuck (the asyncio task that failed
logs nothing). Its Redis client has no retry policy (``redis.asyncio.from_url``
without one fails at once when Redis refuses the connection).

Here the manager's Redis client retries every command that fails for want of a
connection (exponential backoff, capped at 1 s) for up to :data:`REDIS_OUTAGE_S`:
a plate that ends while Redis is down is recorded, and the queue goes on, as soon as
Redis is back (``hcs lab restart redis``, or the lab's watcher, which restarts it by
itself). Meanwhile ``status`` requests answer as usual; a request that needs the queue
(``queue get``, ``item add``) waits for Redis, and so do the requests behind it, since
the manager answers one request at a time.

Run as ``python -m hcs_orchestrator.lab.re_manager`` with ``start-re-manager``'s
arguments. The manager and its worker are processes forked from this one (the start
method of ``multiprocessing`` on Linux), so they inherit the client set here.
"""

from __future__ import annotations

import multiprocessing
import sys
from typing import Any

from bluesky_queueserver.manager import manager as manager_module
from bluesky_queueserver.manager.plan_queue_ops import PlanQueueOperations
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

#: How long the manager waits for Redis to come back before a command fails (seconds).
REDIS_OUTAGE_S = 120.0
#: The longest pause between two attempts (seconds).
RETRY_CAP_S = 1.0
#: The first pause (seconds); doubled after each failure up to the cap.
RETRY_BASE_S = 0.05


def outage_retry(outage_s: float = REDIS_OUTAGE_S) -> Retry:
    """A retry policy for Redis commands that lasts about ``outage_s`` seconds.

    It retries on the errors of a lost or refused connection (redis's
    ``ConnectionError``, ``TimeoutError``), never on an error Redis answered.
    """
    backoff = ExponentialBackoff(cap=RETRY_CAP_S, base=RETRY_BASE_S)
    waited, retries = 0.0, 0
    while waited < outage_s:
        retries += 1
        waited += backoff.compute(retries)
    return Retry(backoff, retries)


class OutageTolerantPlanQueue(PlanQueueOperations):
    """bluesky-queueserver's plan queue, its Redis client retrying through an outage."""

    async def start(self) -> None:
        """Connect to Redis (as the manager does), then set the retry policy."""
        await super().start()
        pool: Any = self._r_pool  # the client bluesky-queueserver created
        pool.set_retry(outage_retry())


def main() -> int:
    """``start-re-manager`` with :class:`OutageTolerantPlanQueue` (same arguments)."""
    if multiprocessing.get_start_method() != "fork":
        print(
            "the RE Manager's processes must be forked (multiprocessing start method 'fork'), "
            "so that they use the Redis retry policy",
            file=sys.stderr,
        )
        return 2
    # The manager builds its queue from this name when its process starts.
    manager_module.PlanQueueOperations = OutageTolerantPlanQueue
    from bluesky_queueserver.manager.start_manager import start_manager

    sys.argv[0] = "start-re-manager"
    return int(start_manager() or 0)


if __name__ == "__main__":
    sys.exit(main())
