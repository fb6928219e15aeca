"""Keep an experiment going when its orchestrator process dies: restart it from the journal.

``hcs merfish run --supervise`` (or ``resume --supervise``) runs the orchestrator (the
process that owns the RunEngine and the hardware) as a child process and waits for it.
When the child dies of a signal (``kill -9``, the out-of-memory killer, a segfault in a
driver) or exits with a code the orchestrator never gives, the supervisor journals it
and starts ``hcs merfish resume`` on the same data directory, which does only what is
missing (see :mod:`~hcs_orchestrator.merfish.resume`). Every other ending is the
experiment's own answer and is passed on, not retried: done (0), a unit failed (1),
refused input (2), waiting for the operator (3, with ``--no-wait``), interrupted by the
operator (130).

The supervisor touches neither the hardware nor the data directory's owner lock: the
kernel releases a dead child's lock, and the restarted child takes it again. SIGTERM
and SIGINT sent to the supervisor are passed to the child, which stops as it would
alone; the supervisor then ends with the child's code and does not restart it.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType

from hcs_orchestrator.merfish.journal import Journal, journal_path

#: Exit codes that are the experiment's own answer (never restarted).
FINAL_CODES = frozenset({0, 1, 2, 3, 130})
#: Pause before a restart, s (a crash loop must not spin).
RESTART_DELAY_S = 1.0
#: Exit code of the supervisor when it gave up after too many restarts.
GAVE_UP_EXIT = 1


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exited with code {code}"


def supervise(
    command: Callable[[bool], Sequence[str]],
    data_dir: Path,
    *,
    resume: bool,
    max_restarts: int,
    restart_delay_s: float = RESTART_DELAY_S,
    say: Callable[[str], None] | None = None,
) -> int:
    """Run the orchestrator in a child process; restart it (as a resume) when it dies.

    Args:
        command: the child's command line, given whether it resumes.
        data_dir: the experiment's data directory (its journal records each restart).
        resume: whether the first child resumes an experiment.
        max_restarts: restarts allowed before giving up.
        restart_delay_s: pause before each restart.
        say: where to report restarts (standard error by default).

    Returns:
        The last child's exit code; :data:`GAVE_UP_EXIT` after ``max_restarts``.
    """
    report = say or (lambda text: print(text, file=sys.stderr, flush=True))
    stopping = threading.Event()
    child: subprocess.Popen[bytes] | None = None

    def pass_on(signum: int, _frame: FrameType | None) -> None:
        stopping.set()
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, pass_on) for sig in (signal.SIGTERM, signal.SIGINT)}
    restarts = 0
    try:
        while True:
            child = subprocess.Popen(list(command(resume)))
            code = child.wait()
            if stopping.is_set() or code in FINAL_CODES:
                return code
            if restarts >= max_restarts:
                report(f"the orchestrator {_describe(code)}; gave up after {restarts} restarts")
                _journal(data_dir, "supervisor", f"gave up after {restarts} restarts")
                return GAVE_UP_EXIT
            restarts += 1
            text = f"the orchestrator {_describe(code)}; resuming (restart {restarts})"
            report(text)
            _journal(data_dir, "restart", text)
            resume = True
            if stopping.wait(restart_delay_s):
                return code
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _journal(data_dir: Path, event: str, message: str) -> None:
    """Record a restart in the experiment's journal, when there is one."""
    path = journal_path(data_dir)
    if not path.exists():
        return
    with Journal(path) as journal:
        journal.log(event, message)
