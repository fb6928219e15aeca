"""``hcs emulate DEVICE``: serve an emulated device (serial on a pseudo-terminal, or a camera)."""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable
from typing import Any, cast

#: Emulators by name: "module:function" of a function ``(argv: list[str]) -> int``
#: that prints the serial device path it serves and runs until interrupted.
EMULATORS: dict[str, str] = {
    "squid": "hcs_devices.squid.emulator_cli:main",
    "mvp": "hcs_devices.fluidics.mvp.emulator_cli:main",
    "pump": "hcs_devices.fluidics.pump.emulator_cli:main",
    # Not serial: Aravis's GigE Vision fake camera on 127.0.0.1.
    "camera": "hcs_devices.camera.genicam.fake_camera:main",
}


def register(commands: Any) -> None:
    """Add the ``emulate`` command to the ``hcs`` parser."""
    parser = cast(
        argparse.ArgumentParser,
        commands.add_parser("emulate", help="serve an emulated serial device or camera"),
    )
    parser.add_argument("device", choices=sorted(EMULATORS), help="which device to emulate")
    parser.add_argument("options", nargs=argparse.REMAINDER, help="emulator options")
    parser.set_defaults(run=_run)


def _run(args: argparse.Namespace) -> int:
    module_name, function_name = EMULATORS[args.device].split(":")
    function = cast(
        Callable[[list[str]], int],
        getattr(importlib.import_module(module_name), function_name),
    )
    return function(list(args.options))
