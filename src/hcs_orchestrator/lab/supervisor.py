"""Up, down, restart and status of a lab: the services of ``hcs lab``.

A lab is a lab directory (:mod:`~hcs_orchestrator.lab.layout`) and the services it
runs (:mod:`~hcs_orchestrator.lab.services`). :meth:`Lab.up` starts whichever is not
running, in order, waits until each answers, then opens the RE worker's environment
(the worker builds the microscope from the startup profile). Any service can be
stopped and started again alone; the others go on. Starting a service holds its
``run/NAME.lock``, so that two starts (``hcs lab restart`` and the watcher, say) never
run it twice.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hcs_orchestrator.lab.control import close_client, make_control_keys, manager_client
from hcs_orchestrator.lab.layout import LabLayout, LabSettings
from hcs_orchestrator.lab.processes import running_pid, start_process, stop_process, wait_for
from hcs_orchestrator.lab.services import (
    RE_MANAGER,
    SERVICE_NAMES,
    LabError,
    Service,
    lab_services,
)

#: How long the RE worker may take to load the startup profile (build the microscope).
ENVIRONMENT_OPEN_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class ServiceState:
    """What ``hcs lab status`` says of one service.

    Attributes:
        name: the service.
        pid: its process id (None when it is down).
        address: where clients reach it ("" if it serves nobody).
    """

    name: str
    pid: int | None
    address: str

    @property
    def up(self) -> bool:
        """Whether its process runs."""
        return self.pid is not None


def tail(path: Path, lines: int) -> str:
    """The last ``lines`` lines of a text file ("" if it does not exist)."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


class Lab:
    """The services of one lab directory.

    Args:
        lab_dir: the lab directory.
        out: where progress lines go (``print`` by default).
    """

    def __init__(self, lab_dir: Path, out: Callable[[str], None] = print) -> None:
        self.layout = LabLayout(lab_dir.resolve())
        self.out = out

    def settings(self) -> LabSettings:
        """The lab's settings.

        Raises:
            LabError: the lab was never started (no ``lab.json``).
        """
        settings = self.layout.load()
        if settings is None:
            raise LabError(f"no lab in {self.layout.root}: start one with `hcs lab up`")
        return settings

    def services(self) -> dict[str, Service]:
        """The lab's services, by name, in start order."""
        return lab_services(self.layout, self.settings())

    def set_up(
        self, data_dir: Path, profile_dir: Path, config: Path | None, *, encrypt: bool = False
    ) -> LabSettings:
        """Create the lab directory, its addresses and keys (once); returns the settings.

        Args:
            data_dir: the data directory.
            profile_dir: the startup profile.
            config: the microscope configuration (None: the simulated microscope).
            encrypt: switch on the encryption of the RE Manager's control address (it
                stays on for this lab directory); its key pair is generated here.

        Raises:
            LabError: the lab directory already runs another data directory or profile,
                or encryption is asked for while its RE Manager runs without.
        """
        from hcs_storage.api_key import new_api_key, write_api_key_file

        self.layout.make()
        settings = self.layout.load()
        if settings is None:
            settings = LabSettings.new(data_dir, profile_dir, config, encrypt=encrypt)
            self.layout.save(settings)
        elif (settings.data_dir, settings.profile_dir) != (
            str(data_dir.resolve()),
            str(profile_dir.resolve()),
        ):
            raise LabError(
                f"the lab in {self.layout.root} serves data directory {settings.data_dir} "
                f"with profile {settings.profile_dir}; use another --lab-dir for "
                f"{data_dir.resolve()} (or remove {self.layout.settings_file} after "
                "`hcs lab down`)"
            )
        if encrypt and not settings.encrypt:
            if self.pid(RE_MANAGER) is not None:
                raise LabError(
                    f"--encrypt: the RE Manager of {self.layout.root} runs without encryption; "
                    "stop the lab (`hcs lab down`), then `hcs lab up --encrypt`"
                )
            settings = replace(settings, encrypt=True)
            self.layout.save(settings)
        if settings.encrypt:
            make_control_keys(self.layout)
        if not self.layout.key_file.exists():
            write_api_key_file(self.layout.key_file, new_api_key())
        return settings

    def up(
        self,
        data_dir: Path,
        profile_dir: Path,
        config: Path | None = None,
        *,
        encrypt: bool = False,
    ) -> LabSettings:
        """Start every service that is not running, then open the RE worker's environment."""
        settings = self.set_up(data_dir, profile_dir, config, encrypt=encrypt)
        for name in SERVICE_NAMES:
            self.start(name)
        self.open_environment()
        return settings

    def pid(self, name: str) -> int | None:
        """The pid of a running service, None when it is down."""
        return running_pid(self.layout.pid_file(name))

    def start(self, name: str, *, wait: bool = True) -> int:
        """Start one service unless it runs; wait until it answers; returns its pid.

        Args:
            name: the service.
            wait: wait until it answers (else return once its process runs).

        Raises:
            LabError: it ended, or did not answer in time (its log's end is in the message).
        """
        service = self._service(name)
        with self._starting(name):
            pid = self.pid(name)
            if pid is not None:
                self.out(f"{name}: already up (pid {pid})")
                return pid
            log_file = self.layout.log_file(name)
            pid = start_process(
                service.argv,
                pid_file=self.layout.pid_file(name),
                log_file=log_file,
                env=service.env,
            )
        if not wait:
            self.out(f"{name}: started (pid {pid})")
            return pid
        answered = wait_for(
            lambda: self.pid(name) is None or service.ready(), service.ready_timeout_s
        )
        if self.pid(name) is None or not answered:
            stop_process(self.layout.pid_file(name))
            why = "ended" if answered else f"did not answer within {service.ready_timeout_s:.0f} s"
            raise LabError(f"{name} {why}; the end of {log_file}:\n{tail(log_file, 30)}")
        where = f" on {service.address}" if service.address else ""
        self.out(f"{name}: up (pid {pid}){where}")
        return pid

    @contextlib.contextmanager
    def _starting(self, name: str) -> Iterator[None]:
        """Hold ``run/NAME.lock``: one start of a service at a time, across processes."""
        lock_file = self.layout.start_lock_file(name)
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with lock_file.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed
            yield

    def stop(self, name: str) -> bool:
        """Stop one service (and its children); True if it was running."""
        self._service(name)
        stopped = stop_process(self.layout.pid_file(name))
        self.out(f"{name}: {'stopped' if stopped else 'was not running'}")
        return stopped

    def restart(self, name: str) -> int:
        """Stop and start one service; the others go on. Returns its new pid."""
        self.stop(name)
        pid = self.start(name)
        if name == RE_MANAGER:
            self.open_environment()
        return pid

    def down(self) -> None:
        """Stop every service, the RE Manager first."""
        for name in reversed(SERVICE_NAMES):
            self.stop(name)

    def open_environment(self, timeout_s: float = ENVIRONMENT_OPEN_TIMEOUT_S) -> None:
        """Have the RE worker load the startup profile, unless it has.

        Raises:
            LabError: the worker could not (the RE Manager's log says why).
        """
        with self.manager() as api:
            if api.status()["worker_environment_exists"]:
                return
            self.out("re-manager: opening the worker environment (building the microscope)")
            api.environment_open()
            api.wait_for_idle(timeout=timeout_s)
            if not api.status()["worker_environment_exists"]:
                log_file = self.layout.log_file(RE_MANAGER)
                raise LabError(
                    "the RE worker could not load the startup profile; the end of "
                    f"{log_file}:\n{tail(log_file, 40)}"
                )
        self.out("re-manager: worker environment open")

    @contextlib.contextmanager
    def manager(self) -> Iterator[Any]:
        """A client of the RE Manager (``REManagerAPI``), closed on leaving the block."""
        api = manager_client(self.layout, self.settings())
        try:
            yield api
        finally:
            close_client(api)

    def states(self) -> list[ServiceState]:
        """Each service: up or down, its pid and address."""
        return [
            ServiceState(name, self.pid(name), service.address)
            for name, service in self.services().items()
        ]

    def queue_state(self) -> dict[str, Any] | None:
        """The RE Manager's status (``qserver status``), None if it does not answer."""
        if self.pid(RE_MANAGER) is None:
            return None
        api = manager_client(self.layout, self.settings(), timeout_recv_s=5.0, timeout_send_s=2.0)
        try:
            status: Any = api.status()
            return dict(status)
        except Exception:
            return None
        finally:
            close_client(api)

    def _service(self, name: str) -> Service:
        services = self.services()
        if name not in services:
            raise LabError(f"no service {name!r}: the services are {', '.join(services)}")
        return services[name]
