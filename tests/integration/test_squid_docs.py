"""The how-to's example script runs against the emulated board."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from hcs_devices.squid.emulator import EmulatedSquid

DOC = Path(__file__).parents[2] / "docs" / "how-to" / "connect-a-real-squid.md"


@pytest.mark.slow  # about 3 s: the script homes three axes after the real 0.5 s settles
def test_squid_how_to_script_prints_documented_output_when_run(tmp_path: Path) -> None:
    text = DOC.read_text()
    # The block is fenced ```python skip: the docs runner has no board; this test has one.
    (script,) = re.findall(r"```python[^\n]*\n(.*?)```", text, flags=re.DOTALL)
    expected = re.search(r"\$ \.venv/bin/python check_squid\.py\n(.*?)\n```", text)
    assert expected is not None
    with EmulatedSquid(speed_factor=50.0, directory=tmp_path) as board:
        script = script.replace('PORT = "/tmp/hcs-squid-x1y2z3/squid"', f"PORT = {board.path!r}")
        assert board.path in script
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == expected.group(1).strip()
        assert board.emulator.executed_opcodes().count("HOME_OR_ZERO") == 3
        assert not board.emulator.light_on
