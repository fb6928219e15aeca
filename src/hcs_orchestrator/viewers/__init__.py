"""Viewers of the preview stream outside the browser (napari), reading shared memory."""
