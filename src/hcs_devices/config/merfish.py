"""The ``specimen.merfish`` section: a MERFISH sample behind the simulated camera.

It says what the simulated sample holds (RNA molecules whose genes follow a codebook,
fiducial beads) and what is physically in each tube of the simulated fluidics, keyed
by the tube's place in the valve chain::

    specimen:
      merfish:
        codebook: codebook.csv          # relative to the configuration file
        chamber_volume_ul: 200
        tubes:
          "1:3": {cleaves: true}
          "1:4": {probes: {bit01: cy3, bit02: cy5}}

The protocol names reagents; the tubes say what they really hold. A tube swapped on the
rig is swapped here: the protocol is still right, the sample shows the wrong bits.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hcs_devices.config.codebook import Codebook, read_codebook
from hcs_devices.config.errors import FieldError, UserFileError

#: Dyes a readout probe may carry (the simulated specimen's Cy3- and Cy5-like labels).
Dye = Literal["cy3", "cy5"]
#: A path through the valve chain: (valve, port) pairs, valves and ports from 1.
ValvePath = tuple[tuple[int, int], ...]

_TUBE_KEY = re.compile(r"^\s*\d+:\d+(\s+\d+:\d+)*\s*$")


def parse_tube_key(key: str) -> ValvePath:
    """``"1:4"`` -> ``((1, 4),)``; ``"1:8 2:3"`` -> ``((1, 8), (2, 3))``.

    Raises:
        ValueError: the key is not ``valve:port`` pairs separated by spaces.
    """
    if not _TUBE_KEY.match(key):
        raise ValueError(
            f"tube {key!r} is not a valve path: write 'valve:port' (e.g. '1:4'), or several "
            "separated by spaces for a chain ('1:8 2:3')"
        )
    pairs = tuple((int(v), int(p)) for v, p in (part.split(":") for part in key.split()))
    valves = [v for v, _ in pairs]
    if len(set(valves)) != len(valves) or min(valves) < 1 or min(p for _, p in pairs) < 1:
        raise ValueError(f"tube {key!r}: each valve at most once, valves and ports numbered from 1")
    return pairs


class TubeContent(BaseModel):
    """What is in one tube: readout probes (bit -> dye), a cleaving buffer, or neither."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    probes: dict[str, Dye] = Field(
        default_factory=dict[str, Dye],
        description="Readout probes in the tube: codebook bit name -> dye (cy3 or cy5). "
        "They bind once chamber_volume_ul of the tube has flowed over the sample.",
    )
    cleaves: bool = Field(
        False,
        description="The tube removes every bound readout's dye (e.g. TCEP). A tube with "
        "neither probes nor cleaves (wash, imaging buffer) changes nothing.",
    )

    @model_validator(mode="after")
    def _one_job(self) -> Self:
        if self.probes and self.cleaves:
            raise FieldError(("cleaves",), "a tube holds probes or cleaves, not both")
        return self


class MerfishSampleConfig(BaseModel):
    """A MERFISH sample: molecules barcoded by a codebook, fiducial beads, and chemistry."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    codebook: Path = Field(
        description="The codebook CSV (name,id,<bits>); a relative path is read from the "
        "configuration file's folder. Molecules carry its genes' barcodes, never a blank."
    )
    tubes: dict[str, TubeContent] = Field(
        default_factory=dict[str, TubeContent],
        description="What is in each tube, keyed by its valve path 'valve:port' (e.g. "
        "'1:4'; 'v:p v:p' through a chain of valves). Tubes not listed hold buffer.",
    )
    molecules_per_cell: float = Field(
        10.0, ge=0.0, le=1000.0, description="Mean RNA molecules per cell (Poisson), 0..1000."
    )
    abundance_log_sigma: float = Field(
        1.0,
        ge=0.0,
        le=5.0,
        description="Spread of the genes' abundances: each gene's share is log-normal "
        "with this sigma (seeded; 0 makes every gene equally common), 0..5.",
    )
    fiducial_beads_per_mm2: float = Field(
        1500.0,
        ge=0.0,
        le=100_000.0,
        description="Fiducial beads on the glass, per mm^2, 0..100000; bright in the GFP "
        "channel in every round.",
    )
    drift_per_round_um: float = Field(
        0.5,
        ge=0.0,
        le=50.0,
        description="Stage drift: each readout binding moves the sample by a seeded "
        "random step of this rms per axis, 0..50 um.",
    )
    chamber_volume_ul: float = Field(
        200.0,
        gt=0.0,
        le=100_000.0,
        description="Volume of a tube that must flow over the sample, in one go, before "
        "its probes bind or its cleave acts (more than 0, at most 100000 uL).",
    )

    @model_validator(mode="after")
    def _tubes_and_codebook(self) -> Self:
        codebook = self.read_codebook()
        for key, tube in self.tubes.items():
            try:
                parse_tube_key(key)
            except ValueError as err:
                raise FieldError(("tubes", key), str(err)) from None
            for bit in tube.probes:
                if bit not in codebook.bit_names:
                    raise FieldError(
                        ("tubes", key, "probes", bit),
                        f"{bit!r} is not a bit of the codebook; its bits are "
                        f"{list(codebook.bit_names)}",
                    )
        return self

    def read_codebook(self) -> Codebook:
        """The codebook the molecules follow.

        Raises:
            FieldError: at ``codebook``, saying why the file cannot be used.
        """
        try:
            return read_codebook(self.codebook)
        except UserFileError as err:
            raise FieldError(("codebook",), str(err)) from None

    def tube_paths(self) -> dict[ValvePath, TubeContent]:
        """The tubes keyed by their parsed valve path."""
        return {parse_tube_key(key): tube for key, tube in self.tubes.items()}


def resolve_codebook_path(data: Any, config_dir: Path) -> Any:
    """Configuration data with a relative ``specimen.merfish.codebook`` made absolute.

    A configuration file names its codebook relative to itself; once validated the
    model holds the absolute path, so copies and dumps of it still find the file.
    Anything not shaped like a configuration is returned as it is (validation then
    reports it).
    """
    specimen = data.get("specimen") if isinstance(data, dict) else None
    merfish = specimen.get("merfish") if isinstance(specimen, dict) else None
    codebook = merfish.get("codebook") if isinstance(merfish, dict) else None
    if not isinstance(codebook, str) or Path(codebook).is_absolute():
        return data
    assert isinstance(data, dict) and isinstance(specimen, dict) and isinstance(merfish, dict)
    merfish = {**merfish, "codebook": str(config_dir / codebook)}
    return {**data, "specimen": {**specimen, "merfish": merfish}}


__all__ = [
    "Dye",
    "MerfishSampleConfig",
    "TubeContent",
    "ValvePath",
    "parse_tube_key",
    "resolve_codebook_path",
]
