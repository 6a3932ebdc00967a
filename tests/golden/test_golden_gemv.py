"""gemv_reference against an independent Fraction-exact model of SPEC section 4."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from exact_ref import (
    E2M1_FRACTIONS,
    add_binary32,
    bits_f32,
    block_term_exact,
    e2m1_fraction,
    f32_bits,
    gemv_exact,
    to_binary32,
)

from golden import formats, gemv_reference, quant, sparse
from golden.gemv import (
    CANONICAL_NAN_BITS,
    accumulate_blocks,
    block_partial_sums,
    block_terms,
    scale_value,
)

BQ = quant.BlockQuantized


def bits(y) -> np.ndarray:
    return np.asarray(y, dtype=np.float32).view(np.uint32)


def check(w: BQ, x: BQ) -> np.ndarray:
    """gemv_reference bits == the exact model's bits; also the per-block terms."""
    got = bits(gemv_reference(w, x))
    want = gemv_exact(w.codes, w.scales, w.scale_format, x.codes, x.scales, x.scale_format, w.block)
    np.testing.assert_array_equal(got, want)
    q = bits(block_terms(w, x))
    for i in range(w.codes.shape[0]):
        for b in range(w.scales.shape[1]):
            sl = slice(b * w.block, (b + 1) * w.block)
            p = sum(
                e2m1_fraction(int(a)) * e2m1_fraction(int(c))
                for a, c in zip(w.codes[i, sl], x.codes[sl], strict=True)
            )
            t = block_term_exact(
                p, int(w.scales[i, b]), w.scale_format, int(x.scales[b]), x.scale_format
            )
            if t == CANONICAL_NAN_BITS:
                assert np.isnan(bits_f32(int(q[i, b])))
            else:
                assert int(q[i, b]) == t, (i, b)
    return got


# ---- the exact reference's own rounding, on values with known answers ----------------------


def test_exact_reference_rounding_known_values():
    two = Fraction(2)
    assert to_binary32(Fraction(1)) == 0x3F800000
    assert to_binary32(two**-149) == 0x00000001
    assert to_binary32(two**-150) == 0  # tie between 0 and 2**-149 -> even (0)
    assert to_binary32(3 * two**-150) == 0x00000002  # tie between 1 and 2 ulps -> 2
    assert to_binary32(-(two**-151)) == 0x80000000
    assert to_binary32(two**128 - two**103) == 0x7F800000  # max + half ulp -> Inf
    assert to_binary32(two**128 - two**103 - two**-10) == 0x7F7FFFFF
    assert to_binary32(two**128 - two**104) == 0x7F7FFFFF  # the largest finite value
    assert to_binary32(1 + two**-24) == 0x3F800000  # tie -> even
    assert to_binary32(1 + 3 * two**-24) == 0x3F800002
    assert to_binary32(two**-126 - two**-150) == 0x00800000  # rounds up into the normals


# ---- block partial sums --------------------------------------------------------------------


def test_partial_sums_all_256_products():
    """With block 1, p[a, b] is the single product: all 256 E2M1 pairs."""
    w = np.repeat(np.arange(16, dtype=np.uint8)[:, None], 16, axis=1)  # w[a, k] = a
    x = np.arange(16, dtype=np.uint8)  # x[k] = k
    p = block_partial_sums(w, x, 1)
    want = np.array([[int(E2M1_FRACTIONS[a] * E2M1_FRACTIONS[b] * 4) for b in range(16)]
                     for a in range(16)])  # fmt: skip
    np.testing.assert_array_equal(p, want)
    np.testing.assert_array_equal(p, formats.E2M1_PRODUCT_QUARTERS)


def test_partial_sums_random_blocks():
    rng = np.random.default_rng(1)
    w = rng.integers(0, 16, (5, 96), dtype=np.uint8)
    x = rng.integers(0, 16, 96, dtype=np.uint8)
    p = block_partial_sums(w, x, 32)
    for i in range(5):
        for b in range(3):
            want = sum(E2M1_FRACTIONS[w[i, k]] * E2M1_FRACTIONS[x[k]] * 4
                       for k in range(32 * b, 32 * b + 32))  # fmt: skip
            assert p[i, b] == want


def test_partial_sums_extremes():
    """All +-6 * +-6 in a block of 32: +-1152 products summed, 4608 quarters."""
    w = np.full((2, 32), 7, dtype=np.uint8)
    w[1] = 15
    x = np.full(32, 7, dtype=np.uint8)
    np.testing.assert_array_equal(block_partial_sums(w, x, 32), [[4608], [-4608]])


# ---- seeded random against the exact model -------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_random_e8m0_matches_exact_model(seed):
    rng = np.random.default_rng(seed)
    m, k = 6, 128
    w = BQ(rng.integers(0, 16, (m, k)), rng.integers(90, 165, (m, k // 32)), 32, "e8m0")
    x = BQ(rng.integers(0, 16, k), rng.integers(90, 165, k // 32), 32, "e8m0")
    check(w, x)


@pytest.mark.parametrize("seed", range(4))
def test_random_e4m3_matches_exact_model(seed):
    """Every E4M3 code except NaN: negative, subnormal and zero scales included."""
    rng = np.random.default_rng(100 + seed)
    finite = np.array([c for c in range(256) if c not in (0x7F, 0xFF)])
    m, k = 6, 64
    w = BQ(rng.integers(0, 16, (m, k)), rng.choice(finite, (m, k // 16)), 16, "e4m3")
    x = BQ(rng.integers(0, 16, k), rng.choice(finite, k // 16), 16, "e4m3")
    check(w, x)


@pytest.mark.parametrize("seed", range(3))
def test_random_wide_exponents_reach_inf_and_subnormals(seed):
    """Scale codes over the whole E8M0 range: overflow, underflow and NaN all appear."""
    rng = np.random.default_rng(200 + seed)
    m, k = 16, 64
    w = BQ(rng.integers(0, 16, (m, k)), rng.integers(0, 256, (m, 2)), 32, "e8m0")
    x = BQ(rng.integers(0, 16, k), rng.integers(0, 256, 2), 32, "e8m0")
    check(w, x)


def test_mixed_scale_formats():
    rng = np.random.default_rng(7)
    w = BQ(rng.integers(0, 16, (4, 64)), rng.integers(100, 150, (4, 2)), 32, "e8m0")
    x = BQ(rng.integers(0, 16, 64), [0x38, 0xC1], 32, "e4m3")
    check(w, x)


def test_quantized_sparse_workload_matches_exact_model():
    rng = np.random.default_rng(3)
    wf = sparse.prune_2_4(rng.standard_normal((4, 128)).astype(np.float32))
    w = quant.quantize_mxfp4(wf)
    x = quant.quantize_mxfp4(rng.standard_normal(128).astype(np.float32))
    check(w, x)
    wn = quant.quantize_nvfp4(wf)
    xn = quant.quantize_nvfp4(rng.standard_normal(128).astype(np.float32))
    check(wn, xn)


# ---- named corners -------------------------------------------------------------------------


def one_block(w_codes, w_scale, x_codes, x_scale, fmt="e8m0", block=None):
    block = len(w_codes) if block is None else block
    w = BQ(np.array([w_codes], dtype=np.uint8), [[w_scale]], block, fmt)
    x = BQ(np.array(x_codes, dtype=np.uint8), [x_scale], block, fmt)
    return w, x


def unit_block(value_code, block=32):
    """A block holding one E2M1 code at position 0 and zeros elsewhere."""
    c = np.zeros(block, dtype=np.uint8)
    c[0] = value_code
    return c


ONE = 2  # E2M1 code of 1.0
MINUS_ONE = 10


def test_overflow_to_plus_and_minus_inf():
    w, x = one_block(unit_block(7), 254, unit_block(7), 254)  # 36 * 2**254
    assert bits(gemv_reference(w, x))[0] == 0x7F800000
    w, x = one_block(unit_block(15), 254, unit_block(7), 254)
    assert bits(gemv_reference(w, x))[0] == 0xFF800000
    check(w, x)


def test_largest_finite_product_does_not_overflow():
    # 6 * 6 * 2**(121-127) * 2**(127-127+...) chosen to be 36 * 2**121 < 2**128
    w, x = one_block(unit_block(7), 127 + 121, unit_block(7), 127)
    y = gemv_reference(w, x)
    assert y[0] == np.float32(36 * 2.0**121)
    check(w, x)


def test_inf_plus_minus_inf_is_canonical_nan():
    w = BQ(np.concatenate([unit_block(7), unit_block(15)])[None], [[254, 254]], 32, "e8m0")
    x = BQ(np.concatenate([unit_block(7), unit_block(7)]), [254, 254], 32, "e8m0")
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS
    check(w, x)


@pytest.mark.parametrize(
    ("sw", "sx", "want"),
    [
        (0, 127 - 23, 0x00000000),  # 1 * 2**-150: tie between 0 and 2**-149 -> +0
        (0, 127 - 22, 0x00000001),  # 2**-149: smallest subnormal
        (0, 127, 0x00400000),  # 2**-127: a subnormal
        (0, 127 + 1, 0x00800000),  # 2**-126: the smallest normal
        (0, 127 - 40, 0x00000000),  # far below: +0
    ],
)
def test_underflow_to_subnormal_and_zero(sw, sx, want):
    w, x = one_block(unit_block(ONE), sw, unit_block(ONE), sx)  # p = 1.0
    assert bits(gemv_reference(w, x))[0] == want
    check(w, x)


def test_underflow_tie_rounds_to_even_subnormal():
    # 1.5 * 2**-149 -> tie between 1 and 2 ulps -> 2 ulps; 3 = code 5 (3.0), 0.5 = code 1
    w, x = one_block(unit_block(5), 0, unit_block(1), 127 - 22)  # 1.5 * 2**-127 * 2**-22
    assert bits(gemv_reference(w, x))[0] == 0x00000002
    check(w, x)


def test_negative_underflow_term_is_minus_zero_but_y_is_plus_zero():
    w, x = one_block(unit_block(MINUS_ONE), 0, unit_block(ONE), 127 - 40)
    assert bits(block_terms(w, x))[0, 0] == 0x80000000
    assert bits(gemv_reference(w, x))[0] == 0x00000000  # +0.0 + -0.0 = +0.0


def test_subnormals_accumulate_without_flush():
    # eight blocks, each 2**-149: the sum 8 * 2**-149 needs subnormal adds
    w = BQ(np.tile(unit_block(ONE), 8)[None], [[0] * 8], 32, "e8m0")
    x = BQ(np.tile(unit_block(ONE), 8), [127 - 22] * 8, 32, "e8m0")
    assert bits(gemv_reference(w, x))[0] == 8
    check(w, x)


@pytest.mark.parametrize("nan_code", [255])
def test_e8m0_nan_scale_gives_canonical_nan(nan_code):
    w, x = one_block(unit_block(ONE), nan_code, unit_block(ONE), 127)
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS
    w, x = one_block(
        np.zeros(32, np.uint8), 127, np.zeros(32, np.uint8), nan_code
    )  # NaN even with p = 0
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS


@pytest.mark.parametrize("nan_code", [0x7F, 0xFF])
def test_e4m3_nan_scale_gives_canonical_nan(nan_code):
    w, x = one_block(unit_block(ONE, 16), nan_code, unit_block(ONE, 16), 0x38, "e4m3")
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS
    w, x = one_block(unit_block(ONE, 16), 0x38, unit_block(ONE, 16), nan_code, "e4m3")
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS


def test_nan_then_more_blocks_stays_canonical_nan():
    w = BQ(np.tile(unit_block(ONE), 3)[None], [[127, 255, 127]], 32, "e8m0")
    x = BQ(np.tile(unit_block(ONE), 3), [127, 127, 127], 32, "e8m0")
    assert bits(gemv_reference(w, x))[0] == CANONICAL_NAN_BITS


@pytest.mark.parametrize("zero_code", [0, 8])
def test_all_zero_blocks_give_plus_zero(zero_code):
    """+0 and -0 weight codes, with a negative E4M3 scale too: y is +0.0."""
    w, x = one_block(np.full(32, zero_code), 127, np.full(32, 3), 127)
    assert bits(gemv_reference(w, x))[0] == 0
    w, x = one_block(np.full(16, zero_code), 0xB8, np.full(16, 3), 0x38, "e4m3", 16)
    assert bits(block_terms(w, x))[0, 0] == 0x80000000  # -1 * 1 * 0 = -0
    assert bits(gemv_reference(w, x))[0] == 0


def test_cancellation_gives_plus_zero():
    w = BQ(np.concatenate([unit_block(ONE), unit_block(MINUS_ONE)])[None], [[127, 127]], 32,
           "e8m0")  # fmt: skip
    x = BQ(np.tile(unit_block(ONE), 2), [127, 127], 32, "e8m0")
    assert bits(gemv_reference(w, x))[0] == 0


def test_accumulation_order_is_increasing_block():
    """((0 + 2**24) + 1) + 1 = 2**24 in binary32, whereas (1 + 1) + 2**24 would be 2**24 + 2."""
    w = BQ(np.tile(unit_block(ONE), 3)[None], [[127 + 24, 127, 127]], 32, "e8m0")
    x = BQ(np.tile(unit_block(ONE), 3), [127, 127, 127], 32, "e8m0")
    assert gemv_reference(w, x)[0] == np.float32(2**24)
    w = BQ(np.tile(unit_block(ONE), 3)[None], [[127, 127, 127 + 24]], 32, "e8m0")
    assert gemv_reference(w, x)[0] == np.float32(2**24 + 2)


def test_scale_value_exact():
    assert scale_value([0, 127, 254], "e8m0").tolist() == [2.0**-127, 1.0, 2.0**127]
    assert np.isnan(scale_value([255], "e8m0")[0])
    assert scale_value([0x7E, 0x01, 0x80], "e4m3").tolist() == [448.0, 2.0**-9, -0.0]
    with pytest.raises(ValueError, match="unknown scale format"):
        scale_value([1], "e5m2")


def test_accumulate_blocks_canonicalises_nan():
    q = np.array([[np.inf, -np.inf], [1.0, 2.0]], dtype=np.float32)
    y = accumulate_blocks(q)
    assert bits(y).tolist() == [CANONICAL_NAN_BITS, f32_bits(3.0)]


# ---- bad input -----------------------------------------------------------------------------


def test_errors_name_the_problem():
    w = BQ(np.zeros((2, 64), np.uint8), np.full((2, 2), 127), 32, "e8m0")
    x = BQ(np.zeros(32, np.uint8), [127], 32, "e8m0")
    with pytest.raises(ValueError, match="K differs"):
        gemv_reference(w, x)
    x16 = BQ(np.zeros(64, np.uint8), [127] * 4, 16, "e8m0")
    with pytest.raises(ValueError, match="block sizes differ"):
        gemv_reference(w, x16)
    with pytest.raises(TypeError, match="BlockQuantized"):
        gemv_reference(w, np.zeros(64))
    with pytest.raises(ValueError, match="shape"):
        gemv_reference(x, x)
    with pytest.raises(ValueError, match="does not divide"):
        block_partial_sums(np.zeros((1, 48), np.uint8), np.zeros(48, np.uint8), 32)
    with pytest.raises(ValueError, match="E2M1 codes"):
        block_partial_sums(np.full((1, 32), 16), np.zeros(32, np.uint8), 32)


# ---- the platform operations gemv_reference relies on --------------------------------------


def test_numpy_float64_to_float32_cast_is_rne_with_subnormals_and_overflow():
    """gemv_reference's one rounding is numpy's float64 -> float32 cast: check it against
    the from-scratch rounder on values around ties, subnormals and the overflow edge."""
    rng = np.random.default_rng(11)
    exps = rng.integers(-160, 130, 3000)
    mant = rng.integers(1 << 52, 1 << 53, 3000)
    vals = [math.ldexp(int(m), int(e) - 52) for m, e in zip(mant, exps, strict=True)]
    # exact ties and near-ties: (2k+1) half-ulps at several exponents, incl. subnormal ulps
    for e in (-149, -140, -127, -126, -100, 0, 100, 127):
        ulp = 2.0 ** max(e - 23, -149)
        for k_ in (1, 2, 3, 1 << 23, (1 << 24) - 1):
            vals += [(k_ + 0.5) * ulp, (k_ + 0.5) * ulp * (1 + 2.0**-40)]
    vals += [2.0**128 - 2.0**103, 2.0**128 - 2.0**103 - 2.0**75, 2.0**-150, 2.0**-151]
    vals += [-v for v in vals]
    x = np.array(vals, dtype=np.float64)
    with np.errstate(over="ignore"):
        got = x.astype(np.float32).view(np.uint32)
    want = [to_binary32(Fraction(v)) for v in vals]
    assert got.tolist() == want


def test_numpy_float32_add_keeps_subnormals():
    """The accumulation uses numpy float32 adds: RNE, no flush-to-zero (compare with the
    exact adder on subnormal, tie and overflow operands)."""
    rng = np.random.default_rng(12)
    a = rng.integers(0, 1 << 32, 4000, dtype=np.uint64).astype(np.uint32)
    b = rng.integers(0, 1 << 32, 4000, dtype=np.uint64).astype(np.uint32)
    a[:1000] &= 0x80FFFFFF  # small exponents: subnormals and tiny normals
    b[:1000] &= 0x80FFFFFF
    b[1000:2000] = (a[1000:2000] & 0xFF800000) | (b[1000:2000] & 0x807FFFFF)  # same exponent
    fa, fb = a.view(np.float32), b.view(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):
        s = (fa + fb).view(np.uint32)
    for x_, y_, s_ in zip(a.tolist(), b.tolist(), s.tolist(), strict=True):
        want = add_binary32(x_, y_)
        if want == CANONICAL_NAN_BITS:
            assert np.isnan(bits_f32(s_))
        else:
            assert s_ == want, (hex(x_), hex(y_))
