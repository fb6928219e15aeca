"""Loading Aravis (through PyGObject) and opening a GigE Vision camera by its address.

Aravis is optional (``pip install hcs[genicam]`` plus the Debian packages
``libaravis-0.8-0 gir1.2-aravis-0.8``): :func:`load_aravis` raises
:class:`AravisUnavailable` with what is missing, and :func:`aravis_missing` says it
without raising (tests skip with that reason).

Cameras are opened by IP address only, never found by device discovery: discovery
broadcasts on every network interface of the machine. :func:`open_gige_camera` opens
the GigE Vision device at an IPv4 address directly (Aravis's ``GvDevice``), from the
local interface the operating system routes to it, so a mistyped address is an error,
not a broadcast.
"""

from __future__ import annotations

import functools
import importlib
import ipaddress
import socket
from types import ModuleType
from typing import Any

#: Aravis's GObject-introspection namespace version.
ARAVIS_VERSION = "0.8"
#: The GigE Vision control port (GVCP), fixed by the standard.
GVCP_PORT = 3956


class AravisUnavailable(ImportError):
    """Aravis or PyGObject is not installed."""


@functools.cache
def _load() -> tuple[ModuleType, ModuleType, ModuleType] | str:
    try:
        gi = importlib.import_module("gi")
    except ImportError:
        return "PyGObject is not installed (pip install 'hcs[genicam]')"
    try:
        gi.require_version("Aravis", ARAVIS_VERSION)
        aravis = importlib.import_module("gi.repository.Aravis")
        gio = importlib.import_module("gi.repository.Gio")
        glib = importlib.import_module("gi.repository.GLib")
    except (ImportError, ValueError) as exc:
        return (
            f"Aravis {ARAVIS_VERSION} is not installed (Debian: libaravis-0.8-0 "
            f"gir1.2-aravis-0.8): {exc}"
        )
    return aravis, gio, glib


def aravis_missing() -> str | None:
    """Why Aravis cannot be used here, or None when it can."""
    loaded = _load()
    return loaded if isinstance(loaded, str) else None


def load_aravis() -> ModuleType:
    """The ``Aravis`` introspection module.

    Raises:
        AravisUnavailable: naming what is missing.
    """
    return _modules()[0]


def _modules() -> tuple[ModuleType, ModuleType, ModuleType]:
    loaded = _load()
    if isinstance(loaded, str):
        raise AravisUnavailable(loaded)
    return loaded


def glib_error() -> type[Exception]:
    """The exception PyGObject raises for a failed Aravis call (``GLib.Error``)."""
    return _modules()[2].Error


def check_address(address: str) -> str:
    """An IPv4 address as a string.

    Raises:
        ValueError: when ``address`` is not an IPv4 address (a host name that does not
            resolve would make Aravis fall back to discovery, which broadcasts).
    """
    try:
        return str(ipaddress.IPv4Address(address))
    except ValueError:
        raise ValueError(
            f"camera address {address!r} is not an IPv4 address (e.g. 192.168.10.2)"
        ) from None


def local_address_for(address: str) -> str:
    """The address of the local interface the operating system routes ``address`` through.

    Connecting a UDP socket sends nothing; it only asks the kernel for a route.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect((address, GVCP_PORT))
        return str(probe.getsockname()[0])


def open_gige_camera(address: str) -> Any:
    """Open the GigE Vision camera at ``address`` (an ``Aravis.Camera``), without discovery.

    Raises:
        AravisUnavailable: when Aravis is missing.
        ValueError: when ``address`` is not an IPv4 address.
        ConnectionError: when no camera answers there.
    """
    aravis, gio, _ = _modules()
    device_ip = check_address(address)
    interface_ip = local_address_for(device_ip)
    try:
        device = aravis.GvDevice.new(
            gio.InetAddress.new_from_string(interface_ip),
            gio.InetAddress.new_from_string(device_ip),
        )
        return aravis.Camera.new_with_device(device)
    except glib_error() as exc:
        raise ConnectionError(
            f"no GigE Vision camera answers at {device_ip} (from {interface_ip}): {exc}"
        ) from None
