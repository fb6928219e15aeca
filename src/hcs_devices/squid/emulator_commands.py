"""The emulated Squid board's command handlers: one function per opcode (not motion).

:data:`HANDLERS` maps an opcode to the function that applies it to a
:class:`~hcs_devices.squid.emulator_board.SquidEmulator`; moves are handled by the board.
A handler may set the board's command status (execution error).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hcs_devices.squid.emulator_state import (
    N_PORTS,
    PORT_OF_SOURCE,
    WATCHDOG_DEFAULT_MS,
    WATCHDOG_MAX_MS,
)
from hcs_devices.squid.protocol import (
    Axis,
    Command,
    CommandStatus,
    Opcode,
    read_uint16,
    read_uint32,
)

if TYPE_CHECKING:
    from hcs_devices.squid.emulator_board import SquidEmulator


def _h_home(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._home_or_zero(c, now)


def _h_set_lim(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_lim(c)


def _h_illum_on(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_illumination_on(True)


def _h_illum_off(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._set_illumination_on(False)


def _h_set_illumination(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.illumination_source = c.payload[0]
    emu.illumination_intensity = read_uint16(c.payload, 1)
    port = PORT_OF_SOURCE.get(c.payload[0])
    if port is not None:
        emu.port_intensity[port] = emu.illumination_intensity


def _h_led_matrix(emu: SquidEmulator, c: Command, now: float) -> None:
    pattern, g, r, b = c.payload[0], c.payload[1], c.payload[2], c.payload[3]
    emu.illumination_source = pattern
    emu.led_matrix = (pattern, r, g, b)


def _h_ack_button(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.button_pressed = False


def _h_dac(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0]
    if channel >= len(emu.dac):
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.dac[channel] = read_uint16(c.payload, 1)


def _h_intensity_factor(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.intensity_factor_percent = min(100, c.payload[0])


def _h_init_w(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._init_wheel(Axis.W, now)


def _h_init_w2(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._init_wheel(Axis.W2, now)


def _h_polarity(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.limit_switch_polarity = c.payload[1]


def _h_driver(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        micro = c.payload[1]
        a.microstepping = 256 if micro > 128 or micro == 0 else micro
        a.rms_current_ma = read_uint16(c.payload, 2)


def _h_velocity(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        v = read_uint16(c.payload, 1) / 100.0
        acc = read_uint16(c.payload, 3) / 10.0
        if v <= 0 or acc <= 0:
            emu._status = int(CommandStatus.EXECUTION_ERROR)
            return
        a.vmax_mm_s, a.amax_mm_s2 = v, acc


def _h_pitch(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        pitch = read_uint16(c.payload, 1) / 1000.0
        if pitch <= 0:
            emu._status = int(CommandStatus.EXECUTION_ERROR)
            return
        a.pitch_mm = pitch


def _h_margin(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.home_safety_margin_um = read_uint16(c.payload, 1)


def _h_trigger(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0] & 0x7F
    if channel > 3:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.trigger.counts[channel] += 1
    emu.trigger.last_control_illumination = bool(c.payload[0] & 0x80)
    emu.trigger.last_on_time_us = read_uint32(c.payload, 1)
    emu._pulse(channel, now)


def _h_strobe(emu: SquidEmulator, c: Command, now: float) -> None:
    channel = c.payload[0]
    if channel > 3:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return
    emu.trigger.strobe_delay_us[channel] = read_uint32(c.payload, 1)


def _h_enable(emu: SquidEmulator, c: Command, now: float) -> None:
    a = emu._axis_of(c)
    if a is not None:
        a.enabled = bool(c.payload[1])


def _h_trigger_mode(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.trigger.mode = c.payload[0]


def _port(emu: SquidEmulator, c: Command) -> int | None:
    port = c.payload[0]
    if port >= N_PORTS:
        emu._status = int(CommandStatus.EXECUTION_ERROR)
        return None
    return port


def _h_port_intensity(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_intensity[port] = read_uint16(c.payload, 1)


def _h_port_on(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_on[port] = True


def _h_port_off(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_on[port] = False


def _h_port_illumination(emu: SquidEmulator, c: Command, now: float) -> None:
    port = _port(emu, c)
    if port is not None:
        emu.port_intensity[port] = read_uint16(c.payload, 1)
        emu.port_on[port] = bool(c.payload[3])


def _h_multi_port(emu: SquidEmulator, c: Command, now: float) -> None:
    mask = read_uint16(c.payload, 0)
    on = read_uint16(c.payload, 2)
    for port in range(N_PORTS):
        if mask >> port & 1:
            emu.port_on[port] = bool(on >> port & 1)


def _h_all_ports_off(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.port_on = [False] * N_PORTS
    if emu.illumination_source in PORT_OF_SOURCE:
        emu.illumination_on = False


def _h_watchdog(emu: SquidEmulator, c: Command, now: float) -> None:
    ms = read_uint32(c.payload, 0)
    if ms == 0:
        ms = WATCHDOG_DEFAULT_MS
    emu.watchdog_timeout_s = min(ms, WATCHDOG_MAX_MS) / 1000.0


def _h_pin(emu: SquidEmulator, c: Command, now: float) -> None:
    emu.pin_levels[c.payload[0]] = c.payload[1]


def _h_initialize(emu: SquidEmulator, c: Command, now: float) -> None:
    emu._reset_hardware()
    emu.dac = [0] * 8


def _h_reset(emu: SquidEmulator, c: Command, now: float) -> None:
    for a in emu._axes.values():
        if a.motion is not None:
            a.position = float(round(a.position_at(now, emu.speed_factor)))
            a.motion = None
    emu._command_id = 0
    emu._command_axes = ()


def _h_nothing(emu: SquidEmulator, c: Command, now: float) -> None:
    return None


HANDLERS: dict[Opcode, Callable[[SquidEmulator, Command, float], None]] = {
    Opcode.HOME_OR_ZERO: _h_home,
    Opcode.SET_LIM: _h_set_lim,
    Opcode.TURN_ON_ILLUMINATION: _h_illum_on,
    Opcode.TURN_OFF_ILLUMINATION: _h_illum_off,
    Opcode.SET_ILLUMINATION: _h_set_illumination,
    Opcode.SET_ILLUMINATION_LED_MATRIX: _h_led_matrix,
    Opcode.ACK_JOYSTICK_BUTTON_PRESSED: _h_ack_button,
    Opcode.ANALOG_WRITE_ONBOARD_DAC: _h_dac,
    Opcode.SET_ILLUMINATION_INTENSITY_FACTOR: _h_intensity_factor,
    Opcode.SET_LIM_SWITCH_POLARITY: _h_polarity,
    Opcode.CONFIGURE_STEPPER_DRIVER: _h_driver,
    Opcode.SET_MAX_VELOCITY_ACCELERATION: _h_velocity,
    Opcode.SET_LEAD_SCREW_PITCH: _h_pitch,
    Opcode.SET_HOME_SAFETY_MARGIN: _h_margin,
    Opcode.SEND_HARDWARE_TRIGGER: _h_trigger,
    Opcode.SET_STROBE_DELAY: _h_strobe,
    Opcode.SET_AXIS_DISABLE_ENABLE: _h_enable,
    Opcode.SET_TRIGGER_MODE: _h_trigger_mode,
    Opcode.SET_PORT_INTENSITY: _h_port_intensity,
    Opcode.TURN_ON_PORT: _h_port_on,
    Opcode.TURN_OFF_PORT: _h_port_off,
    Opcode.SET_PORT_ILLUMINATION: _h_port_illumination,
    Opcode.SET_MULTI_PORT_MASK: _h_multi_port,
    Opcode.TURN_OFF_ALL_PORTS: _h_all_ports_off,
    Opcode.SET_WATCHDOG_TIMEOUT: _h_watchdog,
    Opcode.SET_PIN_LEVEL: _h_pin,
    Opcode.HEARTBEAT: _h_nothing,
    Opcode.INITFILTERWHEEL: _h_init_w,
    Opcode.INITFILTERWHEEL_W2: _h_init_w2,
    Opcode.INITIALIZE: _h_initialize,
    Opcode.RESET: _h_reset,
}
