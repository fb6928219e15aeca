"""The live preview in napari, for those who prefer it (``pip install 'hcs[napari]'``).

Start the console with its frames in shared memory, then napari in another terminal::

    hcs console --shared-memory
    python -m hcs_orchestrator.viewers.napari_viewer            # the newest segment
    python -m hcs_orchestrator.viewers.napari_viewer SEGMENT    # or the one named

One image layer, ``live``, shows the newest frame; its title line (channel, exposure,
stage position) is the layer's metadata and the viewer's status. A Qt timer polls the
shared memory: napari never talks to the microscope, and the camera never waits for
napari. Steering (moves, channel, exposure) stays in the console or at the prompt.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

from hcs_orchestrator.viewers.shared_stream import SharedStream, frame_title

#: How often napari looks for a new frame (milliseconds).
POLL_MS = 30
#: The image layer's name.
LAYER = "live"


class NapariStream:
    """Shows a :class:`SharedStream` in a napari viewer's ``live`` layer.

    Args:
        viewer: the napari viewer.
        stream: the frames to show.
        poll_ms: how often to look for a new frame.
    """

    def __init__(self, viewer: Any, stream: SharedStream, poll_ms: int = POLL_MS) -> None:
        qt_core: Any = importlib.import_module("qtpy.QtCore")  # comes with napari

        self.viewer = viewer
        self.stream = stream
        self.layer: Any = None
        self.shown = 0
        self.timer: Any = qt_core.QTimer()
        self.timer.setInterval(poll_ms)
        self.timer.timeout.connect(self.update)
        self.timer.start()

    def update(self) -> bool:
        """Show the newest frame if a new one came; whether one did."""
        got = self.stream.poll()
        if got is None:
            return False
        pixels, meta = got
        title = frame_title(meta)
        if self.layer is None:
            self.layer = self.viewer.add_image(pixels, name=LAYER, metadata=meta.as_dict())
        else:
            self.layer.data = pixels
            self.layer.metadata = meta.as_dict()
        self.viewer.status = title
        self.viewer.title = f"hcs live: {title}"
        self.shown += 1
        return True

    def close(self) -> None:
        """Stop polling and unmap the segment."""
        self.timer.stop()
        self.stream.close()


def view(segment: str = "", poll_ms: int = POLL_MS, *, show: bool = True) -> NapariStream:
    """Open a napari viewer on a preview segment (the newest one if empty)."""
    napari: Any = importlib.import_module("napari")
    stream = SharedStream(segment)
    viewer = napari.Viewer(title=f"hcs live: {stream.segment}", show=show)
    return NapariStream(viewer, stream, poll_ms)


def main(argv: list[str] | None = None) -> int:
    """``python -m hcs_orchestrator.viewers.napari_viewer [SEGMENT]``."""
    args = sys.argv[1:] if argv is None else argv
    try:
        napari: Any = importlib.import_module("napari")
    except ImportError:
        print("error: napari is not installed: pip install 'hcs[napari]'", file=sys.stderr)
        return 2
    try:
        shown = view(args[0] if args else "")
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"showing {shown.stream.segment}; close the napari window to stop")
    napari.run()
    shown.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
