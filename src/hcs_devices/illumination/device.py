"""Illumination: named sources (LED-matrix patterns, laser/LED ports), intensity, on/off."""

from __future__ import annotations

import asyncio

from ophyd_async.core import AsyncStatus, StandardReadable, StandardReadableFormat

from hcs_devices.connector import BackendConnector
from hcs_devices.illumination.backend import IlluminationBackend
from hcs_devices.memory_signals import memory_signal_rw
from hcs_devices.ownership import DEFAULT_OWNER, HardwareOwner


class Illumination(StandardReadable):
    """The microscope's light sources, addressed by the names in the configuration.

    Setting ``source`` or ``intensity_percent`` reconfigures the selected source;
    ``on`` switches it. Illumination is switched off at stage and unstage, so every
    run starts and ends dark.

    Args:
        backend: what drives the sources.
        sources: the names a source may take.
        owner: who may command the hardware now.
        name: device name.
    """

    def __init__(
        self,
        backend: IlluminationBackend,
        *,
        sources: list[str],
        owner: HardwareOwner = DEFAULT_OWNER,
        name: str = "",
    ) -> None:
        self.backend = backend
        self.sources = list(sources)
        self._owner = owner
        # What the backend was last told; source and intensity may be set together.
        self._selection: tuple[str, float] = (self.sources[0], 0.0)
        self._lock = asyncio.Lock()
        #: A paused run holds the light off: a switch-on sent before the pause is ignored.
        self._held = False
        with self.add_children_as_readables(StandardReadableFormat.CONFIG_SIGNAL):
            self.source = memory_signal_rw(str, self.sources[0], setter=self._set_source)
            self.intensity_percent = memory_signal_rw(
                float, 0.0, units="%", setter=self._set_intensity
            )
        with self.add_children_as_readables(StandardReadableFormat.HINTED_SIGNAL):
            self.on = memory_signal_rw(bool, False, setter=self._set_on)
        super().__init__(name=name, connector=BackendConnector(backend.connect))

    def _check(self, command: str) -> None:
        self._owner.check(self.name or "illumination", command)

    async def _set_source(self, value: str | None) -> None:
        self._check("source")
        if value not in self.sources:
            raise ValueError(f"{self.name}: unknown source {value!r}; sources are {self.sources}")
        assert value is not None
        async with self._lock:
            await self.backend.select(value, self._selection[1])
            self._selection = (value, self._selection[1])

    async def _set_intensity(self, value: float | None) -> None:
        self._check("intensity_percent")
        value = float(value or 0.0)
        if not 0.0 <= value <= 100.0:
            raise ValueError(f"{self.name}: intensity_percent {value} is outside [0, 100]")
        async with self._lock:
            await self.backend.select(self._selection[0], value)
            self._selection = (self._selection[0], value)

    async def _set_on(self, value: bool | None) -> None:
        value = bool(value)
        if value:  # switching off is always allowed: it is the safe state
            self._check("on")
        if value and self._held:
            return  # sent before a pause; the resumed run switches the light on again
        await self.backend.set_on(value)

    async def all_off(self) -> None:
        """Switch every source off (allowed at any time: it is the safe state)."""
        await self.backend.all_off()
        await self.on.set(False)

    @AsyncStatus.wrap
    async def stage(self) -> None:
        """Start every run dark."""
        await self.all_off()

    @AsyncStatus.wrap
    async def unstage(self) -> None:
        """End every run dark, whatever way it ends."""
        await self.all_off()

    async def pause(self) -> None:
        """A paused run is dark until it resumes (or its microscope is staged again).

        A switch-on the run sent just before the pause, still on its way, is ignored:
        the run switches the light on again where it needs it once it resumes.
        """
        self._held = True
        await self.all_off()

    async def resume(self) -> None:
        """Let the light be switched on again."""
        self._held = False
