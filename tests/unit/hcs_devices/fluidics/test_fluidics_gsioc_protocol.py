"""GSIOC framing and the Minipuls 3 codec; fuzzed parsers never crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcs_devices.fluidics.errors import FluidicsValueError, ProtocolError
from hcs_devices.fluidics.pump import gsioc, minipuls3
from hcs_devices.fluidics.pump.base import FlowDirection


def test_select_byte_sets_bit_seven_when_unit_is_default():
    assert gsioc.select_byte(30) == b"\x9e"


def test_encode_buffered_frames_with_lf_and_cr_when_sending():
    assert gsioc.encode_buffered("K>") == b"\nK>\r"


def test_decode_immediate_clears_bit_seven_of_last_byte_when_complete():
    assert gsioc.decode_immediate(b"+12.50" + bytes([ord("R") | 0x80])) == "+12.50R"


@pytest.mark.parametrize("raw", [b"", b"abc", b"\xc1\xc2", b"a\x01\xc2"])
def test_decode_immediate_raises_when_malformed(raw):
    with pytest.raises(ProtocolError):
        gsioc.decode_immediate(raw)


@pytest.mark.parametrize(("rpm", "command"), [(0, "R0000"), (12.5, "R1250"), (48, "R4800")])
def test_speed_command_encodes_hundredths_when_in_range(rpm, command):
    assert minipuls3.speed_command(rpm) == command


@pytest.mark.parametrize("rpm", [-1, 48.01, 100])
def test_speed_command_names_range_when_out_of_range(rpm):
    with pytest.raises(FluidicsValueError, match=r"speed_rpm .* outside 0\.\.48"):
        minipuls3.speed_command(rpm)


def test_parse_display_reads_direction_speed_and_mode_when_running():
    status = minipuls3.parse_display("-07.25R")
    assert status.running and status.direction is FlowDirection.REVERSE
    assert status.speed_rpm == pytest.approx(7.25) and status.remote


def test_parse_display_reports_stopped_when_direction_blank():
    status = minipuls3.parse_display(" 00.00K")
    assert not status.running and not status.remote


@given(st.binary(max_size=40))
def test_decode_immediate_raises_only_protocol_error_when_fed_random_bytes(raw):
    with contextlib.suppress(ProtocolError):
        gsioc.decode_immediate(raw)


@given(st.text(max_size=20))
def test_parse_display_raises_only_protocol_error_when_fed_random_text(text):
    with contextlib.suppress(ProtocolError):
        minipuls3.parse_display(text)


@given(st.binary(max_size=20))
def test_display_pipeline_raises_only_protocol_error_when_fed_random_bytes(raw):
    with contextlib.suppress(ProtocolError):
        minipuls3.parse_display(gsioc.decode_immediate(raw))
