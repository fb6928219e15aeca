"""A queue-server client in a process of its own, as a remote user's would be.

``python lab_client.py CONTROL_ADDRESS GROUP REQUEST_JSON [TIMEOUT_S]`` sends requests to
the RE Manager with ``bluesky_queueserver_api`` as user group GROUP and prints one JSON
line of answers; a request unanswered for TIMEOUT_S (default 30) fails. When the lab
encrypts its control address, the public key is taken from ``QSERVER_ZMQ_PUBLIC_KEY``
(as ``qserver`` takes it). REQUEST_JSON is a list of steps:

- ``{"add": {"name": ..., "args": [...], "kwargs": {...}}}``: add a plan to the queue
  (the answer: ``success`` and ``msg``);
- ``{"execute": {...}}``: run a plan at once, without queueing it (``item_execute``;
  the answer: ``success`` and ``msg``);
- ``{"queue": true}``: the queued items' names;
- ``{"wait_idle_s": 300}``: wait until the manager is idle, then the history's items;
- ``{"call": "queue_start"}`` (or ``re_resume``, ``re_abort``, ``environment_open``,
  ...): call that API method (``"kwargs"`` beside it are passed on); the answer:
  ``success`` and ``msg``;
- ``{"wait_status": {"manager_state": "paused"}, "timeout_s": 60}``: wait until every
  given status field has its value; the answer: the status.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import Any

from bluesky_queueserver_api import BPlan
from bluesky_queueserver_api.zmq import REManagerAPI


def wait_status(api: REManagerAPI, wanted: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    pause = threading.Event()
    while True:
        status: Any = api.status()
        if all(status.get(key) == value for key, value in wanted.items()):
            return status
        if time.monotonic() > deadline:
            raise TimeoutError(f"status never reached {wanted}: {status}")
        pause.wait(0.1)


def main(
    control: str, group: str, steps: list[dict[str, Any]], timeout_s: float = 30.0
) -> list[Any]:
    api = REManagerAPI(
        zmq_control_addr=control,
        zmq_public_key=os.environ.get("QSERVER_ZMQ_PUBLIC_KEY") or None,
        timeout_recv=timeout_s,
        request_fail_exceptions=False,
    )
    api.user_group = group
    answers: list[Any] = []
    try:
        for step in steps:
            if "add" in step:
                item = step["add"]
                plan = BPlan(item["name"], *item.get("args", []), **item.get("kwargs", {}))
                result = api.item_add(plan)
                answers.append({"success": result["success"], "msg": result["msg"]})
            elif "execute" in step:
                item = step["execute"]
                plan = BPlan(item["name"], *item.get("args", []), **item.get("kwargs", {}))
                result = api.item_execute(plan)
                answers.append({"success": result["success"], "msg": result["msg"]})
            elif "queue" in step:
                answers.append([item["name"] for item in api.queue_get()["items"]])
            elif "wait_idle_s" in step:
                api.wait_for_idle(timeout=step["wait_idle_s"])
                answers.append(api.history_get()["items"])
            elif "call" in step:
                result = getattr(api, step["call"])(**step.get("kwargs", {}))
                answers.append({"success": result["success"], "msg": result["msg"]})
            elif "wait_status" in step:
                answers.append(wait_status(api, step["wait_status"], step.get("timeout_s", 60)))
    finally:
        api.close()
    return answers


if __name__ == "__main__":
    control_address, user_group, request, *timeout = sys.argv[1:]
    seconds = float(timeout[0]) if timeout else 30.0
    print(json.dumps(main(control_address, user_group, json.loads(request), seconds)))
