"""Number formats against the SPEC section 2 tables, exhaustively where the space is small."""

from __future__ import annotations

import itertools
import math
import struct
from fractions import Fraction

import numpy as np
import pytest
from exact_ref import e2m1_round, e4m3_fraction

from golden import formats as F

# ---- E2M1 ----------------------------------------------------------------------------------


def test_e2m1_all_16_codes_match_spec_table():
    want = [0, 0.5, 1, 1.5, 2, 3, 4, 6, -0.0, -0.5, -1, -1.5, -2, -3, -4, -6]
    assert F.E2M1_VALUES.tolist() == want
    assert math.copysign(1, F.E2M1_VALUES[8]) == -1  # code 8 is -0
    assert F.e2m1_to_float(np.arange(16)).tolist() == want


def test_e2m1_encode_round_trips_every_code():
    codes = F.float_to_e2m1(F.E2M1_VALUES)
    assert codes.tolist() == list(range(16))


def test_e2m1_rne_ties_go_to_even_code():
    ties = [0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0]
    # neighbours: (0,0.5)->0, (0.5,1)->1, (1,1.5)->1, (1.5,2)->2, (2,3)->2, (3,4)->4, (4,6)->4
    want_vals = [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0]
    assert F.e2m1_to_float(F.float_to_e2m1(ties)).tolist() == want_vals
    assert F.e2m1_to_float(F.float_to_e2m1([-t for t in ties])).tolist() == [-v for v in want_vals]


def test_e2m1_saturates_to_six():
    assert F.float_to_e2m1([6.5, 7, 100, 3e38, -7, -3e38]).tolist() == [7, 7, 7, 7, 15, 15]


def test_e2m1_grid_matches_exact_rounder():
    """Every multiple of 1/16 in [-8, 8] (all ties and near-ties) vs the exact RNE rounder."""
    grid = [Fraction(n, 16) for n in range(-128, 129)]
    got = F.float_to_e2m1([float(v) for v in grid]).tolist()
    want = [e2m1_round(v) if v != 0 else 0 for v in grid]
    assert got == want


@pytest.mark.parametrize(
    "enc",
    [
        F.float_to_e2m1,
        F.float_to_e4m3,
        F.float_to_int4,
        F.float_to_uint4,
        F.float_to_nf4,
        F.float_to_fp16,
        F.float_to_e8m0,
    ],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_encoders_reject_nan_and_inf(enc, bad):
    with pytest.raises(ValueError, match="NaN or Inf"):
        enc([1.0, bad])


# ---- E4M3 ----------------------------------------------------------------------------------


def test_e4m3_all_256_codes_decode():
    got = F.e4m3_to_float(np.arange(256))
    for c in range(256):
        want = e4m3_fraction(c)
        if want is None:
            assert np.isnan(got[c]), c
        else:
            assert Fraction(float(got[c])) == want, c
            if want == 0:
                assert math.copysign(1, got[c]) == (-1 if c >> 7 else 1)
    assert [c for c in range(256) if np.isnan(got[c])] == [0x7F, 0xFF]  # S.1111.111
    assert np.nanmax(got) == 448.0 and got[0x7E] == 448.0
    assert got[0x01] == 2.0**-9  # smallest subnormal
    assert got[0x08] == 2.0**-6  # smallest normal


def test_e4m3_encode_round_trips_every_finite_code():
    finite = [c for c in range(256) if c not in (0x7F, 0xFF)]
    assert F.float_to_e4m3(F.E4M3_VALUES[finite]).tolist() == finite


def test_e4m3_rne_ties_and_near_ties_between_all_neighbours():
    pos = sorted({e4m3_fraction(c) for c in range(0x7F)})
    for lo, hi in itertools.pairwise(pos):
        mid = (lo + hi) / 2
        lo_code = int(F.float_to_e4m3([float(lo)])[0])
        hi_code = int(F.float_to_e4m3([float(hi)])[0])
        even = lo_code if lo_code % 2 == 0 else hi_code
        eps = (hi - lo) / 64
        assert F.float_to_e4m3([float(mid)])[0] == even, (lo, hi)
        assert F.float_to_e4m3([float(mid - eps)])[0] == lo_code
        assert F.float_to_e4m3([float(mid + eps)])[0] == hi_code
        assert F.float_to_e4m3([-float(mid)])[0] == even | 0x80


def test_e4m3_saturates_to_448():
    got = F.float_to_e4m3([448, 449, 464, 480, 1e6, 3e38, -500, -3e38])
    assert got.tolist() == [0x7E] * 6 + [0xFE] * 2


def test_e4m3_underflow():
    # below half the smallest subnormal -> 0; exactly half -> tie to even (0); above -> 1
    assert F.float_to_e4m3([2.0**-11, 2.0**-10, 2.0**-10 * 1.01, -(2.0**-11)]).tolist() == [
        0x00,
        0x00,
        0x01,
        0x80,
    ]


def test_e4m3_float64_input_rounds_through_float32_documented():
    # float32 first (1.0625 + 2**-30 -> 1.0625, a tie -> 1.0): the documented convention
    assert F.float_to_e4m3([1.0625 + 2.0**-30])[0] == 0x38


# ---- E8M0 ----------------------------------------------------------------------------------


def test_e8m0_all_256_codes():
    got = F.e8m0_to_float(np.arange(256))
    for c in range(255):
        assert Fraction(float(got[c])) == Fraction(2) ** (c - 127), c
    assert np.isnan(got[255])
    assert got.dtype == np.float64


def test_e8m0_exponent_codes():
    assert F.e8m0_from_exponent([-127, 0, 127]).tolist() == [0, 127, 254]
    assert F.e8m0_exponent([0, 127, 254]).tolist() == [-127, 0, 127]
    with pytest.raises(ValueError, match="-127..127"):
        F.e8m0_from_exponent([128])
    with pytest.raises(ValueError, match="-127..127"):
        F.e8m0_from_exponent([-128])
    with pytest.raises(ValueError, match="NaN"):
        F.e8m0_exponent([255])


def test_float_to_e8m0_nearest_power_of_two():
    x = [1.0, 1.49, 1.5, 3.0, 0.75, 2.0**-127, 2.0**127, 2.0**-200, 2.0**200]
    assert F.float_to_e8m0(x).tolist() == [127, 127, 128, 129, 127, 0, 254, 0, 254]
    for bad in (0.0, -1.0):
        with pytest.raises(ValueError, match="positive"):
            F.float_to_e8m0([bad])


# ---- INT4 / UINT4 --------------------------------------------------------------------------


def test_int4_all_16_codes_twos_complement():
    assert F.int4_to_int(np.arange(16)).tolist() == list(range(8)) + list(range(-8, 0))
    assert F.float_to_int4(np.arange(-8, 8)).tolist() == [(v & 0xF) for v in range(-8, 8)]


def test_int4_rne_and_saturation():
    x = [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 7.4, 7.6, 100, -8.4, -9, -100]
    assert F.int4_to_int(F.float_to_int4(x)).tolist() == [0, 2, 2, 0, -2, -2, 7, 7, 7, -8, -8, -8]


def test_uint4_codes_rne_and_saturation():
    x = [-3, -0.4, 0.5, 1.5, 14.5, 15.4, 99]
    assert F.float_to_uint4(x).tolist() == [0, 0, 0, 2, 14, 15, 15]
    assert F.uint4_to_int(np.arange(16)).tolist() == list(range(16))
    with pytest.raises(ValueError, match="0..15"):
        F.uint4_to_int([16])


# ---- NF4 -----------------------------------------------------------------------------------

QLORA_NF4 = [
    -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
    -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
    0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
    0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
]  # fmt: skip


def test_nf4_table_is_the_qlora_table():
    assert F.NF4_VALUES.tolist() == np.array(QLORA_NF4, dtype=np.float32).tolist()
    assert np.all(np.diff(F.NF4_VALUES) > 0)
    assert F.nf4_to_float(np.arange(16)).tolist() == F.NF4_VALUES.tolist()


def test_nf4_encode_nearest_level():
    assert F.float_to_nf4(F.NF4_VALUES).tolist() == list(range(16))
    lv = np.array(QLORA_NF4, dtype=np.float64)
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.2, 1.2, 2000).astype(np.float32)
    want = [int(np.argmin(np.abs(lv - float(v)))) for v in x]
    assert F.float_to_nf4(x).tolist() == want
    assert F.float_to_nf4([-5.0, 5.0]).tolist() == [0, 15]


def test_nf4_midpoint_goes_to_lower_code():
    lv = F.NF4_VALUES.astype(np.float64)
    ties = 0
    for c in range(15):
        mid = (lv[c] + lv[c + 1]) / 2
        if float(np.float32(mid)) == mid:  # only representable midpoints are exact ties
            ties += 1
            assert F.float_to_nf4([mid])[0] == c
        below = np.nextafter(np.float32(mid), np.float32(-2))
        above = np.nextafter(np.float32(mid), np.float32(2))
        assert F.float_to_nf4([below])[0] == c
        assert F.float_to_nf4([above])[0] == c + 1
    assert ties >= 1  # levels 0.0 and +-1.0 give the exact midpoints +-0.5 etc.


# ---- FP16 ----------------------------------------------------------------------------------


def test_fp16_decode_all_finite_patterns_against_struct():
    b = np.arange(65536, dtype=np.uint32)
    finite = b[((b >> 10) & 0x1F) != 0x1F]
    got = F.fp16_to_float(finite)
    want = np.array([struct.unpack("<e", struct.pack("<H", int(v)))[0] for v in finite])
    np.testing.assert_array_equal(got.astype(np.float64), want)
    assert F.float_to_fp16(got).tolist() == finite.tolist()  # encode round trip


def test_fp16_rne_subnormal_and_saturation():
    x = [1 + 2.0**-11, 1 + 3 * 2.0**-11, 2.0**-24, 2.0**-25, 3 * 2.0**-25, 65504, 65520, 1e9]
    assert F.float_to_fp16(x).tolist() == [
        0x3C00, 0x3C02, 0x0001, 0x0000, 0x0002, 0x7BFF, 0x7BFF, 0x7BFF,
    ]  # fmt: skip
    assert F.float_to_fp16([-1e9])[0] == 0xFBFF


# ---- by name -------------------------------------------------------------------------------


def test_encode_decode_by_name_and_unknown_format():
    for fmt in F.FORMATS:
        assert F.decode(F.encode([1.0], fmt), fmt).shape == (1,)
    assert F.decode(F.encode([3.0], "e2m1"), "e2m1")[0] == 3.0
    with pytest.raises(ValueError, match="unknown format 'e5m2'"):
        F.encode([1.0], "e5m2")
    with pytest.raises(ValueError, match="unknown format"):
        F.decode([1], "fp8")


def test_decoders_reject_out_of_range_codes():
    with pytest.raises(ValueError, match="0..255"):
        F.e4m3_to_float([256])
    with pytest.raises(ValueError, match="0..15"):
        F.int4_to_int([-1])
    with pytest.raises(ValueError, match="integers"):
        F.nf4_to_float([1.5])
