"""The lab directory: where ``hcs lab`` keeps its addresses, pid files, logs and Redis data.

::

    LAB_DIR/
      lab.json          the data directory, profile, configuration and every address
      tiled-api-key     the Tiled server's API key (readable by its owner only)
      zmq-control-key   with encryption on: the RE Manager's private key (mode 0600)
      zmq-control-key.pub                   and the public key clients need
      run/NAME.lock     held while NAME is being started (one start at a time)
      run/NAME.pid      the process id of each running service
      logs/NAME.log     each service's output (appended across restarts)
      redis/            Redis's data (the queue and the history survive a restart)

Every address is on 127.0.0.1, on ports free when the lab was first started; they are
kept in ``lab.json`` so that a service restarted alone comes back where its clients
look for it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from hcs_storage.server import free_port

LAB_FILE = "lab.json"
KEY_FILE = "tiled-api-key"
CONTROL_KEY_FILE = "zmq-control-key"
HOST = "127.0.0.1"
#: How the RE worker names itself as the data directory's owner (``owner.lock``).
WORKER_COMMAND = "hcs lab (queue server worker)"


@dataclass(frozen=True)
class LabSettings:
    """What a lab runs on and where it listens (``lab.json``).

    Attributes:
        data_dir: the data directory (frames, spool, catalog).
        profile_dir: the startup profile (``startup/``, the plan list, permissions).
        config: the microscope configuration file ("" for the shipped simulated one).
        redis_port: Redis's port.
        tiled_port: the Tiled server's port.
        zmq_control_port: the RE Manager's control port (clients send requests here).
        zmq_info_port: the RE Manager's console-output port.
        host: the interface every service listens on.
        encrypt: whether the RE Manager's control address is encrypted (CurveZMQ).
    """

    data_dir: str
    profile_dir: str
    config: str
    redis_port: int
    tiled_port: int
    zmq_control_port: int
    zmq_info_port: int
    host: str = HOST
    encrypt: bool = False

    @classmethod
    def new(
        cls, data_dir: Path, profile_dir: Path, config: Path | None, *, encrypt: bool = False
    ) -> LabSettings:
        """Settings with free loopback ports."""
        return cls(
            data_dir=str(data_dir.resolve()),
            profile_dir=str(profile_dir.resolve()),
            config=str(config.resolve()) if config else "",
            redis_port=free_port(),
            tiled_port=free_port(),
            zmq_control_port=free_port(),
            zmq_info_port=free_port(),
            encrypt=encrypt,
        )

    @property
    def redis_address(self) -> str:
        """``127.0.0.1:PORT``, as the RE Manager takes it."""
        return f"{self.host}:{self.redis_port}"

    @property
    def tiled_uri(self) -> str:
        """The Tiled server's base URL."""
        return f"http://{self.host}:{self.tiled_port}"

    @property
    def zmq_control_address(self) -> str:
        """The RE Manager's control address, for ``qserver`` and REManagerAPI."""
        return f"tcp://{self.host}:{self.zmq_control_port}"

    @property
    def zmq_info_address(self) -> str:
        """The RE Manager's console-output address."""
        return f"tcp://{self.host}:{self.zmq_info_port}"


@dataclass(frozen=True)
class LabLayout:
    """The files of a lab directory.

    Args:
        root: the lab directory.
    """

    root: Path

    @property
    def settings_file(self) -> Path:
        """``lab.json``."""
        return self.root / LAB_FILE

    @property
    def key_file(self) -> Path:
        """The Tiled API key file."""
        return self.root / KEY_FILE

    @property
    def control_key_file(self) -> Path:
        """The RE Manager's private control key (with encryption on)."""
        return self.root / CONTROL_KEY_FILE

    @property
    def control_public_key_file(self) -> Path:
        """The public control key, for clients (with encryption on)."""
        return self.root / f"{CONTROL_KEY_FILE}.pub"

    @property
    def redis_dir(self) -> Path:
        """Redis's working directory (its data)."""
        return self.root / "redis"

    def pid_file(self, service: str) -> Path:
        """``run/SERVICE.pid``."""
        return self.root / "run" / f"{service}.pid"

    def start_lock_file(self, service: str) -> Path:
        """``run/SERVICE.lock``: held while the service is being started."""
        return self.root / "run" / f"{service}.lock"

    def log_file(self, service: str) -> Path:
        """``logs/SERVICE.log``."""
        return self.root / "logs" / f"{service}.log"

    def make(self) -> None:
        """Create the directories."""
        for sub in ("run", "logs", "redis"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)

    def load(self) -> LabSettings | None:
        """The saved settings, or None before the first ``hcs lab up``."""
        try:
            return LabSettings(**json.loads(self.settings_file.read_text()))
        except FileNotFoundError:
            return None

    def save(self, settings: LabSettings) -> None:
        """Write ``lab.json``."""
        self.settings_file.write_text(json.dumps(asdict(settings), indent=2) + "\n")
