"""The notification hook: a log line, and the protocol's command, on pause, failure, completion.

The command (``notify.command`` of the protocol, a program and its arguments, no shell)
gets the event and a one-line message in its environment: ``HCS_MERFISH_EVENT``
(``pause``, ``failure`` or ``completion``), ``HCS_MERFISH_MESSAGE``,
``HCS_MERFISH_PROTOCOL`` (the protocol's name) and ``HCS_MERFISH_DATA_DIR``. A command
that fails or hangs (more than :data:`NOTIFY_TIMEOUT_S`) is logged; the experiment
goes on as it would have.
"""

from __future__ import annotations

import logging
import os
import subprocess
from pathlib import Path

from hcs_orchestrator.merfish.journal import Journal
from hcs_orchestrator.merfish.protocol import NotifyEvent, Protocol

log = logging.getLogger("hcs.merfish")

#: Longest a notification command may run, s.
NOTIFY_TIMEOUT_S = 30.0


def notify(
    protocol: Protocol, journal: Journal, data_dir: Path, event: NotifyEvent, message: str
) -> None:
    """Log ``message``, journal it, and run the protocol's command if it asks for ``event``."""
    log.warning("merfish %s: %s", event, message)
    journal.log(event, message)
    command = protocol.notify.command
    if not command or event not in protocol.notify.events:
        return
    env = os.environ | {
        "HCS_MERFISH_EVENT": event,
        "HCS_MERFISH_MESSAGE": message,
        "HCS_MERFISH_PROTOCOL": protocol.name,
        "HCS_MERFISH_DATA_DIR": str(data_dir),
    }
    try:
        result = subprocess.run(
            list(command), env=env, timeout=NOTIFY_TIMEOUT_S, check=False, capture_output=True
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        journal.log("notify-failed", f"{command[0]}: {err}")
        log.error("notification command %s failed: %s", command[0], err)
        return
    if result.returncode != 0:
        text = f"{command[0]} exited with {result.returncode}"
        journal.log("notify-failed", text)
        log.error("notification command: %s", text)
