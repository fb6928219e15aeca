"""The MVP codec: encoding, reply parsing, shortest direction; fuzzed parsers never crash."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hcs_devices.fluidics.errors import ProtocolError
from hcs_devices.fluidics.mvp import protocol as mvp


def test_encode_appends_cr_when_addressed():
    assert mvp.encode("b", "LQP") == b"bLQP\r"


def test_move_command_uses_direction_digit_when_encoding():
    assert mvp.move_command(3, mvp.Rotation.CLOCKWISE) == "LP03R"
    assert mvp.move_command(7, mvp.Rotation.COUNTER_CLOCKWISE) == "LP17R"


@pytest.mark.parametrize(
    ("current", "target", "n_ports", "expected"),
    [
        (1, 2, 8, mvp.Rotation.CLOCKWISE),
        (1, 8, 8, mvp.Rotation.COUNTER_CLOCKWISE),
        (2, 6, 8, mvp.Rotation.CLOCKWISE),  # tie: 4 steps either way
        (6, 1, 6, mvp.Rotation.CLOCKWISE),
        (3, 1, 6, mvp.Rotation.COUNTER_CLOCKWISE),
        (0, 5, 8, mvp.Rotation.CLOCKWISE),  # unknown start
    ],
)
def test_shortest_rotation_picks_fewer_steps_when_moving(current, target, n_ports, expected):
    assert mvp.shortest_rotation(current, target, n_ports) is expected


def test_parse_reply_returns_data_when_acknowledged():
    reply = mvp.parse_reply(b"aLQP\x063\r", b"aLQP")
    assert reply.acknowledged and reply.data == b"3"


def test_parse_reply_reports_nak_when_refused():
    assert not mvp.parse_reply(b"aLP03R\x15\r", b"aLP03R").acknowledged


@pytest.mark.parametrize(
    "raw",
    [b"aLQP\x063", b"bLQP\x063\r", b"aLQP\r", b"aLQPx3\r", b"aLQP\x15x\r", b"aLQP\x06\x063\r"],
)
def test_parse_reply_raises_protocol_error_when_malformed(raw):
    with pytest.raises(ProtocolError):
        mvp.parse_reply(raw, b"aLQP")


def test_parse_auto_address_counts_valves_when_chain_is_fresh():
    reply = mvp.parse_auto_address(b"1d\r")
    assert reply.valves_addressed == 3 and not reply.already_addressed


def test_parse_auto_address_reports_ack_when_chain_already_addressed():
    reply = mvp.parse_auto_address(b"1a\x06\r")
    assert reply.already_addressed and reply.valves_addressed is None


@pytest.mark.parametrize(("data", "ports"), [(b"2", 8), (b"3", 6), (b"4", 3), (b"5", 2), (b"7", 4)])
def test_parse_valve_type_maps_ports_when_type_known(data, ports):
    assert mvp.parse_valve_type(data) == ports


def test_valve_status_describes_flags_when_bits_set():
    status = mvp.ValveStatus(0x40 | mvp.STATUS_OVERLOAD | mvp.STATUS_BUSY, 0x40, 0x40)
    assert status.overload and status.busy and not status.not_initialised
    assert "overload" in status.describe()


_PARSERS = [
    lambda raw: mvp.parse_reply(raw, b"aLQP"),
    mvp.parse_auto_address,
    mvp.parse_port,
    mvp.parse_valve_type,
    mvp.parse_move_state,
    mvp.parse_yes_no,
    mvp.parse_status_byte,
]


@given(st.binary(max_size=40), st.sampled_from(range(len(_PARSERS))))
def test_mvp_parsers_raise_only_protocol_error_when_fed_random_bytes(raw, which):
    with contextlib.suppress(ProtocolError):
        _PARSERS[which](raw)


@given(st.binary(max_size=20))
def test_parse_reply_accepts_any_data_when_framed_as_ack(data):
    clean = bytes(b for b in data if b not in (mvp.ACK, mvp.NAK, mvp.CR))
    assert mvp.parse_reply(b"cF" + bytes([mvp.ACK]) + clean + b"\r", b"cF").data == clean
