"""Where the shipped profile lives: the default microscope and sequences."""

from __future__ import annotations

from pathlib import Path

#: The profile directory of a source checkout.
PROFILE_DIR = Path(__file__).resolve().parents[2] / "profile"
#: The microscope configuration shipped with hcs (a simulated Squid-like instrument).
DEFAULT_CONFIG = PROFILE_DIR / "microscope.yaml"
#: The demo plate acquisition of ``hcs demo``.
DEMO_SPEC = PROFILE_DIR / "sequences" / "demo-96.yaml"
