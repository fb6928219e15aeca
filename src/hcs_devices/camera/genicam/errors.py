"""Errors of a GenICam camera, each naming the camera and the frame."""

from __future__ import annotations


class GenicamError(RuntimeError):
    """A GenICam camera failed: a frame incomplete or late, or the camera gone."""


class FrameIncomplete(GenicamError):
    """A frame arrived with packets missing or otherwise damaged (it is not recorded)."""


class FrameTimeout(GenicamError):
    """A frame did not arrive in time."""


class CameraVanished(GenicamError):
    """The camera stopped answering on its control channel."""
