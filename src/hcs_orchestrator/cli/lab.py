"""``hcs lab up|down|status|logs|restart|watch|plans``: the microscope as a service on this machine.

The handlers import the lab package when they run, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

DEFAULT_LAB_DIR = Path("hcs-lab")
DEFAULT_DATA_DIR = Path("hcs-data")
DEFAULT_PROFILE = Path("profile")
#: Mirrors ``hcs_orchestrator.lab.services.SERVICE_NAMES`` (not imported here).
SERVICES = ("redis", "tiled", "forwarder", "re-manager", "watcher")


def register(commands: Any) -> None:
    """Add ``hcs lab`` and its subcommands to the ``hcs`` parser."""
    lab = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "lab",
            help="run the microscope as a service: Redis, Tiled, forwarder, queue server",
            description=(
                "Lab mode: on this machine's loopback interface, a Redis, a Tiled server on "
                "the data directory, the forwarder feeding it, and bluesky-queueserver's RE "
                "Manager whose worker owns the microscope. Queue plans with qserver or "
                "bluesky_queueserver_api at the address `hcs lab status` prints."
            ),
        ),
    )
    actions = lab.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help_text)
        parser.add_argument(
            "--lab-dir",
            type=Path,
            default=DEFAULT_LAB_DIR,
            help=f"the lab directory: addresses, pid files, logs (default {DEFAULT_LAB_DIR})",
        )
        return parser

    up = action("up", "start the services that are not running")
    up.add_argument("--data-dir", type=Path, default=DEFAULT_DATA_DIR, help="the data directory")
    up.add_argument(
        "--profile",
        type=Path,
        default=DEFAULT_PROFILE,
        help="the startup profile: startup/, existing_plans_and_devices.yaml, "
        "user_group_permissions.yaml (default ./profile)",
    )
    up.add_argument(
        "--config", type=Path, default=None, help="microscope configuration (default: simulated)"
    )
    up.add_argument(
        "--encrypt",
        action="store_true",
        help="encrypt the RE Manager's control address (CurveZMQ): clients need the public "
        "key, LAB_DIR/zmq-control-key.pub; stays on for this lab directory",
    )
    up.set_defaults(run=_up)
    action("down", "stop every service").set_defaults(run=_down)
    action("status", "which services are up, their addresses, the queue").set_defaults(run=_status)
    logs = action("logs", "the end of the services' logs")
    logs.add_argument("service", nargs="?", choices=SERVICES, help="one service (default all)")
    logs.add_argument("--lines", type=int, default=40, help="lines per log (default 40)")
    logs.set_defaults(run=_logs)
    restart = action(
        "restart",
        "stop and start one service; the others go on (the watcher also starts Redis, Tiled "
        "and the forwarder again by itself when they die)",
    )
    restart.add_argument("service", choices=SERVICES)
    restart.set_defaults(run=_restart)
    action(
        "watch",
        "watch the lab (a lab service): recover a dead RE worker; start Redis, Tiled and "
        "the forwarder again when they die",
    ).set_defaults(run=_watch)
    plans = actions.add_parser(
        "plans",
        help="regenerate a profile's existing_plans_and_devices.yaml",
        description="List the plans and devices the RE worker offers, with "
        "bluesky-queueserver's own tool, into PROFILE/existing_plans_and_devices.yaml.",
    )
    plans.add_argument("profile", type=Path, nargs="?", default=DEFAULT_PROFILE)
    plans.set_defaults(run=_plans)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _up(args: argparse.Namespace) -> int:
    if not (args.profile / "startup").is_dir():
        return _fail(f"--profile: {args.profile} has no startup/ directory of startup files")
    if args.config is not None and not args.config.is_file():
        return _fail(f"--config: no file {args.config}")
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    lab = Lab(args.lab_dir)
    try:
        lab.up(args.data_dir, args.profile, args.config, encrypt=args.encrypt)
    except LabError as exc:
        return _fail(str(exc))
    return _status(args)


def _down(args: argparse.Namespace) -> int:
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    try:
        Lab(args.lab_dir).down()
    except LabError as exc:
        return _fail(str(exc))
    return 0


def _status(args: argparse.Namespace) -> int:
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    lab = Lab(args.lab_dir)
    try:
        settings = lab.settings()
        states = lab.states()
    except LabError as exc:
        return _fail(str(exc))
    print(f"lab directory:  {lab.layout.root}")
    print(f"data directory: {settings.data_dir}")
    print(f"Tiled API key:  {lab.layout.key_file}")
    if settings.encrypt:
        print(f"control key:    {lab.layout.control_public_key_file} (QSERVER_ZMQ_PUBLIC_KEY)")
    for state in states:
        pid = f"pid {state.pid}" if state.pid is not None else ""
        print(f"  {state.name:<11} {'up' if state.up else 'DOWN':<5} {pid:<11} {state.address}")
    queue = lab.queue_state()
    if queue is None:
        print("queue: the RE Manager does not answer")
    else:
        running = queue.get("running_item_uid") or "none"
        environment = "open" if queue["worker_environment_exists"] else "closed"
        print(
            f"queue: manager {queue['manager_state']}, worker environment {environment} "
            f"({queue['worker_environment_state']}), RunEngine {queue['re_state']}, "
            f"{queue['items_in_queue']} queued, {queue['items_in_history']} in history, "
            f"running: {running}"
        )
    return 0 if all(s.up for s in states) and queue is not None else 1


def _logs(args: argparse.Namespace) -> int:
    from hcs_orchestrator.lab.layout import LabLayout
    from hcs_orchestrator.lab.supervisor import tail

    layout = LabLayout(args.lab_dir.resolve())
    for name in [args.service] if args.service else SERVICES:
        print(f"==> {layout.log_file(name)} <==")
        print(tail(layout.log_file(name), args.lines))
    return 0


def _restart(args: argparse.Namespace) -> int:
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    try:
        Lab(args.lab_dir).restart(args.service)
    except LabError as exc:
        return _fail(str(exc))
    return 0


def _watch(args: argparse.Namespace) -> int:
    from hcs_orchestrator.lab.watcher import watch

    watch(args.lab_dir)
    return 0


def _plans(args: argparse.Namespace) -> int:
    if not (args.profile / "startup").is_dir():
        return _fail(f"profile: {args.profile} has no startup/ directory of startup files")
    from hcs_orchestrator.lab.plan_list import write_plan_list

    try:
        written = write_plan_list(args.profile)
    except RuntimeError as exc:
        return _fail(str(exc))
    print(f"wrote {written}")
    return 0
