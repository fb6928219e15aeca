"""``hcs emulate DEVICE``: serve an emulated device (serial on a pseudo-terminal, or a camera)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Annotated, Literal, cast, get_args

import typer

from hcs_orchestrator.cli.app import command_settings

#: The devices there are emulators of.
Device = Literal["camera", "mvp", "pump", "squid"]

#: Emulators by name: "module:function" of a function ``(argv: list[str]) -> int``
#: that prints the serial device path it serves and runs until interrupted.
EMULATORS: dict[Device, str] = {
    "squid": "hcs_devices.squid.emulator_cli:main",
    "mvp": "hcs_devices.fluidics.mvp.emulator_cli:main",
    "pump": "hcs_devices.fluidics.pump.emulator_cli:main",
    # Not serial: Aravis's GigE Vision fake camera on 127.0.0.1.
    "camera": "hcs_devices.camera.genicam.fake_camera:main",
}
DEVICES: tuple[Device, ...] = get_args(Device)


def register(app: typer.Typer) -> None:
    """Add ``hcs emulate``."""
    settings = command_settings("serve an emulated serial device or camera")
    # Everything after DEVICE (``--help`` too) belongs to that device's emulator.
    settings["context_settings"] = settings["context_settings"] | {
        "ignore_unknown_options": True,
        "allow_interspersed_args": False,
    }
    app.command("emulate", **settings)(emulate)


def emulate(
    device: Annotated[Device, typer.Argument(metavar="DEVICE", help="which device to emulate")],
    options: Annotated[
        list[str] | None, typer.Argument(metavar="ARGS", help="emulator options")
    ] = None,
) -> int:
    """``hcs emulate``."""
    module_name, function_name = EMULATORS[device].split(":")
    function = cast(
        Callable[[list[str]], int],
        getattr(importlib.import_module(module_name), function_name),
    )
    return function(list(options or []))
