"""``hcs emulate pump``: an emulated peristaltic pump on a pseudo-terminal."""

from __future__ import annotations

import argparse

from hcs_devices.fluidics.pump.emulator import Minipuls3Emulator
from hcs_devices.fluidics.pump.gsioc import MAX_UNIT_ID
from hcs_devices.serial.serving import add_link_options, serve_until_signal

#: Emulated models by configuration name (``pump.kind`` in the microscope file).
MODELS = ("gilson_minipuls3",)


def build_parser() -> argparse.ArgumentParser:
    """The options of ``hcs emulate pump``."""
    parser = argparse.ArgumentParser(
        prog="hcs emulate pump",
        description="Serve an emulated peristaltic pump on a pseudo-terminal. "
        "Prints the serial device path, then runs until Ctrl-C or SIGTERM.",
    )
    parser.add_argument("--kind", choices=MODELS, default=MODELS[0], help="pump model")
    parser.add_argument("--unit-id", type=int, default=30, help=f"GSIOC unit id (0..{MAX_UNIT_ID})")
    parser.add_argument(
        "--tube-ul-per-rev",
        type=float,
        default=10.0,
        help="volume the emulated tube delivers per revolution (uL)",
    )
    add_link_options(parser, "pump")
    return parser


def main(argv: list[str]) -> int:
    """Run the emulator; prints the device path and returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        emulator = Minipuls3Emulator(tube_ul_per_rev=args.tube_ul_per_rev, unit_id=args.unit_id)
    except ValueError as err:
        parser.error(str(err))
    return serve_until_signal(
        emulator,
        link_name=args.link_name,
        directory=args.directory,
        banner=f"Gilson Minipuls 3 emulator, unit id {args.unit_id}, "
        f"{args.tube_ul_per_rev} uL/rev; Ctrl-C to stop",
    )
