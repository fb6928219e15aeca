"""``live`` and ``snap``: live view steered through the RunEngine, and one picture.

``live`` switches the light on, starts the camera free-running for the preview tap
(nothing is written to disk, no run is opened) and then carries out the navigation
commands posted to a :class:`~hcs_devices.navigation.NavigationInbox` (move the stage,
change channel, exposure or intensity), each as ordinary plan messages, until it is
told to end. The inbox is read through ``wait_for`` messages, so the RunEngine stays
the only path to the hardware; a command that fails (a position outside the soft
limits) is reported to whoever posted it and live view goes on. Every way out stops the
camera and switches the light off.

``snap`` takes one image into a run of its own, with the light on only while it is
taken.
"""

# No postponed annotations: the queue server reads these plans' signatures as objects.
import math
from functools import partial
from typing import Any

import bluesky.plan_stubs as bps
import bluesky.plans as bp
from bluesky.preprocessors import finalize_wrapper
from bluesky.utils import Msg, MsgGenerator

from hcs_devices.config.models import MicroscopeConfig
from hcs_devices.microscope import Microscope
from hcs_devices.navigation import (
    Command,
    EndLive,
    MoveTo,
    NavigationInbox,
    Posted,
    SetChannel,
    SetExposure,
    SetIntensity,
)
from hcs_plans.stubs.channel import configure_channel
from hcs_plans.table import ChannelSetting

#: How long one ``wait_for`` on the inbox lasts before the plan checks in (seconds).
INBOX_POLL_S = 0.25


def check_command(config: MicroscopeConfig, command: Command) -> None:
    """Refuse a command the microscope cannot do, naming the field and the allowed range.

    Raises:
        ValueError: a position outside the soft limits, an intensity outside 0-100 %,
            an exposure outside the camera's range.
        KeyError: an unknown channel (the message lists the channels).
    """
    if isinstance(command, MoveTo):
        axes = (("x_um", command.x_um, config.stage.x), ("y_um", command.y_um, config.stage.y))
        if command.z_um is not None:
            axes += (("z_um", command.z_um, config.stage.z),)
        for name, value, axis in axes:
            if not (math.isfinite(value) and axis.low_limit_um <= value <= axis.high_limit_um):
                raise ValueError(
                    f"{name} {value} is outside the stage's soft limits "
                    f"[{axis.low_limit_um}, {axis.high_limit_um}] um"
                )
    elif isinstance(command, SetChannel):
        config.channel(command.name)
    elif isinstance(command, SetExposure):
        low, high = config.camera.min_exposure_ms, config.camera.max_exposure_ms
        if not (math.isfinite(command.exposure_ms) and low <= command.exposure_ms <= high):
            raise ValueError(
                f"exposure_ms {command.exposure_ms} is outside the camera's range "
                f"[{low}, {high}] ms"
            )
    elif isinstance(command, SetIntensity):
        value = command.intensity_percent
        if not (math.isfinite(value) and 0.0 <= value <= 100.0):
            raise ValueError(f"intensity_percent {value} is outside [0, 100] %")


def channel_setting(config: MicroscopeConfig, name: str) -> ChannelSetting:
    """The configured channel ``name`` as it is set up (its preset, no overrides)."""
    preset = config.channel(name)
    return ChannelSetting(
        name=preset.name,
        source=preset.source,
        intensity_percent=preset.intensity_percent,
        exposure_ms=preset.exposure_ms,
        filter_position=preset.filter_position,
        z_offset_um=preset.z_offset_um,
        do_stack=False,
        acquire_every=1,
    )


def apply_command(microscope: Microscope, command: Command) -> MsgGenerator[None]:
    """Carry a navigation command out (checked first; nothing moves if it is refused)."""
    check_command(microscope.config, command)
    if isinstance(command, MoveTo):
        stage = microscope.stage_
        targets: list[Any] = [stage.x, command.x_um, stage.y, command.y_um]
        if command.z_um is not None:
            targets += [stage.z, command.z_um]
        yield from bps.mv(*targets)
    elif isinstance(command, SetChannel):
        yield from configure_channel(microscope, channel_setting(microscope.config, command.name))
    elif isinstance(command, SetExposure):
        yield from bps.mv(microscope.camera.exposure_ms, command.exposure_ms)
    elif isinstance(command, SetIntensity):
        yield from bps.mv(microscope.illumination.intensity_percent, command.intensity_percent)


def live(
    microscope: Microscope,
    inbox: NavigationInbox,
    channel: str = "",
    exposure_ms: float = 0.0,
) -> MsgGenerator[int]:
    """Live view: the camera free-runs for viewers while posted commands steer it.

    Opens no run and writes no image: frames go to the camera's preview tap only.
    Ends when an :class:`~hcs_devices.navigation.EndLive` command is posted (or the
    RunEngine is stopped); the camera stops and the light goes off whatever way it ends.

    Args:
        microscope: the microscope.
        inbox: where navigation commands are posted.
        channel: a configured channel to set up first (the current set-up if empty).
        exposure_ms: exposure to start with (the current one if 0).

    Returns:
        The number of commands carried out.
    """
    camera = microscope.camera
    if channel:
        check_command(microscope.config, SetChannel(channel))
    if exposure_ms:
        check_command(microscope.config, SetExposure(exposure_ms))

    def body() -> MsgGenerator[int]:
        if channel:
            yield from apply_command(microscope, SetChannel(channel))
        if exposure_ms:
            yield from apply_command(microscope, SetExposure(exposure_ms))
        yield from bps.mv(microscope.illumination.on, True)
        yield from bps.mv(camera.live.enabled, True)
        done = 0
        while True:
            yield Msg("checkpoint")
            tasks = yield Msg("wait_for", None, [partial(inbox.next_command, INBOX_POLL_S)])
            posted: Posted | None = tasks[0].result()
            if posted is None:
                continue
            if isinstance(posted.command, EndLive):
                posted.done.set_result(None)
                return done
            try:
                yield from apply_command(microscope, posted.command)
            except Exception as exc:  # refused or failed: tell the client, stay live
                posted.done.set_exception(exc)
            else:
                posted.done.set_result(None)
                done += 1

    def stop() -> MsgGenerator[None]:
        yield Msg("stop", camera.live)
        yield from bps.mv(microscope.illumination.on, False)

    return (yield from finalize_wrapper(body(), stop()))


def snap(
    microscope: Microscope,
    channel: str = "",
    exposure_ms: float = 0.0,
    metadata: dict[str, Any] | None = None,
) -> MsgGenerator[str]:
    """Take one image into a run of its own (light on only while it is taken).

    Args:
        microscope: the microscope.
        channel: a configured channel to set up first (the current set-up if empty).
        exposure_ms: exposure (the current one if 0).
        metadata: extra start-document metadata.

    Returns:
        The run's uid.
    """
    if channel:
        check_command(microscope.config, SetChannel(channel))
    if exposure_ms:
        check_command(microscope.config, SetExposure(exposure_ms))
    if channel:
        yield from apply_command(microscope, SetChannel(channel))
    if exposure_ms:
        yield from apply_command(microscope, SetExposure(exposure_ms))
    md = {"plan_name": "snap", "plan_args": {"channel": channel, "exposure_ms": exposure_ms}}
    yield from bps.mv(microscope.illumination.on, True)
    uid = yield from finalize_wrapper(
        bp.count([microscope.camera], md=md | (metadata or {})),
        bps.mv(microscope.illumination.on, False),
    )
    return uid
