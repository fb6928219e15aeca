"""``hcs merfish validate|run|resume|status|confirm``: MERFISH experiments.

The handlers import the MERFISH orchestrator when they run, so that ``hcs --help``
stays fast. Exit codes: 0 done, 1 a unit failed, 2 refused input, 3 waiting for the
operator's confirmation (``--no-wait``), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, cast

from hcs_orchestrator.cli.options import add_data_dir_option

#: Restarts ``--supervise`` allows by default.
MAX_RESTARTS = 10

#: Exit code of ``run``/``resume --no-wait`` when a unit waits for confirmation.
WAITING_EXIT = 3
#: Exit code when the operator interrupted the experiment (as Ctrl-C in shells).
INTERRUPTED_EXIT = 130


def register(commands: Any) -> None:
    """Add ``hcs merfish`` and its subcommands to the ``hcs`` parser."""
    merfish = cast(
        argparse.ArgumentParser,
        commands.add_parser(
            "merfish",
            help="MERFISH experiments: validate, run, resume, status, confirm",
            description=(
                "Multi-round MERFISH experiments from a protocol file. Every unit of work "
                "is journaled in the data directory: after a crash `hcs merfish resume` "
                "does only what is missing, and asks (`hcs merfish confirm`) before it "
                "repeats a step that is not safe to repeat."
            ),
        ),
    )
    actions = merfish.add_subparsers(dest="action", required=True, metavar="ACTION")

    validate = actions.add_parser("validate", help="check a protocol against the microscope")
    _protocol_options(validate)
    validate.set_defaults(run=_validate)

    run = actions.add_parser("run", help="start an experiment (or --dry-run: what it takes)")
    _protocol_options(run)
    add_data_dir_option(run, must_exist=False)
    run.add_argument(
        "--dry-run", action="store_true", help="print what it takes; move and flow nothing"
    )
    _wait_option(run)
    _supervise_option(run)
    _lab_option(run)
    run.set_defaults(run=_run)

    resume = actions.add_parser("resume", help="continue a data directory's experiment")
    # (with --lab the lab's data directory is used; without, a directory holding no
    # experiment is refused by name when the journal is looked for)
    add_data_dir_option(resume, must_exist=False)
    _wait_option(resume)
    _supervise_option(resume)
    _lab_option(resume)
    resume.set_defaults(run=_resume)

    status = actions.add_parser("status", help="what is done, running, waiting")
    add_data_dir_option(status, must_exist=True)
    status.set_defaults(run=_status)

    confirm = actions.add_parser(
        "confirm", help="allow a waiting step that is not safe to repeat to run again"
    )
    add_data_dir_option(confirm, must_exist=True)
    confirm.add_argument("unit", nargs="?", default=None, help="the unit (all waiting ones)")
    confirm.set_defaults(run=_confirm)


def _protocol_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("protocol", type=Path, help="the protocol file (YAML)")
    parser.add_argument(
        "--config", type=Path, default=None, help="microscope configuration (default: simulated)"
    )


def _wait_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-wait",
        action="store_true",
        help=f"exit with code {WAITING_EXIT} instead of waiting for `hcs merfish confirm`",
    )


def _lab_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lab",
        type=Path,
        default=None,
        metavar="LAB_DIR",
        help=(
            "run the units through this lab's queue server (`hcs lab up`), on its "
            "microscope and data directory"
        ),
    )


def _supervise_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--supervise",
        action="store_true",
        help="run the orchestrator in a child process and resume it when that process dies",
    )
    parser.add_argument(
        "--max-restarts",
        type=int,
        default=MAX_RESTARTS,
        metavar="N",
        help="with --supervise, restarts allowed before giving up",
    )


def _check(args: argparse.Namespace, data_dir: Path | None) -> int:
    from hcs_devices.config import UserFileError, load_config
    from hcs_orchestrator.merfish.preflight import check_protocol, describe_estimate
    from hcs_orchestrator.merfish.protocol import load_protocol, protocol_hash
    from hcs_orchestrator.paths import DEFAULT_CONFIG

    try:
        protocol = load_protocol(args.protocol)
        config = load_config(args.config or DEFAULT_CONFIG)
        estimate = check_protocol(protocol, config, source=str(args.protocol), data_dir=data_dir)
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"protocol: {protocol.name} ({protocol_hash(protocol)[:12]})")
    print(describe_estimate(estimate))
    return 0


def _validate(args: argparse.Namespace) -> int:
    code = _check(args, None)
    if code == 0:
        print(f"{args.protocol}: valid for this microscope")
    return code


def _run(args: argparse.Namespace) -> int:
    if args.dry_run:
        return _check(args, args.data_dir)
    return _experiment(args, resume=False)


def _resume(args: argparse.Namespace) -> int:
    args.protocol = None
    args.config = None
    return _experiment(args, resume=True)


def _supervised(args: argparse.Namespace, *, resume: bool) -> int:
    from hcs_orchestrator.merfish.supervisor import supervise

    if args.max_restarts < 0:
        print(f"error: --max-restarts must be 0 or more, not {args.max_restarts}", file=sys.stderr)
        return 2

    def command(resuming: bool) -> list[str]:
        line = [sys.executable, "-m", "hcs_orchestrator.cli", "merfish"]
        if resuming:
            line += ["resume"]
        else:
            line += ["run", str(args.protocol)]
            if args.config is not None:
                line += ["--config", str(args.config)]
        line += ["--data-dir", str(args.data_dir)]
        if args.lab is not None:
            line += ["--lab", str(args.lab)]
        return line + (["--no-wait"] if args.no_wait else [])

    return supervise(command, args.data_dir, resume=resume, max_restarts=args.max_restarts)


def _experiment(args: argparse.Namespace, *, resume: bool) -> int:
    if args.supervise:
        return _supervised(args, resume=resume)
    from hcs_devices.config import UserFileError
    from hcs_orchestrator.lab.supervisor import LabError
    from hcs_orchestrator.merfish.journal import JournalError
    from hcs_orchestrator.merfish.runner import COMPLETED, INTERRUPTED, WAITING, run_experiment
    from hcs_storage.owner import DataDirInUseError

    if args.lab is not None and args.config is not None:
        print(
            "error: --config: with --lab the lab's microscope configuration is used",
            file=sys.stderr,
        )
        return 2
    try:
        if args.lab is not None:
            from hcs_orchestrator.merfish.lab_runner import run_experiment_in_lab

            outcome = run_experiment_in_lab(
                args.protocol, args.lab, resume=resume, wait_for_confirmation=not args.no_wait
            )
        else:
            outcome = run_experiment(
                args.protocol,
                args.config,
                args.data_dir,
                resume=resume,
                wait_for_confirmation=not args.no_wait,
            )
    except (UserFileError, JournalError, DataDirInUseError, LabError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; continue with: hcs merfish resume", file=sys.stderr)
        return INTERRUPTED_EXIT
    print(f"experiment: {outcome}")
    if outcome == COMPLETED:
        return 0
    if outcome == WAITING:
        return WAITING_EXIT
    return INTERRUPTED_EXIT if outcome == INTERRUPTED else 1


def _status(args: argparse.Namespace) -> int:
    from hcs_orchestrator.merfish.status import experiment_status

    try:
        lines = experiment_status(args.data_dir)
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


def _confirm(args: argparse.Namespace) -> int:
    from hcs_orchestrator.merfish.journal import Journal, JournalError, journal_path

    path = journal_path(args.data_dir)
    if not path.exists():
        print(f"error: {args.data_dir} holds no MERFISH experiment", file=sys.stderr)
        return 2
    with Journal(path) as journal:
        try:
            confirmed = journal.confirm(args.unit)
        except JournalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for unit in confirmed:
            journal.log("confirm", f"the operator allowed {unit} to run again")
            print(f"confirmed: {unit}")
    return 0
