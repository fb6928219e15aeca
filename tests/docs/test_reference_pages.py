"""The generated reference pages match what their generators render now."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import yaml

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "reference"


def _generator(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location("docs_generate", REFERENCE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(name)


@pytest.mark.parametrize(
    ("generator", "page"),
    [
        ("generate_configuration", "configuration.md"),
        ("generate_cli", "cli.md"),
        ("generate_run_schema", "run-schema.md"),
    ],
)
def test_reference_page_is_up_to_date_when_committed(generator: str, page: str) -> None:
    rendered = _generator(generator).render()
    committed = (REFERENCE / page).read_text(encoding="utf-8")
    assert committed == rendered, (
        f"docs/reference/{page} is out of date: run .venv/bin/python docs/reference/generate.py"
    )


def test_configuration_reference_lists_every_key_of_the_shipped_profile() -> None:
    page = (REFERENCE / "configuration.md").read_text(encoding="utf-8")
    profile = REFERENCE.parents[1] / "src" / "hcs_orchestrator" / "data" / "microscope.yaml"
    data = yaml.safe_load(profile.read_text(encoding="utf-8"))

    def keys(value: object) -> set[str]:
        if isinstance(value, dict):
            return set(value) | {k for v in value.values() for k in keys(v)}
        if isinstance(value, list):
            return {k for v in value for k in keys(v)}
        return set()

    missing = sorted(k for k in keys(data) if f"| `{k}` |" not in page)
    assert not missing, (
        f"keys of src/hcs_orchestrator/data/microscope.yaml missing from the reference: {missing}"
    )
