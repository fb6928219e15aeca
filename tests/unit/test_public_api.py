"""Each package's public namespace: every name in ``__all__`` imports, with no cycle.

Each import runs in a fresh interpreter, so a name that only imports after some other
module happened to be loaded first (a hidden cycle) fails here.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Each case starts a fresh interpreter (about 5 s): full suite only.
pytestmark = pytest.mark.slow

PACKAGES = ["hcs_schema", "hcs_devices", "hcs_plans", "hcs_storage", "hcs_orchestrator"]


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("package", PACKAGES)
def test_package_exports_every_name_in_all_when_imported_first(package: str) -> None:
    out = _run(
        f"import json, {package} as p\n"
        "names = list(p.__all__)\n"
        "missing = [n for n in names if getattr(p, n, None) is None]\n"
        "print(json.dumps([names, missing]))"
    )
    names, missing = json.loads(out)
    assert names, f"{package} exports nothing"
    assert not missing


@pytest.mark.parametrize(
    "statement",
    [
        "from hcs_devices import build_microscope",
        "from hcs_storage import open_catalog",
        "from hcs_plans import acquire_plate",
        "from hcs_orchestrator import open_session",
        "from hcs_orchestrator import check_acquisition",
        "from hcs_plans.autofocus import contrast_autofocus, laser_autofocus",
        "import hcs_plans.specs",
        "import hcs_plans.autofocus.plate",
    ],
)
def test_short_import_works_when_it_is_the_first_import(statement: str) -> None:
    _run(statement)


def test_hcs_command_imports_no_acquisition_stack_when_loaded() -> None:
    out = _run(
        "import json, sys, hcs_orchestrator.cli\n"
        "heavy = ('bluesky', 'ophyd_async', 'tiled', 'hcs_devices', 'hcs_plans', 'hcs_storage')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    assert json.loads(out) == []


def test_default_files_are_package_data_when_hcs_is_imported() -> None:
    import hcs_orchestrator

    for path in (hcs_orchestrator.DEFAULT_CONFIG, hcs_orchestrator.DEMO_SPEC):
        assert path.is_file()
        assert path.parent.is_relative_to(hcs_orchestrator.paths.DATA_DIR)


def test_loading_a_squid_configuration_with_fluidics_imports_no_driver_when_checked(
    tmp_path,
) -> None:
    """A configuration is data: checking one loads no driver, device or control code."""
    import yaml

    from hcs_orchestrator import DEFAULT_CONFIG

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    for section in ("stage", "illumination", "filter_wheel"):
        data[section]["backend"] = {"kind": "squid"}
    sources = [source["name"] for source in data["illumination"]["sources"]]
    data["squid"] = {
        "port": "/dev/ttyACM0",
        "illumination_sources": {name: code for code, name in enumerate(sources, start=11)},
    }
    data["fluidics"] = {
        "valves": {"port": "/dev/ttyUSB0", "n_valves": 1, "ports_per_valve": [8]},
        "pump": {"port": "/dev/ttyUSB1", "tube_ul_per_rev": 50.0},
        "reagents": {"wash": [[1, 8]]},
    }
    path = tmp_path / "squid.yaml"
    path.write_text(yaml.safe_dump(data))
    out = _run(
        "import json, sys\n"
        "from hcs_devices import load_config\n"
        f"config = load_config({str(path)!r})\n"
        "assert config.squid is not None and config.fluidics is not None\n"
        "heavy = ('serial', 'bluesky', 'ophyd_async', 'hcs_devices.factory',\n"
        "         'hcs_devices.squid.driver', 'hcs_devices.squid.backends',\n"
        "         'hcs_devices.fluidics.transport', 'hcs_devices.fluidics.mvp.driver',\n"
        "         'hcs_devices.fluidics.pump.minipuls3')\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))"
    )
    assert json.loads(out) == []
