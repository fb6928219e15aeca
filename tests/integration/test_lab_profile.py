"""The startup profile (``profile/``): one set of startup files for IPython and the queue server.

- ``existing_plans_and_devices.yaml`` is what bluesky-queueserver's own tool lists from
  the startup files loaded as the RE worker loads them; a plan whose signature changed
  without regenerating the file is found.
- ``user_group_permissions.yaml``: operators may run acquisition, autofocus and motion
  plans on the microscope; observers may run nothing.
- The same startup files still open an embedded session at an IPython prompt, and
  ``scan_id`` goes on counting from one session to the next (``RE.md`` persists).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from bluesky_queueserver.manager.profile_ops import load_allowed_plans_and_devices

from hcs_orchestrator.lab.plan_list import PERMISSIONS_FILE, PLAN_LIST_FILE, write_plan_list

pytestmark = pytest.mark.slow

PROFILE = Path(__file__).resolve().parents[2] / "profile"
REGENERATE = "hcs lab plans profile"


def listed(path: Path) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())


def differences(committed: dict[str, Any], generated: dict[str, Any]) -> list[str]:
    """The plans and devices whose descriptions differ between two lists."""
    found = []
    for kind in ("existing_plans", "existing_devices"):
        old, new = committed.get(kind, {}), generated.get(kind, {})
        found += [f"{kind}: {name}" for name in sorted(old.keys() | new.keys())
                  if old.get(name) != new.get(name)]  # fmt: skip
    return found


def test_committed_plan_list_matches_the_startup_files(tmp_path: Path) -> None:
    generated = write_plan_list(PROFILE, tmp_path)
    changed = differences(listed(PROFILE / PLAN_LIST_FILE), listed(generated))
    assert not changed, f"regenerate the list ({REGENERATE}); changed: {changed}"


def test_plan_list_check_finds_a_plan_whose_signature_changed_without_regenerating(
    tmp_path: Path,
) -> None:
    profile = tmp_path / "profile"
    shutil.copytree(PROFILE / "startup", profile / "startup")
    (profile / "startup" / "20-changed.py").write_text(
        "import hcs_plans\n\n\n"
        "def acquire_plate(microscope, spec, repeats: int = 1, metadata=None):\n"
        '    """Acquire a plate, several times."""\n'
        "    for _ in range(repeats):\n"
        "        yield from hcs_plans.acquire_plate(microscope, spec, metadata)\n"
    )
    generated = write_plan_list(profile, tmp_path)
    assert differences(listed(PROFILE / PLAN_LIST_FILE), listed(generated)) == [
        "existing_plans: acquire_plate"
    ]


def allowed(group: str) -> tuple[dict[str, Any], dict[str, Any]]:
    plans, devices = load_allowed_plans_and_devices(
        path_existing_plans_and_devices=str(PROFILE / PLAN_LIST_FILE),
        path_user_group_permissions=str(PROFILE / PERMISSIONS_FILE),
    )
    return plans[group], devices[group]


@pytest.mark.parametrize("group", ["operator", "primary"])
def test_operators_may_run_acquisition_merfish_autofocus_calibration_and_motion_plans(
    group: str,
) -> None:
    plans, devices = allowed(group)
    assert set(plans) == {
        "acquire_plate",
        "run_unit",
        "contrast_autofocus",
        "calibrate_laser_autofocus",
        "calibrate_plate_a1",
        "laser_autofocus",
        "mv",
        "mvr",
    }
    assert set(devices) == {"microscope"}


def test_observers_may_run_no_plan_and_name_no_device() -> None:
    plans, devices = allowed("observer")
    assert plans == {}
    assert devices == {}


def test_ipython_profile_opens_an_embedded_session_and_scan_ids_go_on_counting(
    config_file: Path, tmp_path: Path
) -> None:
    env = {**os.environ, "HCS_CONFIG": str(config_file), "HCS_DATA_DIR": str(tmp_path / "data")}
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")  # IPython's history
    env.pop("_QSERVER_RE_WORKER_ACTIVE", None)
    check = (
        "print('names', sorted(n for n in ('RE', 'microscope', 'catalog', 'stage', 'camera', "
        "'acquire_plate', 'mv', 'load_spec', 'DEMO_SPEC') if n in globals())); "
        "print('catalog', type(catalog).__name__); "
        "RE(bp.count([])); print('scan_id', RE.md['scan_id']); session.close()"
    )
    outputs = []
    for _ in range(2):  # two sessions, one after the other
        done = subprocess.run(
            [Path(sys.executable).with_name("ipython"), f"--profile-dir={PROFILE}", "-c", check],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(done.stdout)
    first, second = outputs
    assert "hcs session ready" in first
    assert (
        "names ['DEMO_SPEC', 'RE', 'acquire_plate', 'camera', 'catalog', 'load_spec', "
        "'microscope', 'mv', 'stage']" in first
    )
    assert "catalog Container" in first
    assert "scan_id 1" in first
    assert "scan_id 2" in second  # RE.md persists in the data directory
