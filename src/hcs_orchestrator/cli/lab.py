"""``hcs lab up|down|status|logs|restart|watch|plans``: the microscope as a service on this machine.

The handlers import the lab package when they run, so that ``hcs --help`` stays fast.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal, get_args

import typer

from hcs_orchestrator.cli.app import command_group, command_settings
from hcs_orchestrator.cli.options import DEFAULT_DATA_DIR, Config

DEFAULT_LAB_DIR = Path("hcs-lab")
DEFAULT_PROFILE = Path("profile")
#: Mirrors ``hcs_orchestrator.lab.services.SERVICE_NAMES`` (not imported here).
Service = Literal["redis", "tiled", "forwarder", "re-manager", "watcher"]
SERVICES: tuple[Service, ...] = get_args(Service)

DESCRIPTION = (
    "Lab mode: on this machine's loopback interface, a Redis, a Tiled server on the data "
    "directory, the forwarder feeding it, and bluesky-queueserver's RE Manager whose "
    "worker owns the microscope. Queue plans with qserver or bluesky_queueserver_api at "
    "the address `hcs lab status` prints."
)

LabDir = Annotated[
    Path,
    typer.Option("--lab-dir", metavar="DIR", help="the lab directory: addresses, pid files, logs"),
]
Profile = Annotated[
    Path,
    typer.Option(
        "--profile",
        metavar="DIR",
        help="the startup profile: startup/, existing_plans_and_devices.yaml, "
        "user_group_permissions.yaml",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``hcs lab`` and its subcommands."""
    lab = command_group(DESCRIPTION)
    lab.command("up", **command_settings("start the services that are not running"))(up)
    lab.command("down", **command_settings("stop every service"))(down)
    lab.command("status", **command_settings("which services are up, their addresses, the queue"))(
        status
    )
    lab.command("logs", **command_settings("the end of the services' logs"))(logs)
    lab.command(
        "restart",
        **command_settings(
            "stop and start one service; the others go on (the watcher also starts Redis, "
            "Tiled and the forwarder again by itself when they die)",
            "stop and start one service; the others go on",
        ),
    )(restart)
    lab.command(
        "watch",
        **command_settings(
            "watch the lab (a lab service): recover a dead RE worker; start Redis, Tiled "
            "and the forwarder again when they die",
            "watch the lab: recover a dead RE worker and dead services",
        ),
    )(watch)
    lab.command(
        "plans",
        **command_settings(
            "List the plans and devices the RE worker offers, with bluesky-queueserver's "
            "own tool, into PROFILE/existing_plans_and_devices.yaml.",
            "regenerate a profile's existing_plans_and_devices.yaml",
        ),
    )(plans)
    app.add_typer(
        lab,
        name="lab",
        help=DESCRIPTION,
        short_help="run the microscope as a service: Redis, Tiled, forwarder, queue server",
    )


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def up(
    lab_dir: LabDir = DEFAULT_LAB_DIR,
    data_dir: Annotated[
        Path, typer.Option("--data-dir", metavar="DIR", help="the data directory")
    ] = DEFAULT_DATA_DIR,
    profile: Profile = DEFAULT_PROFILE,
    config: Config = None,
    encrypt: Annotated[
        bool,
        typer.Option(
            "--encrypt",
            help="encrypt the RE Manager's control address (CurveZMQ): clients need the "
            "public key, LAB_DIR/zmq-control-key.pub; stays on for this lab directory",
        ),
    ] = False,
) -> int:
    """``hcs lab up``."""
    if not (profile / "startup").is_dir():
        return _fail(f"--profile: {profile} has no startup/ directory of startup files")
    if config is not None and not config.is_file():
        return _fail(f"--config: no file {config}")
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    lab = Lab(lab_dir)
    try:
        lab.up(data_dir, profile, config, encrypt=encrypt)
    except LabError as exc:
        return _fail(str(exc))
    return status(lab_dir)


def down(lab_dir: LabDir = DEFAULT_LAB_DIR) -> int:
    """``hcs lab down``."""
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    try:
        Lab(lab_dir).down()
    except LabError as exc:
        return _fail(str(exc))
    return 0


def status(lab_dir: LabDir = DEFAULT_LAB_DIR) -> int:
    """``hcs lab status``."""
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    lab = Lab(lab_dir)
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


def logs(
    service: Annotated[
        Service | None, typer.Argument(metavar="SERVICE", help="one service (default all)")
    ] = None,
    lab_dir: LabDir = DEFAULT_LAB_DIR,
    lines: Annotated[int, typer.Option("--lines", metavar="N", help="lines per log")] = 40,
) -> int:
    """``hcs lab logs``."""
    from hcs_orchestrator.lab.layout import LabLayout
    from hcs_orchestrator.lab.supervisor import tail

    layout = LabLayout(lab_dir.resolve())
    for name in [service] if service else SERVICES:
        print(f"==> {layout.log_file(name)} <==")
        print(tail(layout.log_file(name), lines))
    return 0


def restart(
    service: Annotated[Service, typer.Argument(metavar="SERVICE", help="the service")],
    lab_dir: LabDir = DEFAULT_LAB_DIR,
) -> int:
    """``hcs lab restart``."""
    from hcs_orchestrator.lab.services import LabError
    from hcs_orchestrator.lab.supervisor import Lab

    try:
        Lab(lab_dir).restart(service)
    except LabError as exc:
        return _fail(str(exc))
    return 0


def watch(lab_dir: LabDir = DEFAULT_LAB_DIR) -> int:
    """``hcs lab watch``."""
    from hcs_orchestrator.lab.watcher import watch as watch_lab

    watch_lab(lab_dir)
    return 0


def plans(
    profile: Annotated[
        Path, typer.Argument(metavar="PROFILE", help="the startup profile")
    ] = DEFAULT_PROFILE,
) -> int:
    """``hcs lab plans``."""
    if not (profile / "startup").is_dir():
        return _fail(f"profile: {profile} has no startup/ directory of startup files")
    from hcs_orchestrator.lab.plan_list import write_plan_list

    try:
        written = write_plan_list(profile)
    except RuntimeError as exc:
        return _fail(str(exc))
    print(f"wrote {written}")
    return 0
