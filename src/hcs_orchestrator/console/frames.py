"""Preview frames for the browser: binned, scaled to 8 bits with contrast limits, JPEG."""

from __future__ import annotations

import base64
import io
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from hcs_devices.camera.preview import PreviewFrame

#: Longest edge of a frame sent to the browser (pixels); larger frames are binned.
MAX_EDGE_PX = 512
#: JPEG quality of the frames sent.
JPEG_QUALITY = 85


@dataclass(frozen=True)
class Contrast:
    """Display limits: pixel values at or below ``low`` are black, at or above ``high`` white.

    Both 0 means automatic (the 0.5th and 99.5th percentiles of each frame).
    """

    low: int = 0
    high: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.low <= 65535 and 0 <= self.high <= 65535):
            raise ValueError(f"contrast limits ({self.low}, {self.high}) must be within [0, 65535]")
        if self.high and self.low >= self.high:
            raise ValueError(f"contrast low {self.low} must be below high {self.high}")


def bin_to(pixels: np.ndarray, max_edge_px: int = MAX_EDGE_PX) -> np.ndarray:
    """Average ``k`` x ``k`` blocks so that the longest edge is at most ``max_edge_px``."""
    k = max(1, -(-max(pixels.shape) // max_edge_px))
    if k == 1:
        return pixels
    height, width = (pixels.shape[0] // k) * k, (pixels.shape[1] // k) * k
    blocks = pixels[:height, :width].reshape(height // k, k, width // k, k)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def to_8bit(pixels: np.ndarray, contrast: Contrast) -> tuple[np.ndarray, tuple[float, float]]:
    """Scale to 0-255 between the contrast limits; returns the image and the limits used."""
    if contrast.high:
        low, high = float(contrast.low), float(contrast.high)
    else:
        low, high = (float(v) for v in np.percentile(pixels[::4, ::4], (0.5, 99.5)))
        high = max(high, low + 1.0)
    scaled = (pixels.astype(np.float32) - low) * (255.0 / (high - low))
    return np.clip(scaled, 0, 255).astype(np.uint8), (low, high)


def encode(frame: PreviewFrame, contrast: Contrast) -> dict[str, object]:
    """The message a browser gets for one frame: metadata, limits and a base64 JPEG."""
    image, (low, high) = to_8bit(bin_to(frame.pixels), contrast)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=JPEG_QUALITY)
    return {
        "meta": frame.meta.as_dict(),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "source_shape": list(frame.pixels.shape),
        "contrast": [low, high],
        "jpeg": base64.b64encode(buffer.getvalue()).decode("ascii"),
    }


class SharedEncoder:
    """Encodes each frame once for every viewer asking for it with the same contrast.

    Viewers are handed the same frames by the preview tap; encoding is the costly part
    of serving them, so the last message is kept and given to the next viewer that asks
    for the same frame and limits.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[int, int, Contrast] | None = None
        self._message: dict[str, object] = {}
        self.encoded = 0

    def __call__(self, frame: PreviewFrame, contrast: Contrast) -> dict[str, object]:
        """The message for ``frame`` (encoded now, or by another viewer just before)."""
        key = (id(frame.pixels), frame.meta.seq, contrast)
        with self._lock:
            if key != self._key:
                self._message = encode(frame, contrast)
                self._key = key
                self.encoded += 1
            return self._message
