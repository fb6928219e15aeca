"""The lab's queue and history, for the console: read from its RE Manager over 0MQ.

``hcs console --lab LAB_DIR`` finds the RE Manager's control address in the lab's
``lab.json`` (always on 127.0.0.1, as ``hcs lab up`` chose it). :class:`LabQueue`
asks the manager for its status, queue and history with ``bluesky_queueserver_api``,
and only reads: the console queues nothing in a lab.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from hcs_orchestrator.lab.control import close_client, manager_client
from hcs_orchestrator.lab.layout import LabLayout, LabSettings

#: History items shown, newest first.
HISTORY_ITEMS = 20
#: What the queue panel says when the console runs without a lab.
EMBEDDED = {"mode": "embedded", "message": "embedded mode: no queue"}


def lab_settings(lab_dir: Path) -> LabSettings:
    """The settings of the lab in ``lab_dir`` (its control address, whether encrypted).

    Raises:
        ValueError: ``lab_dir`` holds no lab (no ``lab.json``: run ``hcs lab up``).
    """
    settings = LabLayout(lab_dir).load()
    if settings is None:
        raise ValueError(f"--lab {lab_dir}: no lab there (no lab.json); start one with hcs lab up")
    return settings


def item_summary(item: dict[str, Any]) -> dict[str, Any]:
    """What the panel shows of a queue or history item: plan, arguments, who, how it ended."""
    result = item.get("result") or {}
    return {
        "item_uid": str(item.get("item_uid", "")),
        "name": str(item.get("name", "")),
        "args": list(item.get("args") or []),
        "kwargs": dict(item.get("kwargs") or {}),
        "user": str(item.get("user", "")),
        "exit_status": str(result.get("exit_status", "")),
        "msg": str(result.get("msg", "")),
        "run_uids": list(result.get("run_uids") or []),
        "time_start": result.get("time_start"),
        "time_stop": result.get("time_stop"),
    }


class LabQueue:
    """Reads a lab's queue and history (one client, used by one request at a time).

    Args:
        lab_dir: the lab directory (``hcs lab up``; its public control key is used when
            the lab encrypts its control address).
        timeout_s: how long to wait for the manager's answer.
    """

    def __init__(self, lab_dir: Path, timeout_s: float = 5.0) -> None:
        settings = lab_settings(lab_dir)
        self.control_address = settings.zmq_control_address
        self._lock = threading.Lock()
        self._api: Any = manager_client(
            LabLayout(lab_dir), settings, timeout_recv_s=timeout_s, timeout_send_s=timeout_s
        )

    def snapshot(self) -> dict[str, Any]:
        """The manager's state, the running item, the items waiting and the history.

        A manager that does not answer gives ``error`` saying so (the console goes on).
        """
        try:
            with self._lock:
                status: Any = self._api.status()
                queue: Any = self._api.queue_get()
                history: Any = self._api.history_get()
        except Exception as exc:
            return {
                "mode": "lab",
                "control": self.control_address,
                "error": f"the lab's RE Manager at {self.control_address} does not answer: {exc}",
            }
        running = queue.get("running_item") or {}
        return {
            "mode": "lab",
            "control": self.control_address,
            "manager_state": str(status.get("manager_state", "")),
            "running": item_summary(running) if running else None,
            "queue": [item_summary(item) for item in queue.get("items", [])],
            "history": [item_summary(item) for item in history.get("items", [])][::-1][
                :HISTORY_ITEMS
            ],
        }

    def close(self) -> None:
        """Close the 0MQ client."""
        with self._lock:
            close_client(self._api)
