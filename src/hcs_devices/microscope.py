"""The microscope as one ophyd-async Device: its instrument's devices as children."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Protocol

from bluesky.protocols import Stageable
from bluesky.run_engine import call_in_bluesky_event_loop
from ophyd_async.core import AsyncStatus, Device

from hcs_devices.autofocus import LaserAutofocusSensor
from hcs_devices.camera.device import Camera
from hcs_devices.config.models import MicroscopeConfig
from hcs_devices.filterwheel import FilterWheel
from hcs_devices.fluidics import Fluidics
from hcs_devices.illumination import Illumination
from hcs_devices.ownership import HardwareOwner
from hcs_devices.stage import Stage


class Closeable(Protocol):
    """Something holding threads or ports."""

    def close(self) -> object:
        """Release them (may return an awaitable)."""
        ...


class Microscope(Device):
    """One microscope, its devices as typed children.

    The stage, light, filter wheel and camera, and where fitted the laser autofocus
    sensor and the fluidics.

    Plans take the microscope (or, through the queue server, its name) and reach every
    device as a child. Bluesky stages a device's root ancestor, so staging any of them
    stages the microscope, which makes its detectors ready (:meth:`stage`). ``stage``
    is that bluesky verb, so the XYZ stage is the child ``stage_`` (ophyd-async's
    spelling for a reserved name). Each child keeps
    its role's name (``camera``, ``stage``, ...) whatever the microscope is called, so
    a run's data keys do not depend on it. What backs each device (simulation, a Squid
    board, ...) is the backends' business: nothing here knows whether the hardware is
    real.

    Args:
        config: what the microscope was built from.
        owner: who may command the hardware now (a run, or anyone).
        stage: the XYZ stage (and piezo).
        illumination: the light sources.
        filter_wheel: the emission filter wheel.
        camera: the main camera.
        laser_autofocus: the laser reflection autofocus sensor, if fitted.
        fluidics: valves and pump, on a MERFISH rig.
        closers: what holds threads or ports besides the devices (released by
            :meth:`close`).
        name: the microscope's name.
    """

    def __init__(
        self,
        config: MicroscopeConfig,
        owner: HardwareOwner,
        *,
        stage: Stage,
        illumination: Illumination,
        filter_wheel: FilterWheel,
        camera: Camera,
        laser_autofocus: LaserAutofocusSensor | None = None,
        fluidics: Fluidics | None = None,
        closers: Iterable[Closeable] = (),
        name: str = "microscope",
    ) -> None:
        self.config = config
        self.owner = owner
        self._closers = list(closers)
        self.stage_ = stage
        self.illumination = illumination
        self.filter_wheel = filter_wheel
        self.camera = camera
        self.laser_autofocus = laser_autofocus
        self.fluidics = fluidics
        camera.frame_context = self.frame_context
        super().__init__(name=name)

    async def frame_context(self) -> tuple[str, tuple[float, float, float]]:
        """The channel set now and the stage's x, y, z (um): a previewed frame's metadata.

        The channel is the configured channel whose light source and emission filter
        are selected, else the light source's name.
        """
        stage = self.stage_
        x = await stage.x.user_readback.get_value()
        y = await stage.y.user_readback.get_value()
        z = await stage.z.user_readback.get_value()
        source = await self.illumination.source.get_value()
        position = await self.filter_wheel.position.get_value()
        channels = [
            c.name
            for c in self.config.channels
            if c.source == source and c.filter_position == position
        ]
        return (channels[0] if channels else source), (x, y, z)

    @AsyncStatus.wrap
    async def stage(self) -> None:
        """Make the detectors ready for a run (the camera idle, with no frame set open).

        The light, the stage and the fluidics are left as they are: they are a plan's
        to command (a snap after switching the light on is taken with the light on). A
        pause's hold on the light, left by a run aborted while paused, is released.
        """
        await self.illumination.resume()
        for device in self._detectors():
            await _staged(device)

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        """Stop the detectors and close their files, whatever way the run ended."""
        await self.illumination.resume()
        for device in self._detectors():
            await _unstaged(device)

    async def pause(self) -> None:
        """A paused run leaves the microscope dark, the camera stopped first.

        The camera stops before the light goes off, so no frame is exposed in the dark
        and kept (the RunEngine may also pause the camera itself, before or after: a
        second pause of the camera does nothing more).
        """
        await self.camera.pause()
        await self.illumination.pause()

    async def resume(self) -> None:
        """Let the camera acquire and the light be switched on again."""
        await self.camera.resume()
        await self.illumination.resume()

    def _detectors(self) -> list[Device]:
        sensors = [self.laser_autofocus] if self.laser_autofocus is not None else []
        return [self.camera, *sensors]

    def set_name(self, name: str, *, child_name_separator: str | None = None) -> None:
        """Name the microscope; its devices keep their role names (``camera``, ...)."""
        self._name = name
        if "log" in self.__dict__:
            del self.log
        for role, child in self.devices().items():
            child.set_name(role, child_name_separator=child_name_separator)

    def devices(self) -> dict[str, Device]:
        """The instrument's devices by role name (``stage``, ``camera``, ...)."""
        return {attr.rstrip("_"): child for attr, child in self.children()}

    async def safe_state(self) -> None:
        """Camera not acquiring, writers closed, light off, stage and pump stopped."""
        await self.camera.unstage()
        await self.illumination.all_off()
        await self.stage_.stop()
        if self.fluidics is not None:
            await self.fluidics.stop()

    def close(self) -> None:
        """Release what the backends hold (threads, ports), from outside the event loop."""
        call_in_bluesky_event_loop(self.aclose())

    async def aclose(self) -> None:
        """Release what the backends hold (threads, ports), on the RunEngine's loop."""
        await self.camera.live.halt()
        self.camera.preview.close()
        if self.fluidics is not None:
            await self.fluidics.close()
        for closer in self._closers:
            result = closer.close()
            if asyncio.iscoroutine(result):
                await result


async def _staged(device: Device) -> None:
    if isinstance(device, Stageable) and isinstance(status := device.stage(), AsyncStatus):
        await status


async def _unstaged(device: Device) -> None:
    if isinstance(device, Stageable) and isinstance(status := device.unstage(), AsyncStatus):
        await status
