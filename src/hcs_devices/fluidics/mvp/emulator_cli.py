"""``hcs emulate mvp``: an emulated Hamilton MVP valve chain on a pseudo-terminal."""

from __future__ import annotations

import argparse

from hcs_devices.fluidics.mvp.emulator import MvpChainEmulator
from hcs_devices.fluidics.mvp.protocol import ALLOWED_PORT_COUNTS, MAX_VALVES
from hcs_devices.serial.serving import add_link_options, serve_until_signal


def build_parser() -> argparse.ArgumentParser:
    """The options of ``hcs emulate mvp``."""
    parser = argparse.ArgumentParser(
        prog="hcs emulate mvp",
        description="Serve an emulated Hamilton MVP valve daisy chain on a pseudo-terminal. "
        "Prints the serial device path, then runs until Ctrl-C or SIGTERM.",
    )
    parser.add_argument(
        "--valves", type=int, default=1, help=f"number of valves in the chain (1..{MAX_VALVES})"
    )
    parser.add_argument(
        "--ports",
        type=int,
        nargs="+",
        default=[8],
        help="ports per valve: one number for all valves, or one per valve "
        f"(each one of {sorted(ALLOWED_PORT_COUNTS)})",
    )
    parser.add_argument(
        "--seconds-per-port", type=float, default=0.25, help="rotation time per port step"
    )
    parser.add_argument("--init-s", type=float, default=1.5, help="initialisation time")
    parser.add_argument(
        "--speed-factor", type=float, default=1.0, help="divide every duration by this"
    )
    add_link_options(parser, "mvp")
    return parser


def main(argv: list[str]) -> int:
    """Run the emulator; prints the device path and returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 1 <= args.valves <= MAX_VALVES:
        parser.error(f"--valves must be in 1..{MAX_VALVES}, got {args.valves}")
    ports: list[int] = list(args.ports)
    if len(ports) == 1:
        ports = ports * args.valves
    if len(ports) != args.valves:
        parser.error(f"--ports lists {len(ports)} valves but --valves is {args.valves}")
    try:
        emulator = MvpChainEmulator(
            ports,
            seconds_per_port=args.seconds_per_port,
            init_s=args.init_s,
            speed_factor=args.speed_factor,
        )
    except ValueError as err:
        parser.error(str(err))
    return serve_until_signal(
        emulator,
        link_name=args.link_name,
        directory=args.directory,
        banner=f"MVP chain emulator: {args.valves} valve(s), ports {ports}; Ctrl-C to stop",
    )
