"""What a MERFISH specimen costs the simulated camera, against a plain plate of cells.

Renders full 2048 x 2048 frames in each channel, stepping through a 3 x 3 grid of
fields in one well (as ``bench_specimen_render.py`` does), for two microscopes built
in the same run:

- plain: the shipped microscope (``src/hcs_orchestrator/data/microscope.yaml``): cells
  with the plain Cy3/Cy5 spots;
- MERFISH: ``profile/merfish/microscope.yaml`` after round 1's readout (RO-1) has
  bound: readout spots of bits 1 and 2, fiducial beads in GFP, the round's drift.

Prints frames/s for each and the ratio of times per frame, MERFISH / plain (1.00: no
extra cost), and the
one-off cost of generating a well's molecules and beads. Pinned to one CPU and one
thread, like the other render benchmark.

Run on demand::

    .venv/bin/python benchmarks/bench_merfish_render.py [--frames 20] [--cpu 0]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS"):
    os.environ[_var] = "1"

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_specimen_render import WELL, realistic_fps  # noqa: E402 - path set above
from hcs_devices.config import load_config  # noqa: E402
from hcs_devices.factory import build_microscope  # noqa: E402
from hcs_devices.sim.camera import SimFrameSource  # noqa: E402
from hcs_devices.sim.merfish import MerfishSpecimen  # noqa: E402
from hcs_orchestrator.paths import DEFAULT_CONFIG  # noqa: E402

MERFISH_PROFILE = Path(__file__).resolve().parents[1] / "profile" / "merfish" / "microscope.yaml"
#: Where RO-1's tube sits in the MERFISH profile's valve.
RO1 = ((1, 4),)


def _source(path: Path, data_dir: Path) -> SimFrameSource:
    source = build_microscope(load_config(path), data_dir=data_dir).camera.source
    assert isinstance(source, SimFrameSource)
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frames", type=int, default=20, help="frames per channel and specimen")
    parser.add_argument("--warmup", type=int, default=2, help="untimed frames first")
    parser.add_argument("--cpu", type=int, default=None, help="CPU to pin to")
    args = parser.parse_args(argv)
    cpu = args.cpu if args.cpu is not None else sorted(os.sched_getaffinity(0))[0]
    os.sched_setaffinity(0, {cpu})

    with tempfile.TemporaryDirectory() as tmp:
        plain = _source(DEFAULT_CONFIG, Path(tmp) / "plain")
        merfish = _source(MERFISH_PROFILE, Path(tmp) / "merfish")
        specimen = merfish.specimen
        assert isinstance(specimen, MerfishSpecimen)
        t0 = time.perf_counter()
        molecules = specimen.molecules_in(WELL)
        x, y = specimen.plate.well_center_um(WELL)
        specimen.beads_in(x, x + 1.0, y, y + 1.0)
        generate_s = time.perf_counter() - t0
        specimen.flow_cell.flowed(RO1, specimen.merfish.chamber_volume_ul)
        print(
            f"2048 x 2048 frames, well {WELL}, one core (CPU {cpu}); MERFISH after RO-1 "
            f"(round {specimen.flow_cell.chemistry.round}); {len(molecules):,} molecules "
            f"in {WELL}, generated with its beads in {generate_s:.2f} s"
        )
        header = ("channel", "plain fps", "MERFISH fps", "time MERFISH/plain")
        print("{:<8} {:>10} {:>12} {:>19}".format(*header))
        for channel in plain.config.channels:
            p = realistic_fps(plain, channel, args.frames, args.warmup)
            same = merfish.config.channel(channel.name)
            m = realistic_fps(merfish, same, args.frames, args.warmup)
            print(f"{channel.name:<8} {p:>10.1f} {m:>12.1f} {p / m:>19.2f}")
        plain.close()
        merfish.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
