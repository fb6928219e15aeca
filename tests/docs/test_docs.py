"""Every example in the documentation runs, and every example file validates.

For each Markdown file under ``docs/`` (and ``README.md``), one test:

- its fenced ``python`` blocks run in order, as one script, in the namespace of the
  IPython profile (``profile/startup/*.py`` run first: ``RE``, ``microscope``,
  ``camera``, ``catalog``... are there, as at the prompt), in a temporary working
  directory (``tempfile`` also makes its temporary files there; the profile's data
  directory is ``hcs-data`` in it). A page for a microscope other than the shipped one
  names its configuration with ``<!-- docs-test: config=PATH -->`` (PATH from the
  repository's top), as ``HCS_CONFIG`` names it at the prompt. A block whose fence
  info string contains ``skip`` (```` ```python skip ````) is shown to readers but not
  run: use it for code that needs an instrument.
- its ``yaml`` blocks whose first line is ``# microscope configuration`` are validated
  as a whole microscope configuration (``MicroscopeConfig``), and those whose first
  line is ``# acquisition spec`` as an acquisition spec (``spec_from_data``). Other
  YAML blocks (fragments of a file) are not checked.

A page whose examples take a second or more says so with the HTML comment
``<!-- docs-test: slow -->`` (invisible when the page is rendered); its test is then
marked ``slow``.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import pytest
import yaml

from hcs_devices.config import MicroscopeConfig
from hcs_devices.config.errors import validate_model
from hcs_orchestrator.session import Session, open_session
from hcs_plans.specs import spec_from_data

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
SLOW_MARKER = "<!-- docs-test: slow -->"
MICROSCOPE_HEADER = "# microscope configuration"
SPEC_HEADER = "# acquisition spec"
PROFILE_STARTUP = REPO / "profile" / "startup"
CONFIG_MARKER = re.compile(r"<!-- docs-test: config=(\S+) -->")

# Creating a catalog runs alembic 1.20, which warns about tiled's migration settings.
pytestmark = pytest.mark.filterwarnings(
    "ignore:No path_separator found in configuration:DeprecationWarning"
)

_OPENING = re.compile(r"^(?P<indent> {0,3})(?P<fence>`{3,}|~{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a Markdown file."""

    language: str
    options: tuple[str, ...]
    text: str
    line: int  # line number of the block's first line of code (1-based)


def fenced_blocks(markdown: str) -> Iterator[Block]:
    """The fenced code blocks of a Markdown text, in order."""
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        opening = _OPENING.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening["fence"], len(opening["indent"])
        words = opening["info"].strip().split()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not closing.match(lines[j]):
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        language = words[0].lower() if words else ""
        yield Block(language, tuple(w.lower() for w in words[1:]), "\n".join(body) + "\n", i + 2)
        i = j + 1


def documents() -> list[Path]:
    """Every Markdown page of the documentation, and the README."""
    return [*sorted(DOCS.rglob("*.md")), REPO / "README.md"]


def _param(path: Path) -> pytest.ParameterSet:
    slow = SLOW_MARKER in path.read_text(encoding="utf-8")
    return pytest.param(
        path,
        id=str(path.relative_to(REPO)),
        marks=[pytest.mark.slow] if slow else [],
    )


@contextlib.contextmanager
def profile_namespace(data_dir: Path, config: Path | None) -> Iterator[dict[str, object]]:
    """The namespace the IPython profile's startup files make; their session closed after."""
    namespace: dict[str, object] = {"__name__": "__main__"}
    environ = {"HCS_DATA_DIR": str(data_dir), "HCS_CONFIG": str(config or "")}
    with mock.patch.dict(os.environ, environ):
        sessions: list[Session] = []
        try:
            for startup in sorted(PROFILE_STARTUP.glob("*.py")):
                exec(compile(startup.read_text(encoding="utf-8"), str(startup), "exec"), namespace)
            sessions += [v for v in namespace.values() if isinstance(v, Session)]
            yield namespace
        finally:
            # A page may open a session of its own under the same name: close both, so
            # that no forwarder outlives the page.
            sessions += [v for v in namespace.values() if isinstance(v, Session)]
            for session in {id(s): s for s in sessions}.values():
                session.close()


def page_config(text: str) -> Path | None:
    """The configuration a page names with ``<!-- docs-test: config=PATH -->``, if any."""
    match = CONFIG_MARKER.search(text)
    return REPO / match.group(1) if match else None


def run_python_blocks(path: Path, blocks: list[Block], namespace: dict[str, object]) -> None:
    """Run the blocks in order in ``namespace``; tracebacks show the page's line numbers."""
    namespace["__file__"] = str(path)
    for block in blocks:
        # Pad with empty lines so that line numbers in a traceback are the page's.
        source = "\n" * (block.line - 1) + block.text
        exec(compile(source, str(path), "exec"), namespace)


def check_yaml_blocks(path: Path, blocks: list[Block]) -> int:
    """Validate the microscope configurations and acquisition specs; return how many."""
    checked = 0
    for block in blocks:
        first = block.text.lstrip().splitlines()[0].strip().lower() if block.text.strip() else ""
        source = f"{path.relative_to(REPO)}:{block.line}"
        if first.startswith(MICROSCOPE_HEADER):
            validate_model(MicroscopeConfig, yaml.safe_load(block.text), source)
        elif first.startswith(SPEC_HEADER):
            spec_from_data(yaml.safe_load(block.text), source)
        else:
            continue
        checked += 1
    return checked


@pytest.mark.parametrize("path", [_param(p) for p in documents()])
def test_doc_examples_run_when_page_is_read(
    path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocks = list(fenced_blocks(path.read_text(encoding="utf-8")))
    check_yaml_blocks(path, [b for b in blocks if b.language in ("yaml", "yml")])
    python = [b for b in blocks if b.language == "python" and "skip" not in b.options]
    if not python:
        return
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    config = page_config(path.read_text(encoding="utf-8"))
    with profile_namespace(tmp_path / "hcs-data", config) as namespace:
        run_python_blocks(path, python, namespace)


# --- the runner itself -------------------------------------------------------------


def test_fenced_blocks_reads_language_options_and_lines_when_fences_vary() -> None:
    text = "intro\n```python skip\na = 1\n```\n\n~~~~yaml\n# acquisition spec\nb: 2\n~~~~\n"
    blocks = list(fenced_blocks(text))
    assert [(b.language, b.options, b.line) for b in blocks] == [
        ("python", ("skip",), 3),
        ("yaml", (), 7),
    ]
    assert blocks[0].text == "a = 1\n"
    assert blocks[1].text == "# acquisition spec\nb: 2\n"


def test_fenced_blocks_keeps_shorter_fences_inside_when_the_outer_fence_is_longer() -> None:
    text = "````markdown\n```python\nx = 1\n```\n````\n"
    (block,) = fenced_blocks(text)
    assert block.language == "markdown"
    assert "x = 1" in block.text


def test_check_yaml_blocks_names_the_page_and_line_when_a_configuration_is_invalid() -> None:
    bad = Block("yaml", (), "# microscope configuration\nname: x\ncamera: {}\n", 12)
    with pytest.raises(ValueError, match=r"docs/x\.md:12"):
        check_yaml_blocks(DOCS / "x.md", [bad])


def test_run_python_blocks_reports_the_page_line_when_a_block_fails() -> None:
    blocks = [
        Block("python", (), "a = 1\n", 3),
        Block("python", (), "b = a\nraise KeyError(b)\n", 9),
    ]
    with pytest.raises(KeyError) as info:
        run_python_blocks(DOCS / "x.md", blocks, {})
    assert info.traceback[-1].lineno + 1 == 10


@pytest.mark.slow
def test_profile_namespace_holds_the_prompts_names_and_closes_its_session(tmp_path: Path) -> None:
    with profile_namespace(tmp_path / "hcs-data", None) as namespace:
        assert {"RE", "microscope", "camera", "stage", "catalog", "acquire_plate"} <= set(namespace)
        assert isinstance(namespace["session"], Session)
    # Closed: the data directory is free for the next session.
    open_session(None, tmp_path / "hcs-data").close()
