"""The MVP driver against the emulated chain over a real pseudo-terminal."""

from __future__ import annotations

import pytest

from hcs_devices.fluidics.errors import RefusedError, SilentDeviceError, ValveMoveError
from hcs_devices.fluidics.mvp.driver import MvpChainDriver
from hcs_devices.fluidics.mvp.emulator import MvpChainEmulator, ValveFault


def _ready(chain: MvpChainDriver) -> None:
    chain.auto_address()
    chain.discover()


def test_auto_address_counts_valves_when_chain_is_fresh(chain):
    assert chain.auto_address().valves_addressed == 3
    assert chain.auto_address().already_addressed


def test_discover_finds_valves_and_types_when_probing_until_silence(chain, chain_emulator):
    chain.auto_address()
    valves = chain.discover()
    assert [(v.address, v.n_ports) for v in valves] == [("a", 8), ("b", 6), ("c", 4)]
    assert b"dLXR" in chain_emulator.commands  # probed one past the end
    assert all(chain_emulator.valve(i).initialised for i in (1, 2, 3))


def test_move_to_takes_shortest_direction_and_confirms_when_moving(chain, chain_emulator):
    _ready(chain)
    chain.move_to(1, 7)  # from 1: 6 steps clockwise or 2 counter-clockwise
    chain.move_to(2, 3)
    assert b"aLP17R" in chain_emulator.commands
    assert b"bLP03R" in chain_emulator.commands
    assert chain_emulator.ports == [7, 3, 1]
    assert chain.port(1) == 7


def test_move_to_reports_busy_until_done_when_rotation_is_slow(chain_emulator, chain):
    _ready(chain)
    chain_emulator.speed_factor = 10.0  # 0.025 s per port
    chain.move_to(1, 5)
    polls = chain_emulator.commands.count(b"aF")
    assert polls >= 3  # answered '*' while turning
    assert chain_emulator.ports[0] == 5


def test_move_to_names_valve_and_ports_when_valve_is_stuck(chain, chain_emulator):
    _ready(chain)
    chain_emulator.set_fault(2, ValveFault.STUCK)
    with pytest.raises(ValveMoveError, match=r"valve 2 .*'b'.*asked port 4, found between ports"):
        chain.move_to(2, 4)
    assert "overload" in chain.status_text(2)


def test_move_to_raises_refused_when_valve_answers_nak(chain, chain_emulator):
    _ready(chain)
    chain_emulator.set_fault(3, ValveFault.NAK)
    with pytest.raises(RefusedError, match=r"valve 3 .* refused move to port 2 \(NAK\)"):
        chain.move_to(3, 2)


def test_move_to_raises_silent_when_valve_does_not_answer(chain, chain_emulator):
    _ready(chain)
    chain_emulator.set_fault(1, ValveFault.SILENT)
    with pytest.raises(SilentDeviceError, match=r"valve 1 .* no answer to port query"):
        chain.move_to(1, 2)


def test_move_to_refuses_port_beyond_valve_when_nothing_sent(chain, chain_emulator):
    _ready(chain)
    chain_emulator.clear_log()
    with pytest.raises(ValueError, match=r"port 5 is outside 1\.\.4"):
        chain.move_to(3, 5)
    assert chain_emulator.received == b""


def test_auto_address_raises_silent_when_chain_is_off(chain, chain_emulator):
    chain_emulator.chain_silent = True
    with pytest.raises(SilentDeviceError, match="no answer to auto-addressing"):
        chain.auto_address()


def test_emulator_moves_to_port_one_when_initialised():
    emulator = MvpChainEmulator((8,), speed_factor=1e6)
    emulator.receive(b"1a\r")
    emulator.receive(b"aLXR\r")
    assert emulator.valve(1).initialised and emulator.ports == [1]
