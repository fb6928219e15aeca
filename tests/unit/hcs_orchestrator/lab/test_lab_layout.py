"""A lab directory: its addresses on loopback, its key, one data directory per lab."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from hcs_orchestrator.lab.services import LabError
from hcs_orchestrator.lab.supervisor import Lab

PROFILE = Path(__file__).resolve().parents[4] / "profile"


def test_set_up_keeps_loopback_addresses_and_a_private_key_across_calls(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab", out=lambda line: None)
    first = lab.set_up(tmp_path / "data", PROFILE, None)
    again = lab.set_up(tmp_path / "data", PROFILE, None)
    assert again == first  # a service restarted later comes back at the same address
    assert first.host == "127.0.0.1"
    ports = {first.redis_port, first.tiled_port, first.zmq_control_port, first.zmq_info_port}
    assert len(ports) == 4
    assert first.zmq_control_address == f"tcp://127.0.0.1:{first.zmq_control_port}"
    mode = stat.S_IMODE(lab.layout.key_file.stat().st_mode)
    assert mode == 0o600
    assert len(lab.layout.key_file.read_text().strip()) == 64


def test_set_up_refuses_another_data_directory_naming_the_lab_s(tmp_path: Path) -> None:
    lab = Lab(tmp_path / "lab", out=lambda line: None)
    lab.set_up(tmp_path / "data", PROFILE, None)
    with pytest.raises(LabError, match=f"serves data directory {tmp_path / 'data'}"):
        lab.set_up(tmp_path / "other", PROFILE, None)


def test_a_lab_that_was_never_started_and_an_unknown_service_are_refused_by_name(
    tmp_path: Path,
) -> None:
    lab = Lab(tmp_path / "lab", out=lambda line: None)
    with pytest.raises(LabError, match="start one with `hcs lab up`"):
        lab.states()
    lab.set_up(tmp_path / "data", PROFILE, None)
    with pytest.raises(LabError, match="no service 'postgres': the services are redis, tiled"):
        lab.stop("postgres")
    assert [state.up for state in lab.states()] == [False] * 5


def test_set_up_with_encryption_keeps_a_private_control_key_and_gives_the_manager_it_alone(
    tmp_path: Path,
) -> None:
    from hcs_orchestrator.lab.control import PRIVATE_KEY_ENV, public_key
    from hcs_orchestrator.lab.services import RE_MANAGER

    lab = Lab(tmp_path / "lab", out=lambda line: None)
    plain = lab.set_up(tmp_path / "data", PROFILE, None)
    assert not plain.encrypt
    assert public_key(lab.layout, plain) is None
    assert PRIVATE_KEY_ENV not in lab.services()[RE_MANAGER].env
    assert not lab.layout.control_key_file.exists()

    # Switched on later (the manager is not running): same addresses, a new key pair.
    settings = lab.set_up(tmp_path / "data", PROFILE, None, encrypt=True)
    assert settings.encrypt
    assert settings.zmq_control_port == plain.zmq_control_port
    private = lab.layout.control_key_file.read_text().strip()
    assert stat.S_IMODE(lab.layout.control_key_file.stat().st_mode) == 0o600
    public = public_key(lab.layout, settings)
    assert public is not None and len(public) == len(private) == 40 and public != private
    manager = lab.services()[RE_MANAGER]
    assert manager.env[PRIVATE_KEY_ENV] == private
    assert private not in " ".join(manager.argv)  # never on a command line
    # It stays on, with the same keys, when the lab is brought up again without asking.
    assert lab.set_up(tmp_path / "data", PROFILE, None).encrypt
    assert lab.layout.control_key_file.read_text().strip() == private
