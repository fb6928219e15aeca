"""Decoding QC: its cost per field, and acquisition's per-image time with it on and off.

Run as a script: ``.venv/bin/python benchmarks/bench_merfish_qc.py``.

1. QC cost per field: the QC of one field of view (every round checked against round
   1's beads, then decoded) on synthetic 4-round fields of known truth (the test
   fields), at 256 x 256 px per image and at 1024 x 1024 (the same molecules on a
   larger field), with recovery and blank rate printed so the figure is for a QC that
   works. Peer: reading the field's images alone (the part no QC can avoid).
2. Acquisition per-image time: a real session (simulated microscope at configured
   speeds, 256 x 256 frames, embedded catalog) acquires 4 "rounds" of 4 fields x
   3 channels (Cy3, Cy5, GFP beads) x 2 z planes, alternately without and with the
   QC callback subscribed. The plate runs carry no MERFISH rows, so a thin rewriter in
   front of the callback gives each image its round and bit (Cy3/Cy5 -> the round's
   bits, GFP -> fiducial): the QC then reads and checks every round while the next
   one is acquired. Target: with QC within 5 % of without. The QC's lag (time from
   the last image to its last result) is printed too. Medians of ``--repeats``
   alternations; the machine is shared, so read the spread.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import tifffile

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "integration")]

from plate_harness import fast_config  # noqa: E402
from storage_support import plate_sequence, storage_session  # noqa: E402

import merfish_synthetic as synthetic  # noqa: E402
from hcs_devices.config import load_config  # noqa: E402
from hcs_orchestrator.merfish.qc import (  # noqa: E402
    DecodingQc,
    RoundImages,
    decode_field,
    round_qc,
)
from hcs_plans.acquire import acquire_plate  # noqa: E402
from hcs_plans.specs import spec_from_data  # noqa: E402
from hcs_schema import FIDUCIAL_BIT, MERFISH_KEY, frame_key  # noqa: E402
from merfish_synthetic import N_ROUNDS, bits_of_round, example_codebook, make_field  # noqa: E402


def field_cost(shape: tuple[int, int], n_fields: int) -> None:
    """Print the QC's seconds per field at one image size, and its peer."""
    synthetic.SHAPE = shape
    scale = shape[0] * shape[1] / 256**2
    qc_s, read_s, recovery, blanks = [], [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(n_fields):
            field = make_field(seed, n_molecules=int(150 * scale), n_beads=int(40 * scale))
            paths = {}
            for r in range(1, N_ROUNDS + 1):
                for name, image in (*field.bit_images[r].items(), ("bead", field.fiducials[r])):
                    paths[(r, name)] = Path(tmp) / f"{seed}-{r}-{name}.tif"
                    tifffile.imwrite(paths[(r, name)], image)
            t0 = time.perf_counter()
            for p in paths.values():
                tifffile.imread(p)
            read_s.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            reference = tifffile.imread(paths[(1, "bead")])
            rounds = {}
            for r in range(1, N_ROUNDS + 1):
                bits = {b: tifffile.imread(paths[(r, b)]) for b in bits_of_round(r)}
                images = RoundImages(r, bits, tifffile.imread(paths[(r, "bead")]))
                rounds[r] = round_qc(images, reference)
            result = decode_field(
                rounds, example_codebook(), truth=(field.positions, field.entries)
            )
            qc_s.append(time.perf_counter() - t0)
            recovery.append(result.recovery_rate or 0.0)
            blanks.append(result.blank_rate)
    synthetic.SHAPE = (256, 256)
    qc, read = statistics.median(qc_s), statistics.median(read_s)
    print(
        f"{shape[0]} x {shape[1]} px, {int(150 * scale)} molecules: QC per field "
        f"{qc * 1e3:.1f} ms (read alone {read * 1e3:.1f} ms, QC / read {qc / read:.1f}); "
        f"recovery min {min(recovery):.1%}, blank rate max {max(blanks):.1%}"
    )


class RoundRows:
    """Gives a plate run's images a MERFISH round and bit (Cy3/Cy5 bits, GFP beads)."""

    def __init__(self, target: DecodingQc) -> None:
        self.target = target
        self.round = 1

    def __call__(self, name: str, doc: dict[str, Any]) -> None:
        if name in ("event", "event_page") and frame_key("channel") in doc["data"]:
            data = dict(doc["data"])
            bits: dict[str, str] = dict(zip(("Cy3", "Cy5"), bits_of_round(self.round), strict=True))
            bits["GFP"] = FIDUCIAL_BIT
            channel = data[frame_key("channel")]
            if name == "event":
                data[frame_key("round")] = self.round
                data[frame_key("bit")] = bits[channel]
            else:
                data[frame_key("round")] = [self.round] * len(channel)
                data[frame_key("bit")] = [bits[c] for c in channel]
            doc = {**doc, "data": data}
        self.target(name, doc)


SEQUENCE = {
    **plate_sequence([[1], [1]], rows=2, columns=2),
    "channels": [{"config": c, "exposure": 20.0} for c in ("Cy3", "Cy5", "GFP")],
    "z_plan": {"range": 1.0, "step": 1.0},
}


def acquisition(repeats: int) -> None:
    """Print per-image time without and with the QC callback, and their ratio."""
    config = fast_config(
        load_config(ROOT / "src" / "hcs_orchestrator" / "data" / "microscope.yaml")
    )
    spec = spec_from_data({"sequence": SEQUENCE, "hardware_sequencing": False})
    images = len(list(spec.sequence))
    figures: dict[str, list[float]] = {"off": [], "on": []}
    lags: list[float] = []
    checked = 0
    with tempfile.TemporaryDirectory() as tmp, storage_session(config, Path(tmp)) as h:

        def rounds(rows: RoundRows | None) -> float:
            t0 = time.perf_counter()
            for r in range(1, N_ROUNDS + 1):
                if rows is not None:
                    rows.round = r
                md = {MERFISH_KEY: {"protocol_hash": "bench", "round": r, "unit": f"r{r}"}}
                h.RE(acquire_plate(h.microscope, spec, metadata=md))
            return (time.perf_counter() - t0) / (images * N_ROUNDS)

        rounds(None)  # warm up
        for _ in range(repeats):
            figures["off"].append(rounds(None))
            qc = DecodingQc(example_codebook(), h.session.storage)
            rows = RoundRows(qc)
            token = h.RE.subscribe(rows)
            figures["on"].append(rounds(rows))
            h.RE.unsubscribe(token)
            t0 = time.perf_counter()
            qc.close(600.0)
            lags.append(time.perf_counter() - t0)
            checked += sum(1 for _ in qc.qc_runs)
            assert qc.failures == 0 and qc.dropped == 0
    med = {k: statistics.median(v) for k, v in figures.items()}
    for key, values in figures.items():
        print(
            f"QC {key:3}: per image median {med[key] * 1e3:7.2f} ms "
            f"(runs: {', '.join(f'{v * 1e3:.2f}' for v in values)})"
        )
    print(f"QC on / off: {med['on'] / med['off']:.3f} (target <= 1.05)")
    print(
        f"QC lag after the last image: median {statistics.median(lags):.2f} s; "
        f"{checked} QC runs written ({images} images per round, {N_ROUNDS} rounds)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fields", type=int, default=5)
    parser.add_argument("--acquisition-only", action="store_true", help="skip the QC cost")
    args = parser.parse_args()
    # The plate specimen shows the same cells in every round: the QC rightly warns of
    # that for every field; the warnings are not the figures.
    logging.getLogger("hcs_orchestrator.merfish.qc").setLevel(logging.ERROR)
    if not args.acquisition_only:
        print("== QC cost per field (4 rounds x 2 bits + beads, decoded)")
        field_cost((256, 256), args.fields)
        field_cost((1024, 1024), max(1, args.fields // 2))
    print("== acquisition per image, QC callback off / on")
    acquisition(args.repeats)


if __name__ == "__main__":
    main()
