"""``hcs emulate squid``: serve an emulated Squid board on a pseudo-terminal.

Prints the serial device path, then runs until SIGINT (Ctrl-C) or SIGTERM. Point a
microscope configuration's ``squid.port`` at the printed path to try the real driver
without hardware. ``--trigger-wire HOST:PORT`` connects the board's camera trigger
output 0 (``CHANNEL=HOST:PORT`` another one) to the fake camera's Line0 input that
``hcs emulate camera`` prints, so hardware-triggered frames can be tried by hand.
"""

from __future__ import annotations

import argparse
import sys

from hcs_devices.serial.serving import add_link_options, announce_and_wait, stop_on_signal
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.emulator_wire import UdpWire, parse_wire


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
    parser.add_argument(
        "--trigger-wire",
        action="append",
        default=[],
        metavar="[CHANNEL=]HOST:PORT",
        help="send camera trigger output CHANNEL (0..3, default 0) to a UDP line input on "
        "this machine, e.g. the 'line' address 'hcs emulate camera' prints (repeatable)",
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
    try:
        wires: dict[int, tuple[str, int]] = dict(parse_wire(w) for w in args.trigger_wire)
        for address in wires.values():
            UdpWire(address).close()  # checks the address
    except ValueError as exc:
        print(f"--trigger-wire: {exc}", file=sys.stderr)
        return 2
    if args.directory is not None:
        args.directory.mkdir(parents=True, exist_ok=True)
    wired = "".join(
        f"; trigger output {channel} wired to UDP {host}:{port}"
        for channel, (host, port) in sorted(wires.items())
    )
    with (
        stop_on_signal() as stop,
        EmulatedSquid(
            speed_factor=args.speed_factor,
            status_period_s=args.status_period_ms / 1000.0,
            legacy_crc=args.legacy_crc,
            directory=args.directory,
            link_name=args.link_name,
            trigger_wires=dict(wires),
        ) as board,
    ):
        announce_and_wait(
            board.path, f"Squid emulator (firmware v1.4) running{wired}; Ctrl-C to stop.", stop
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
