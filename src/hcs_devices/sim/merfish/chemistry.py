"""The flow cell over a MERFISH sample: what flowed, which readout probes are bound.

The simulated pump tells the flow cell each volume it delivers and the valve path it
came through (:meth:`FlowCell.flowed`). The rules:

- the tube at that path is the one whose ``valve:port`` pairs all match the chain (the
  longest such path if several do); a path with no listed tube holds buffer;
- a tube acts once ``chamber_volume_ul`` of it has flowed in one go (flows of the same
  tube add up until another tube flows): probes bind, a cleave removes every bound
  readout's dye; buffer changes nothing;
- bound probes stay until a cleave; probes bound over others add to them;
- each binding of probes starts a new *round*: the sample drifts by a seeded random
  step (see :class:`Drift`).

The flow cell is written from the event loop and read by the render thread: each
change publishes a new frozen :class:`Chemistry`, read without a lock.

A real sample does not forget what flowed when the software crashes, so neither does
this one: given a state file, the flow cell writes its state there after every change
(write to a temporary file, then rename: a killed process leaves the old state or the
new one, never half of one) and starts from it when built again. A fresh sample is a
new data directory (or the file deleted).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, cast, get_args

import numpy as np

from hcs_devices.config.merfish import Dye, TubeContent, ValvePath

#: Volumes this close below the chamber volume count as the chamber volume (float sums).
VOLUME_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Chemistry:
    """The flow cell at one moment.

    Attributes:
        bound: bit name -> dye of every readout probe bound now, sorted by bit.
        round: readout bindings so far (0 before the first).
    """

    bound: tuple[tuple[str, Dye], ...] = ()
    round: int = 0

    def bits_with(self, dye: Dye) -> frozenset[str]:
        """The bound bits whose probes carry ``dye``."""
        return frozenset(bit for bit, d in self.bound if d == dye)


@dataclass(frozen=True)
class FlowEvent:
    """Something the chemistry did: ``bind`` (with the bits) or ``cleave``."""

    kind: str
    tube: ValvePath
    bits: tuple[str, ...] = ()


class Drift:
    """Seeded stage drift: round ``r``'s offset is the sum of ``r`` random steps.

    Args:
        seed: the specimen's seed.
        rms_um: rms of each step, per axis.
    """

    def __init__(self, seed: int, rms_um: float) -> None:
        self.seed = seed
        self.rms_um = rms_um
        self.offset_um = lru_cache(maxsize=256)(self._offset_um)

    def _offset_um(self, round_: int) -> tuple[float, float]:
        """Where the sample is in round ``round_`` relative to round 0, (x, y) um."""
        if round_ <= 0 or self.rms_um == 0.0:
            return (0.0, 0.0)
        steps = np.array(
            [
                np.random.default_rng([self.seed, 0x44524654, k]).normal(0.0, self.rms_um, 2)
                for k in range(1, round_ + 1)
            ]
        )
        dx, dy = steps.sum(axis=0)
        return (float(dx), float(dy))


class FlowCell:
    """The chamber over the sample, fed by the simulated fluidics.

    Args:
        tubes: what is in each tube, keyed by valve path.
        chamber_volume_ul: volume of a tube that must flow for it to act.
        state_file: where the state survives the process (None: it does not).

    Raises:
        ValueError: the state file is not one this flow cell wrote (names the file).
    """

    def __init__(
        self,
        tubes: Mapping[ValvePath, TubeContent],
        chamber_volume_ul: float,
        state_file: Path | None = None,
    ) -> None:
        self.tubes = dict(tubes)
        self.chamber_volume_ul = chamber_volume_ul
        self.state_file = state_file
        self._lock = threading.Lock()
        self._chemistry = Chemistry()
        self._tube: ValvePath | None = None
        self._run_ul = 0.0
        self._acted = False
        #: what the chemistry did, in order (in this process).
        self.events: list[FlowEvent] = []
        #: volume delivered per valve path (as reported), uL.
        self.delivered_ul: dict[ValvePath, float] = {}
        if state_file is not None and state_file.exists():
            self._load(state_file)

    @property
    def chemistry(self) -> Chemistry:
        """The flow cell now."""
        return self._chemistry

    def tube_at(self, path: ValvePath) -> ValvePath:
        """The tube a valve chain at ``path`` draws from (``path`` itself for buffer)."""
        ports = dict(path)
        matches = [t for t in self.tubes if all(ports.get(v) == p for v, p in t)]
        return max(matches, key=len) if matches else path

    def flowed(self, path: ValvePath, volume_ul: float) -> None:
        """``volume_ul`` has left the pump towards the sample through ``path``."""
        if volume_ul <= 0.0:
            return
        with self._lock:
            self.delivered_ul[path] = self.delivered_ul.get(path, 0.0) + volume_ul
            tube = self.tube_at(path)
            if tube != self._tube:
                self._tube, self._run_ul, self._acted = tube, 0.0, False
            self._run_ul += volume_ul
            needed = self.chamber_volume_ul * (1.0 - VOLUME_TOLERANCE)
            if not self._acted and self._run_ul >= needed:
                self._acted = True
                content = self.tubes.get(tube)
                if content is not None:
                    self._act(tube, content)
            self._save()

    def _act(self, tube: ValvePath, content: TubeContent) -> None:
        now = self._chemistry
        if content.cleaves:
            self.events.append(FlowEvent("cleave", tube))
            self._chemistry = Chemistry((), now.round)
        elif content.probes:
            bound = dict(now.bound) | dict(content.probes)
            self.events.append(FlowEvent("bind", tube, tuple(sorted(content.probes))))
            self._chemistry = Chemistry(tuple(sorted(bound.items())), now.round + 1)

    # --- surviving the process ----------------------------------------------------
    def _save(self) -> None:
        if self.state_file is None:
            return
        state = {
            "bound": [list(pair) for pair in self._chemistry.bound],
            "round": self._chemistry.round,
            "tube": None if self._tube is None else [list(p) for p in self._tube],
            "run_ul": self._run_ul,
            "acted": self._acted,
            "delivered_ul": [
                [[list(p) for p in path], ul] for path, ul in self.delivered_ul.items()
            ],
        }
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        partial = self.state_file.with_name(self.state_file.name + ".partial")
        partial.write_text(json.dumps(state))
        os.replace(partial, self.state_file)

    def _load(self, path: Path) -> None:
        try:
            state = cast(dict[str, Any], json.loads(path.read_text()))
            bound: tuple[tuple[str, Dye], ...] = tuple(
                (str(bit), _dye(dye)) for bit, dye in state["bound"]
            )
            self._chemistry = Chemistry(bound, int(state["round"]))
            tube = state["tube"]
            self._tube = None if tube is None else tuple((int(v), int(p)) for v, p in tube)
            self._run_ul = float(state["run_ul"])
            self._acted = bool(state["acted"])
            self.delivered_ul = {
                tuple((int(v), int(p)) for v, p in key): float(ul)
                for key, ul in state["delivered_ul"]
            }
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(
                f"{path}: not a simulated flow cell's state ({err}); delete it to put a "
                "fresh sample on the stage"
            ) from err


def _dye(value: object) -> Dye:
    if value not in get_args(Dye):
        raise ValueError(f"unknown dye {value!r}")
    return cast(Dye, value)


__all__ = ["Chemistry", "Drift", "FlowCell", "FlowEvent"]
