"""Write the generated reference pages, or check that the committed ones are current.

Each page has a generator module beside this file (``generate_*.py``) with a ``PAGE``
path and a ``render()`` function::

    .venv/bin/python docs/reference/generate.py          # rewrite every page
    .venv/bin/python docs/reference/generate.py --check  # exit 1 if one is stale

``tests/docs/test_reference_pages.py`` fails when a committed page is out of date.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parent
GENERATORS = ("generate_configuration", "generate_cli", "generate_run_schema")


def load(name: str) -> ModuleType:
    """The generator module ``name`` from this directory."""
    spec = importlib.util.spec_from_file_location(f"docs_{name}", HERE / f"{name}.py")
    if spec is None or spec.loader is None:
        raise ImportError(f"no generator {name} in {HERE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    """Write every page, or with ``--check`` report the stale ones; returns the exit code."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if a page is stale")
    args = parser.parse_args(argv)
    stale = 0
    for name in GENERATORS:
        module = load(name)
        page: Path = module.PAGE
        text: str = module.render()
        if not args.check:
            page.write_text(text, encoding="utf-8")
            print(f"wrote {page}")
        elif not page.exists() or page.read_text(encoding="utf-8") != text:
            print(f"{page} is out of date; run {Path(__file__).name}", file=sys.stderr)
            stale += 1
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
