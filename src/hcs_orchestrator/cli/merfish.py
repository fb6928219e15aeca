"""``hcs merfish validate|run|resume|status|confirm``: MERFISH experiments.

The handlers import the MERFISH orchestrator when they run, so that ``hcs --help``
stays fast. Exit codes: 0 done, 1 a unit failed, 2 refused input, 3 waiting for the
operator's confirmation (``--no-wait``), 130 interrupted.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from hcs_orchestrator.cli.app import command_group, command_settings
from hcs_orchestrator.cli.options import DEFAULT_DATA_DIR, Config, DataDir, ExistingDataDir

#: Restarts ``--supervise`` allows by default.
MAX_RESTARTS = 10

#: Exit code of ``run``/``resume --no-wait`` when a unit waits for confirmation.
WAITING_EXIT = 3
#: Exit code when the operator interrupted the experiment (as Ctrl-C in shells).
INTERRUPTED_EXIT = 130

DESCRIPTION = (
    "Multi-round MERFISH experiments from a protocol file. Every unit of work is journaled "
    "in the data directory: after a crash `hcs merfish resume` does only what is missing, "
    "and asks (`hcs merfish confirm`) before it repeats a step that is not safe to repeat."
)

Protocol = Annotated[Path, typer.Argument(metavar="PROTOCOL", help="the protocol file (YAML)")]
NoWait = Annotated[
    bool,
    typer.Option(
        "--no-wait",
        help=f"exit with code {WAITING_EXIT} instead of waiting for `hcs merfish confirm`",
    ),
]
Lab = Annotated[
    Path | None,
    typer.Option(
        "--lab",
        metavar="LAB_DIR",
        help="run the units through this lab's queue server (`hcs lab up`), on its "
        "microscope and data directory",
    ),
]
Supervise = Annotated[
    bool,
    typer.Option(
        "--supervise",
        help="run the orchestrator in a child process and resume it when that process dies",
    ),
]
MaxRestarts = Annotated[
    int,
    typer.Option(
        "--max-restarts",
        metavar="N",
        min=0,
        help="with --supervise, restarts allowed before giving up",
    ),
]


def register(app: typer.Typer) -> None:
    """Add ``hcs merfish`` and its subcommands."""
    merfish = command_group(DESCRIPTION)
    merfish.command("validate", **command_settings("check a protocol against the microscope"))(
        validate
    )
    merfish.command("run", **command_settings("start an experiment (or --dry-run: what it takes)"))(
        run
    )
    merfish.command("resume", **command_settings("continue a data directory's experiment"))(resume)
    merfish.command("status", **command_settings("what is done, running, waiting"))(status)
    merfish.command(
        "confirm",
        **command_settings("allow a waiting step that is not safe to repeat to run again"),
    )(confirm)
    app.add_typer(
        merfish,
        name="merfish",
        help=DESCRIPTION,
        short_help="MERFISH experiments: validate, run, resume, status, confirm",
    )


def validate(protocol: Protocol, config: Config = None) -> int:
    """``hcs merfish validate``."""
    code = _check(protocol, config, None)
    if code == 0:
        print(f"{protocol}: valid for this microscope")
    return code


def run(
    protocol: Protocol,
    config: Config = None,
    data_dir: DataDir = DEFAULT_DATA_DIR,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="print what it takes; move and flow nothing")
    ] = False,
    no_wait: NoWait = False,
    supervise: Supervise = False,
    max_restarts: MaxRestarts = MAX_RESTARTS,
    lab: Lab = None,
) -> int:
    """``hcs merfish run``."""
    if dry_run:
        return _check(protocol, config, data_dir)
    experiment = Experiment(protocol, config, data_dir, lab, no_wait=no_wait)
    if supervise:
        return _supervised(experiment, resume=False, max_restarts=max_restarts)
    return _experiment(experiment, resume=False)


def resume(
    # (with --lab the lab's data directory is used; without, a directory holding no
    # experiment is refused by name when the journal is looked for)
    data_dir: DataDir = DEFAULT_DATA_DIR,
    no_wait: NoWait = False,
    supervise: Supervise = False,
    max_restarts: MaxRestarts = MAX_RESTARTS,
    lab: Lab = None,
) -> int:
    """``hcs merfish resume``."""
    experiment = Experiment(None, None, data_dir, lab, no_wait=no_wait)
    if supervise:
        return _supervised(experiment, resume=True, max_restarts=max_restarts)
    return _experiment(experiment, resume=True)


@dataclass(frozen=True)
class Experiment:
    """What ``run`` or ``resume`` was asked to run.

    Attributes:
        protocol: the protocol file (None: resume the data directory's experiment).
        config: the microscope configuration (None: the simulated one, or the lab's).
        data_dir: the data directory.
        lab: the lab directory whose queue server runs the units (None: this process).
        no_wait: exit instead of waiting for ``hcs merfish confirm``.
    """

    protocol: Path | None
    config: Path | None
    data_dir: Path
    lab: Path | None
    no_wait: bool


def _check(protocol_file: Path, config_file: Path | None, data_dir: Path | None) -> int:
    from hcs_devices.config import UserFileError, load_config
    from hcs_orchestrator.merfish.preflight import check_protocol, describe_estimate
    from hcs_orchestrator.merfish.protocol import load_protocol, protocol_hash
    from hcs_orchestrator.paths import DEFAULT_CONFIG

    try:
        protocol = load_protocol(protocol_file)
        config = load_config(config_file or DEFAULT_CONFIG)
        estimate = check_protocol(protocol, config, source=str(protocol_file), data_dir=data_dir)
    except UserFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"protocol: {protocol.name} ({protocol_hash(protocol)[:12]})")
    print(describe_estimate(estimate))
    return 0


def _supervised(experiment: Experiment, *, resume: bool, max_restarts: int) -> int:
    from hcs_orchestrator.merfish.supervisor import supervise

    def command(resuming: bool) -> list[str]:
        line = [sys.executable, "-m", "hcs_orchestrator.cli", "merfish"]
        if resuming:
            line += ["resume"]
        else:
            line += ["run", str(experiment.protocol)]
            if experiment.config is not None:
                line += ["--config", str(experiment.config)]
        line += ["--data-dir", str(experiment.data_dir)]
        if experiment.lab is not None:
            line += ["--lab", str(experiment.lab)]
        return line + (["--no-wait"] if experiment.no_wait else [])

    return supervise(command, experiment.data_dir, resume=resume, max_restarts=max_restarts)


def _experiment(experiment: Experiment, *, resume: bool) -> int:
    from hcs_devices.config import UserFileError
    from hcs_orchestrator.lab.supervisor import LabError
    from hcs_orchestrator.merfish.journal import JournalError
    from hcs_orchestrator.merfish.runner import COMPLETED, INTERRUPTED, WAITING, run_experiment
    from hcs_storage.owner import DataDirInUseError

    if experiment.lab is not None and experiment.config is not None:
        print(
            "error: --config: with --lab the lab's microscope configuration is used",
            file=sys.stderr,
        )
        return 2
    try:
        if experiment.lab is not None:
            from hcs_orchestrator.merfish.lab_runner import run_experiment_in_lab

            outcome = run_experiment_in_lab(
                experiment.protocol,
                experiment.lab,
                resume=resume,
                wait_for_confirmation=not experiment.no_wait,
            )
        else:
            outcome = run_experiment(
                experiment.protocol,
                experiment.config,
                experiment.data_dir,
                resume=resume,
                wait_for_confirmation=not experiment.no_wait,
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


def status(data_dir: ExistingDataDir = DEFAULT_DATA_DIR) -> int:
    """``hcs merfish status``."""
    from hcs_orchestrator.merfish.status import experiment_status

    try:
        lines = experiment_status(data_dir)
    except Exception as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    return 0


def confirm(
    data_dir: ExistingDataDir = DEFAULT_DATA_DIR,
    unit: Annotated[
        str | None, typer.Argument(metavar="UNIT", help="the unit (all waiting ones)")
    ] = None,
) -> int:
    """``hcs merfish confirm``."""
    from hcs_orchestrator.merfish.journal import Journal, JournalError, journal_path

    path = journal_path(data_dir)
    if not path.exists():
        print(f"error: {data_dir} holds no MERFISH experiment", file=sys.stderr)
        return 2
    with Journal(path) as journal:
        try:
            confirmed = journal.confirm(unit)
        except JournalError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        for done in confirmed:
            journal.log("confirm", f"the operator allowed {done} to run again")
            print(f"confirmed: {done}")
    return 0
