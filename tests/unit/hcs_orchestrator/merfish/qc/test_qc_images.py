"""Spot finding, fiducial registration and decoding on synthetic fields of known truth."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from scipy.spatial import KDTree

from hcs_orchestrator.merfish.qc import (
    QcLimits,
    RoundImages,
    RoundQc,
    decode_field,
    decode_spots,
    fiducial_shift,
    find_spots,
    round_qc,
)
from merfish_synthetic import (
    N_ROUNDS,
    SHAPE,
    SyntheticField,
    example_codebook,
    make_field,
    render,
)


def _rounds(field: SyntheticField, limits: QcLimits | None = None) -> dict[int, RoundQc]:
    qc: dict[int, RoundQc] = {}
    for r in range(1, N_ROUNDS + 1):
        images = RoundImages(r, field.bit_images[r], field.fiducials[r])
        qc[r] = round_qc(images, field.fiducials[1], limits)
    return qc


def test_find_spots_finds_every_spot_within_a_fifth_of_a_pixel_when_spots_are_clear() -> None:
    rng = np.random.default_rng(3)
    truth = rng.uniform(10, 240, size=(60, 2))
    truth = truth[np.all(KDTree(truth).query(truth, k=2)[0][:, 1:] > 5, axis=1)]
    found = find_spots(render(truth, np.full(len(truth), 400.0), rng))
    distance, _ = KDTree(found).query(truth)
    assert len(found) == len(truth)
    assert np.all(distance < 0.2)


def test_find_spots_finds_nothing_when_the_image_is_noise_only() -> None:
    rng = np.random.default_rng(4)
    assert len(find_spots(render(np.zeros((0, 2)), np.zeros(0), rng))) == 0


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"sigma_px": 0.0}, "sigma_px"), ({"threshold_sigmas": -1.0}, "threshold_sigmas")],
)
def test_find_spots_names_the_parameter_when_it_is_out_of_range(
    kwargs: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValueError, match=field):
        find_spots(np.zeros(SHAPE), **kwargs)


def test_find_spots_refuses_an_image_that_is_not_2d() -> None:
    with pytest.raises(ValueError, match="2-D"):
        find_spots(np.zeros((2, 8, 8)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fiducial_shift_recovers_the_known_drift_within_0_3_px(seed: int) -> None:
    field = make_field(seed)
    for r in range(2, N_ROUNDS + 1):
        measured = fiducial_shift(field.fiducials[1], field.fiducials[r])
        assert np.allclose(measured, field.shifts[r], atol=0.3), (r, measured, field.shifts[r])


def test_fiducial_shift_refuses_images_of_different_shapes() -> None:
    with pytest.raises(ValueError, match="one shape"):
        fiducial_shift(np.zeros((8, 8)), np.zeros((8, 9)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_decode_field_recovers_95_percent_with_under_1_percent_blanks(seed: int) -> None:
    field = make_field(seed)
    result = decode_field(
        _rounds(field), example_codebook(), truth=(field.positions, field.entries)
    )
    assert result.recovery_rate is not None
    assert result.recovery_rate >= 0.95
    assert result.blank_rate < 0.01
    assert result.flagged_rounds == {}
    assert result.warnings == ()


@pytest.mark.parametrize(("seed", "swapped"), [(5, (2, 3)), (1, (1, 2)), (3, (1, 4))])
def test_decode_field_flags_two_rounds_that_exchanged_readouts_and_no_other_with_truth(
    seed: int, swapped: tuple[int, int]
) -> None:
    a, b = swapped
    field = make_field(seed, swap={a: b, b: a})
    result = decode_field(
        _rounds(field), example_codebook(), truth=(field.positions, field.entries)
    )
    assert set(result.flagged_rounds) == {a, b}
    assert all("of the molecules present" in w for w in result.flagged_rounds[a])


def test_decode_field_flags_a_round_given_another_rounds_readout_and_not_the_right_one() -> None:
    field = make_field(5, swap={2: 3})
    result = decode_field(
        _rounds(field), example_codebook(), truth=(field.positions, field.entries)
    )
    wrong = [w for w in result.warnings if "of the molecules present" in w]
    assert wrong and all(
        w.startswith("round 2: bit03") or w.startswith("round 2: bit04") for w in wrong
    )
    assert set(result.flagged_rounds) == {2, 3}  # round 3 only as round 2's twin
    assert all("shows the same molecules" in w for w in result.flagged_rounds[3])
    assert 1 not in result.flagged_rounds and 4 not in result.flagged_rounds


def test_decode_field_names_both_rounds_showing_one_readout_without_truth() -> None:
    field = make_field(9, swap={4: 1})
    result = decode_field(_rounds(field), example_codebook())
    assert set(result.flagged_rounds) == {1, 4}
    assert any("bit07 shows the same molecules as bit01" in w for w in result.warnings)


def test_decode_field_flags_a_round_whose_readout_bound_poorly_without_truth() -> None:
    field = make_field(4, lost={"bit05": 0.4})
    result = decode_field(_rounds(field), example_codebook())
    assert set(result.flagged_rounds) == {3}
    assert result.bit_errors["bit05"].one_to_zero > 0.15
    assert result.flagged_rounds[3][0].startswith("round 3: bit05 reads wrong")


def test_decode_field_flags_no_round_when_every_readout_was_right() -> None:
    for seed in range(3):
        field = make_field(seed)
        with_truth = decode_field(
            _rounds(field), example_codebook(), truth=(field.positions, field.entries)
        )
        assert with_truth.flagged_rounds == {}
        assert with_truth.truth_bit_errors is not None
        assert max(e.worst for e in with_truth.truth_bit_errors.values()) < 0.02


def test_round_qc_counts_the_spots_of_each_bit_and_warns_when_a_bit_has_too_few() -> None:
    field = make_field(0)
    codebook = example_codebook()
    column = {b: i for i, b in enumerate(codebook.bit_names)}
    qc = round_qc(RoundImages(2, field.bit_images[2], field.fiducials[2]), field.fiducials[1])
    for bit in ("bit03", "bit04"):
        expected = int(codebook.matrix()[field.entries, column[bit]].sum())
        assert abs(qc.spot_counts[bit] - expected) <= 2
    assert qc.warnings == ()
    empty = {"bit03": np.full(SHAPE, 100, np.uint16), "bit04": field.bit_images[2]["bit04"]}
    starved = round_qc(RoundImages(2, empty, field.fiducials[2]), field.fiducials[1])
    assert starved.spot_counts["bit03"] == 0
    assert starved.warnings == ("round 2: bit03 has 0 spots (fewer than min_spots_per_bit=20)",)


def test_round_qc_warns_when_the_shift_exceeds_the_limit() -> None:
    field = make_field(1)
    shift = np.hypot(*field.shifts[3])
    limits = QcLimits(max_shift_px=shift / 2)
    qc = round_qc(
        RoundImages(3, field.bit_images[3], field.fiducials[3]), field.fiducials[1], limits
    )
    assert any("registration shift" in w for w in qc.warnings)


def test_decode_spots_corrects_one_missing_bit_and_rejects_two() -> None:
    codebook = example_codebook()
    barcode = codebook.entries[0].barcode
    on = [b for b, v in zip(codebook.bit_names, barcode, strict=True) if v]
    one_off = {b: np.array([[50.0, 50.0]]) for b in on[:-1]}
    two_off = {b: np.array([[90.0, 90.0]]) for b in on[:-2]}
    result = decode_spots(
        {
            b: np.concatenate([one_off.get(b, np.zeros((0, 2))), two_off.get(b, np.zeros((0, 2)))])
            for b in on
        },
        codebook,
    )
    by_row = {
        round(float(p[0])): (e, d)
        for p, e, d in zip(result.positions, result.entry, result.distance, strict=True)
    }
    assert by_row[50] == (0, 1)
    assert by_row[90][0] == -1 and by_row[90][1] == 2


def test_decode_field_names_the_bits_no_round_read() -> None:
    field = make_field(0)
    rounds = _rounds(field)
    del rounds[4]
    with pytest.raises(ValueError, match="bit07"):
        decode_field(rounds, example_codebook())


def test_qc_limits_refuse_an_unknown_key_by_name() -> None:
    with pytest.raises(ValueError, match="max_bitt_error_rate"):
        QcLimits(max_bitt_error_rate=0.1)  # type: ignore[call-arg]
