"""Where the emulated Squid board's camera trigger outputs lead.

A real board's trigger output is a cable to a camera's input line. The emulated board
pulses a :data:`TriggerWire` per output channel instead: any callable (a test's), or
:class:`UdpWire`, which sends one datagram per pulse to an address on this machine,
as the fake GigE Vision camera's Line0 input expects
(:mod:`hcs_devices.camera.genicam.trigger_line`).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

#: Called once per trigger pulse; must not block (the board's command loop calls it).
TriggerWire = Callable[[], None]
#: What a pulse datagram carries (the receiver counts datagrams, not their bytes).
PULSE = b"\x01"


class UdpWire:
    """A trigger wire as UDP datagrams to an address on this machine, one per pulse.

    Args:
        address: (host, port); the host must be a loopback address (127.0.0.0/8).

    Raises:
        ValueError: for a host that is not a loopback IPv4 address or a port outside
            1..65535.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        host, port = address
        try:
            loopback = ipaddress.IPv4Address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise ValueError(
                f"trigger wire host {host!r}: the emulated wire reaches only this machine; "
                "use a loopback address (127.0.0.0/8)"
            )
        if not 1 <= port <= 65535:
            raise ValueError(f"trigger wire port {port} is outside 1..65535")
        self.address = (host, port)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.pulses_sent = 0

    def __call__(self) -> None:
        """Send one pulse (a lost datagram is a pulse the camera missed, as on a cable)."""
        try:
            self._socket.sendto(PULSE, self.address)
        except OSError:
            return
        self.pulses_sent += 1

    def close(self) -> None:
        """Release the socket."""
        self._socket.close()


def parse_wire(text: str) -> tuple[int, tuple[str, int]]:
    """``[CHANNEL=]HOST:PORT`` (channel 0 by default) as (channel, (host, port)).

    Raises:
        ValueError: naming what is wrong and what is allowed.
    """
    channel_text, _, target = text.rpartition("=")
    host, sep, port_text = target.rpartition(":")
    if not sep or not host:
        raise ValueError(f"trigger wire {text!r}: expected [CHANNEL=]HOST:PORT")
    try:
        channel = int(channel_text) if channel_text else 0
        port = int(port_text)
    except ValueError:
        raise ValueError(
            f"trigger wire {text!r}: CHANNEL and PORT must be integers ([CHANNEL=]HOST:PORT)"
        ) from None
    if not 0 <= channel <= 3:
        raise ValueError(f"trigger wire {text!r}: channel {channel} is outside 0..3")
    return channel, (host, port)
