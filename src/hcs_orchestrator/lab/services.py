"""The services of a lab: how each is started, and how to tell it is ready.

In the order they start: Redis (the queue and its history), the Tiled server on the
data directory (``hcs serve``), the forwarder draining the spool into it (``hcs
forward``), and the queue server's RE Manager, whose worker loads the startup profile
and owns the microscope; last, the watcher, which notices a worker that died
(:mod:`~hcs_orchestrator.lab.watcher`). Every one listens on 127.0.0.1 only.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from hcs_orchestrator.lab.control import (
    PRIVATE_KEY_ENV,
    close_client,
    manager_client,
    server_environment,
)
from hcs_orchestrator.lab.layout import LabLayout, LabSettings
from hcs_orchestrator.lab.plan_list import PERMISSIONS_FILE, PLAN_LIST_FILE, STARTUP_DIR

REDIS = "redis"
TILED = "tiled"
FORWARDER = "forwarder"
RE_MANAGER = "re-manager"
WATCHER = "watcher"
#: Every service, in start order.
SERVICE_NAMES = (REDIS, TILED, FORWARDER, RE_MANAGER, WATCHER)
#: The forwarder's longest pause between two attempts to reach the Tiled server
#: (seconds): on loopback an attempt costs little, and a restarted server is fed at once.
FORWARDER_BACKOFF_MAX_S = 2.0


@dataclass(frozen=True)
class Service:
    """One service of the lab.

    Attributes:
        name: its name (``redis``, ``tiled``, ``forwarder``, ``re-manager``, ``watcher``).
        argv: its command line (never holds a key).
        address: where clients reach it ("" if it serves nobody).
        ready: true once it answers.
        env: its environment.
        ready_timeout_s: how long it may take to answer.
    """

    name: str
    argv: list[str]
    address: str
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    ready_timeout_s: float = 60.0


class LabError(RuntimeError):
    """A lab service could not be started, or a requirement is missing."""


def _executable(name: str) -> str:
    """A program next to this Python (the venv's), else on the PATH."""
    beside = Path(sys.executable).with_name(name)
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        hint = " (./dev setup installs it)" if name == "redis-server" else ""
        raise LabError(f"{name} is not installed{hint}")
    return found


def redis_answers(host: str, port: int) -> bool:
    """True if a Redis server at ``host:port`` answers PING."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def tiled_answers(uri: str) -> bool:
    """True if the Tiled server at ``uri`` says it is healthy."""
    import httpx

    try:
        return httpx.get(f"{uri}/healthz", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return False


def manager_answers(layout: LabLayout, settings: LabSettings) -> bool:
    """True if the lab's RE Manager answers a status request (with the key, if encrypted)."""
    api = manager_client(layout, settings)
    try:
        api.status()
        return True
    except Exception:
        return False
    finally:
        close_client(api)


def hcs_command(*args: str) -> list[str]:
    """An ``hcs`` command of this installation."""
    return [_executable("hcs"), *args]


def redis_argv(layout: LabLayout, settings: LabSettings) -> list[str]:
    """Redis on loopback, its data (append-only file) in the lab directory."""
    return [
        _executable("redis-server"),
        "--bind", settings.host,
        "--port", str(settings.redis_port),
        "--dir", str(layout.redis_dir),
        "--appendonly", "yes",  # the queue and history survive a restart
        "--appendfsync", "always",  # on disk before Redis answers (a few writes per plan)
        "--save", "",
        "--protected-mode", "yes",
        "--daemonize", "no",
    ]  # fmt: skip


def re_manager_argv(settings: LabSettings) -> list[str]:
    """The RE Manager with the startup profile, every address on loopback.

    It is ``start-re-manager`` whose Redis client rides out a Redis restart
    (:mod:`~hcs_orchestrator.lab.re_manager`).
    """
    if importlib.util.find_spec("bluesky_queueserver") is None:
        raise LabError("bluesky-queueserver is not installed (the `lab` extra of hcs)")
    profile = Path(settings.profile_dir)
    return [
        sys.executable, "-m", "hcs_orchestrator.lab.re_manager",
        "--startup-dir", str(profile / STARTUP_DIR),
        "--existing-plans-devices", str(profile / PLAN_LIST_FILE),
        "--update-existing-plans-devices", "NEVER",  # the committed list is the truth
        "--user-group-permissions", str(profile / PERMISSIONS_FILE),
        "--redis-addr", settings.redis_address,
        "--zmq-control-addr", settings.zmq_control_address,
        "--zmq-info-addr", settings.zmq_info_address,
        "--zmq-publish-console", "ON",
    ]  # fmt: skip


def lab_services(layout: LabLayout, settings: LabSettings) -> dict[str, Service]:
    """The lab's services, by name, in start order."""
    worker_env = {
        **{name: value for name, value in os.environ.items() if name != PRIVATE_KEY_ENV},
        "HCS_DATA_DIR": settings.data_dir,
        **server_environment(layout, settings),
    }
    if settings.config:
        worker_env["HCS_CONFIG"] = settings.config
    key_file = str(layout.key_file)
    return {
        REDIS: Service(
            name=REDIS,
            argv=redis_argv(layout, settings),
            address=f"redis://{settings.redis_address}",
            ready=lambda: redis_answers(settings.host, settings.redis_port),
            ready_timeout_s=30.0,
        ),
        TILED: Service(
            name=TILED,
            argv=hcs_command(
                "serve",
                "--data-dir",
                settings.data_dir,
                "--host",
                settings.host,
                "--port",
                str(settings.tiled_port),
                "--api-key-file",
                key_file,
            ),
            address=settings.tiled_uri,
            ready=lambda: tiled_answers(settings.tiled_uri),
            ready_timeout_s=120.0,
        ),
        FORWARDER: Service(
            name=FORWARDER,
            argv=hcs_command(
                "forward",
                "--data-dir",
                settings.data_dir,
                "--tiled-uri",
                settings.tiled_uri,
                "--api-key-file",
                key_file,
                "--backoff-max-s",
                str(FORWARDER_BACKOFF_MAX_S),
            ),
            address="",
            ready=lambda: True,
        ),
        RE_MANAGER: Service(
            name=RE_MANAGER,
            argv=re_manager_argv(settings),
            address=settings.zmq_control_address,
            ready=lambda: manager_answers(layout, settings),
            env=worker_env,
            ready_timeout_s=120.0,
        ),
        WATCHER: Service(
            name=WATCHER,
            argv=hcs_command("lab", "watch", "--lab-dir", str(layout.root)),
            address="",
            ready=lambda: True,
        ),
    }
