"""Squid driver figures: command round-trip latency and status-stream parse cost.

Run as a script: ``.venv/bin/python benchmarks/bench_squid_latency.py``. The round trip
is a command through the async API, the driver's writer thread and a real
pseudo-terminal to the emulator and back. The board answers only in its next periodic
status packet, so the peer figure is the 10 ms status period: back-to-back commands
lock onto it (one command per period); a command sent at a random moment waits half
a period on average.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time

from hcs_devices.squid.config import SquidConfig
from hcs_devices.squid.driver import SquidDriver
from hcs_devices.squid.emulator import EmulatedSquid
from hcs_devices.squid.protocol import Axis, Opcode, Status, StatusStreamParser

STATUS_PERIOD_S = 0.010


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def round_trips(
    count: int, status_period_s: float
) -> tuple[list[float], list[float], list[float]]:
    with EmulatedSquid(status_period_s=status_period_s, speed_factor=1.0) as board:
        config = SquidConfig(port=board.path, reset_settle_s=0.05, home_on_connect=())
        driver = SquidDriver(config)
        try:
            await driver.connect()
            heartbeats: list[float] = []
            for _ in range(count):
                start = time.perf_counter()
                await driver.execute(Opcode.HEARTBEAT)
                heartbeats.append(time.perf_counter() - start)
            random_phase: list[float] = []  # commands sent at a random time in the period
            rng = random.Random(1)
            for _ in range(count):
                await asyncio.sleep(rng.uniform(0.0, status_period_s))
                start = time.perf_counter()
                await driver.execute(Opcode.HEARTBEAT)
                random_phase.append(time.perf_counter() - start)
            moves: list[float] = []  # 1-microstep moves: motion time ~0, all protocol
            for i in range(count // 3):
                start = time.perf_counter()
                await driver.move_to_usteps(Axis.X, (i % 2) + 1)
                moves.append(time.perf_counter() - start)
        finally:
            await driver.close()
    return heartbeats, random_phase, moves


def parse_cost(packets: int) -> float:
    """Seconds per status packet fed one packet at a time, as they arrive."""
    stream = [Status(i % 256, i % 2, i, -i, 3 * i).encode() for i in range(packets)]
    parser = StatusStreamParser()
    start = time.perf_counter()
    for chunk in stream:
        parser.feed(chunk)
    elapsed = time.perf_counter() - start
    assert parser.packets == packets
    return elapsed / packets


def resync_cost(packets: int) -> float:
    """Seconds per packet when every packet is preceded by 7 bytes of garbage."""
    junk = b"\xa5\x00\xff\x13\x37\x42\x99"
    stream = b"".join(junk + Status(i % 256, 0, i, 0, 0).encode() for i in range(packets))
    parser = StatusStreamParser("strict")
    start = time.perf_counter()
    for i in range(0, len(stream), 31):
        parser.feed(stream[i : i + 31])
    elapsed = time.perf_counter() - start
    return elapsed / packets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=300, help="round trips to time")
    args = parser.parse_args()

    print(f"Squid driver benchmark ({args.count} round trips, emulator on a pty)")
    for period in (STATUS_PERIOD_S, 0.001):
        heartbeats, random_phase, moves = asyncio.run(round_trips(args.count, period))
        for label, values in (
            ("HEARTBEAT back-to-back", heartbeats),
            ("HEARTBEAT random phase", random_phase),
            ("MOVETO 1 ustep", moves),
        ):
            median = statistics.median(values)
            p95 = _percentile(values, 0.95)
            print(
                f"  status period {period * 1e3:4.1f} ms, {label:22s}: "
                f"median {median * 1e3:6.2f} ms, p95 {p95 * 1e3:6.2f} ms "
                f"(median / status period = {median / period:4.2f})"
            )
    per_packet = parse_cost(20_000)
    print(
        f"  status parse, clean stream : {per_packet * 1e6:6.2f} us/packet "
        f"= {per_packet / STATUS_PERIOD_S * 100:.3f} % of the 10 ms status period"
    )
    per_packet = resync_cost(20_000)
    print(
        f"  status parse, 7 junk bytes before every packet: {per_packet * 1e6:6.2f} us/packet "
        f"= {per_packet / STATUS_PERIOD_S * 100:.3f} % of the 10 ms status period"
    )


if __name__ == "__main__":
    main()
