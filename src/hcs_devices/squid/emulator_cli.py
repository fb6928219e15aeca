"""``hcs emulate squid``: serve an emulated Squid board on a pseudo-terminal.

Prints the serial device path, then runs until SIGINT (Ctrl-C) or SIGTERM. Point a
microscope configuration's ``squid.port`` at the printed path to try the real driver
without hardware.
"""

from __future__ import annotations

import argparse
import sys

from hcs_devices.serial.serving import add_link_options, announce_and_wait, stop_on_signal
from hcs_devices.squid.emulator import EmulatedSquid


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="hcs emulate squid",
        description="Serve an emulated Squid microcontroller on a pseudo-terminal.",
    )
    parser.add_argument(
        "--speed-factor",
        type=float,
        default=1.0,
        help="run motion this many times faster than real time (default 1)",
    )
    parser.add_argument(
        "--status-period-ms",
        type=float,
        default=10.0,
        help="interval between status packets, ms (default 10, as real boards)",
    )
    add_link_options(parser, "squid")
    parser.add_argument(
        "--legacy-crc", action="store_true", help="send CRC byte 0, as legacy boards do"
    )
    return parser


def main(argv: list[str]) -> int:
    """Run the emulator until interrupted.

    Args:
        argv: command-line options (see ``--help``).

    Returns:
        The process exit code.
    """
    args = _parser().parse_args(argv)
    if args.speed_factor <= 0 or args.status_period_ms <= 0:
        print("--speed-factor and --status-period-ms must be > 0", file=sys.stderr)
        return 2
    if args.directory is not None:
        args.directory.mkdir(parents=True, exist_ok=True)
    with (
        stop_on_signal() as stop,
        EmulatedSquid(
            speed_factor=args.speed_factor,
            status_period_s=args.status_period_ms / 1000.0,
            legacy_crc=args.legacy_crc,
            directory=args.directory,
            link_name=args.link_name,
        ) as board,
    ):
        announce_and_wait(
            board.path, "Squid emulator (firmware v1.4) running; Ctrl-C to stop.", stop
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
