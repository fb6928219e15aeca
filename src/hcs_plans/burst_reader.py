"""Read a burst's frames back one event at a time.

A hardware-timed burst writes N frames before the plan emits anything. To give every
frame its own event (with its well, z and channel), each event reads this adapter
instead of the camera: it describes the camera's image, reads nothing itself, and
announces exactly one more frame (one StreamDatum index) per event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from bluesky.protocols import StreamAsset
from event_model import DataKey
from ophyd_async.core import StandardDetector


class BurstFrames:
    """The camera's frames, one per event.

    Args:
        camera: the detector that wrote the burst.
    """

    def __init__(self, camera: StandardDetector) -> None:
        self.camera = camera
        self.parent = None
        self.announced = 0

    @property
    def name(self) -> str:
        """The camera's name (so data keys match the camera's)."""
        return self.camera.name

    async def describe(self) -> dict[str, DataKey]:
        """The camera's image data key."""
        return await self.camera.describe()

    async def read(self) -> dict[str, Any]:
        """Nothing: the image is an external asset announced by StreamDatum."""
        return {}

    async def describe_configuration(self) -> dict[str, DataKey]:
        """The camera's configuration keys."""
        return await self.camera.describe_configuration()

    async def read_configuration(self) -> dict[str, Any]:
        """The camera's configuration."""
        return await self.camera.read_configuration()

    async def collect_asset_docs(self, index: int | None = None) -> AsyncIterator[StreamAsset]:
        """Announce the next frame only."""
        self.announced += 1
        async for doc in self.camera.collect_asset_docs(self.announced):
            yield doc
