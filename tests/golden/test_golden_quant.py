"""MXFP4, NVFP4 and INT4 quantizers against independent exact references (SPEC section 3)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from exact_ref import (
    E2M1_MAGNITUDES,
    bits_f32,
    e2m1_round,
    e4m3_fraction,
    floor_log2,
    round_half_even,
    to_binary32,
)

from golden import formats, quant


def fl32(v: Fraction) -> Fraction:
    """Round a rational to binary32 and back (exact reference rounding)."""
    return Fraction(bits_f32(to_binary32(v)))


def e2m1_code(v: Fraction, negative: bool) -> int:
    c = e2m1_round(v)
    return c | 8 if negative else c


E4M3_POS = sorted({(e4m3_fraction(c), c) for c in range(0x7F)})


def e4m3_round(v: Fraction) -> int:
    """Nearest non-negative E4M3 code, ties to the even code, saturating at 448."""
    v = min(v, Fraction(448))
    best = min(E4M3_POS, key=lambda fc: (abs(fc[0] - v), fc[1] % 2))
    return best[1]


def mixed_blocks(rng, rows, k):
    """Blocks with very different magnitudes, zeros, tiny and huge values."""
    x = rng.standard_normal((rows, k)).astype(np.float32)
    mag = 2.0 ** rng.integers(-40, 40, (rows, k // 32, 1))
    x = (x.reshape(rows, -1, 32) * mag).reshape(rows, k).astype(np.float32)
    x[0, :32] = 0  # an all-zero block
    x[0, 32] = 6.0 * 2**10  # amax exactly 6 * 2**10
    x[1, :32] = np.float32(1e-42)  # subnormal block: X clamped to -127
    x[1, 32:64] = 3e38  # huge block
    return x


# ---- MXFP4 ---------------------------------------------------------------------------------


def test_mxfp4_matches_exact_reference():
    rng = np.random.default_rng(0)
    x = mixed_blocks(rng, 3, 128)
    q = quant.quantize_mxfp4(x)
    assert q.block == 32 and q.scale_format == "e8m0" and q.tensor_scale == 1.0
    assert q.codes.shape == x.shape and q.scales.shape == (3, 4)
    for i in range(3):
        for b in range(4):
            blk = x[i, 32 * b : 32 * b + 32]
            amax = max(abs(Fraction(float(v))) for v in blk)
            X = -127 if amax == 0 else min(max(floor_log2(amax) - 2, -127), 127)
            assert q.scales[i, b] == X + 127, (i, b)
            for j, v in enumerate(blk):
                want = e2m1_code(Fraction(float(v)) / Fraction(2) ** X, math.copysign(1, v) < 0)
                assert q.codes[i, 32 * b + j] == want, (i, b, j, v)


def test_mxfp4_named_scales():
    x = np.zeros((5, 32), dtype=np.float32)
    x[0, 0] = 6.0  # floor(log2 6) - 2 = 0
    x[1, 0] = 1.0  # -2
    x[2, 0] = 7.99  # floor(log2 7.99) = 2 -> 0, 7.99 saturates to 6
    x[3, 0] = np.float32(2.0**-149)  # smallest subnormal: -151 clamped to -127
    x[4, 0] = np.float32(3.0e38)  # 2**127 < 3e38 < 2**128: X = 125
    q = quant.quantize_mxfp4(x)
    assert (q.scales[:, 0].astype(int) - 127).tolist() == [0, -2, 0, -127, 125]
    # 3e38 / 2**125 = 7.05 saturates to 6
    assert formats.e2m1_to_float(q.codes[:, 0]).tolist() == [6.0, 4.0, 6.0, 0.0, 6.0]
    zero = quant.quantize_mxfp4(np.zeros(32))
    assert zero.scales.tolist() == [0] and (zero.codes == 0).all()  # amax 0 -> X = -127


def test_mxfp4_other_block_sizes():
    x = np.arange(64, dtype=np.float32)
    assert quant.quantize_mxfp4(x, block=16).scales.shape == (4,)
    assert quant.quantize_mxfp4(x, block=64).scales.shape == (1,)


# ---- NVFP4 ---------------------------------------------------------------------------------


def test_nvfp4_matches_exact_reference():
    """Each float32 step of the documented formula, emulated with Fractions."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 64)) * np.exp(rng.uniform(-6, 6, (3, 1)))).astype(np.float32)
    x[0, :16] = 0
    q = quant.quantize_nvfp4(x)
    assert q.block == 16 and q.scale_format == "e4m3"
    amax_t = max(abs(Fraction(float(v))) for v in x.ravel())
    g = fl32(amax_t / (6 * 448))
    assert Fraction(q.tensor_scale) == g
    six_g = fl32(6 * g)
    for i in range(3):
        for b in range(4):
            blk = x[i, 16 * b : 16 * b + 16]
            amax_b = max(abs(Fraction(float(v))) for v in blk)
            s_code = e4m3_round(fl32(amax_b / six_g))
            assert q.scales[i, b] == s_code, (i, b)
            d = fl32(g * e4m3_fraction(s_code))
            for j, v in enumerate(blk):
                neg = math.copysign(1, v) < 0
                want = 0 if d == 0 else e2m1_code(fl32(Fraction(float(v)) / d), neg)
                assert q.codes[i, 16 * b + j] == want, (i, b, j)


def test_nvfp4_block_amax_maps_near_six_and_tensor_amax_to_448():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    q = quant.quantize_nvfp4(x)
    s = formats.e4m3_to_float(q.scales)
    assert s.max() == 448.0  # the block holding the tensor amax
    i, b = np.unravel_index(np.argmax(s), s.shape)
    blk = np.abs(formats.e2m1_to_float(q.codes[i, 16 * b : 16 * b + 16]))
    assert blk.max() == 6.0


def test_nvfp4_all_zero_tensor():
    q = quant.quantize_nvfp4(np.zeros((2, 32), dtype=np.float32))
    assert q.tensor_scale == 0.0 and (q.scales == 0).all() and (q.codes == 0).all()
    assert (quant.dequantize(q) == 0).all()


def test_nvfp4_sqnr_on_gaussian_weights():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 1024)).astype(np.float32)
    # about 20 dB for E2M1 with 16-element E4M3 blocks; MXFP4 (32, power-of-two) lower
    assert quant.sqnr_db(x, quant.dequantize(quant.quantize_nvfp4(x))) > 19.0
    assert quant.sqnr_db(x, quant.dequantize(quant.quantize_mxfp4(x))) > 16.0


# ---- dequantize ----------------------------------------------------------------------------


def test_dequantize_block_exact_product():
    q = quant.BlockQuantized(
        np.array([[7, 15, 1, 0]], dtype=np.uint8), np.array([[130, 0]], np.uint8), 2, "e8m0"
    )
    assert quant.dequantize(q).tolist() == [[48.0, -48.0, 0.5 * 2.0**-127, 0.0]]
    n = quant.BlockQuantized(np.array([3, 4]), np.array([0x7E]), 2, "e4m3", tensor_scale=0.5)
    assert quant.dequantize(n).tolist() == [1.5 * 448 * 0.5, 2 * 448 * 0.5]
    nan = quant.BlockQuantized(np.array([3, 4]), np.array([255]), 2, "e8m0")
    assert np.isnan(quant.dequantize(nan)).all()


def test_dequantize_unknown_object():
    with pytest.raises(ValueError, match="unknown quantized format"):
        quant.dequantize(np.zeros(4))


# ---- INT4 ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("granularity", "group", "scale_shape"),
    [
        ("tensor", None, (1, 1)),
        ("channel", None, (4, 1)),
        ("group", 32, (4, 4)),
        ("group", 64, (4, 2)),
        ("group", 128, (4, 1)),
    ],
)
@pytest.mark.parametrize("symmetric", [True, False])
def test_int4_granularities_and_error_bound(granularity, group, scale_shape, symmetric):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 128)) * [[1], [10], [0.01], [100]]).astype(np.float32)
    if not symmetric:
        x += np.float32(0.5) * np.abs(x).max(axis=1, keepdims=True)  # skewed rows
    q = quant.quantize_int4(x, granularity=granularity, group=group, symmetric=symmetric)
    assert q.scales.shape == scale_shape and q.scales.dtype == np.uint16
    assert (q.zero_points is None) == symmetric
    ints = q.integers()
    if symmetric:
        assert ints.min() >= -8 and ints.max() <= 7
    else:
        assert ints.min() >= 0 and ints.max() <= 15
    s = q.scale_values().astype(np.float64)
    gsize = 128 if granularity != "group" else group
    s_full = np.broadcast_to(
        np.repeat(s, gsize, axis=-1) if granularity != "tensor" else s, x.shape
    )
    err = np.abs(x.astype(np.float64) - quant.dequantize(q))
    assert (err <= 0.51 * s_full + 1e-6 * np.abs(x)).all()


def test_int4_symmetric_scale_is_fp16_amax_over_7():
    x = np.array([[1.0, -7.0, 3.5, 0.0]], dtype=np.float32)
    q = quant.quantize_int4(x, granularity="channel")
    assert q.scales.tolist() == [[0x3C00]]  # fp16(7/7) = 1.0
    assert q.integers().tolist() == [[1, -7, 4, 0]]  # 3.5 -> 4 (RNE)


def test_int4_asymmetric_named():
    x = np.array([[0.0, 15.0, 7.5, 1.0]], dtype=np.float32)  # lo 0, hi 15 -> scale 1, z 0
    q = quant.quantize_int4(x, granularity="channel", symmetric=False)
    assert q.scales.tolist() == [[0x3C00]] and q.zero_points.tolist() == [[0]]
    assert q.integers().tolist() == [[0, 15, 8, 1]]
    y = np.array([[-5.0, 10.0, 0.0, 1.0]], dtype=np.float32)  # scale 1, z = 5
    q = quant.quantize_int4(y, granularity="channel", symmetric=False)
    assert q.zero_points.tolist() == [[5]] and q.integers().tolist() == [[0, 15, 5, 6]]
    assert quant.dequantize(q).tolist() == y.tolist()


def test_int4_zero_input():
    for sym in (True, False):
        q = quant.quantize_int4(np.zeros((2, 64)), granularity="group", group=32, symmetric=sym)
        assert (quant.dequantize(q) == 0).all()


# ---- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("fn", [quant.quantize_mxfp4, quant.quantize_nvfp4, quant.quantize_int4])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_quantizers_reject_nan_inf(fn, bad):
    x = np.ones(128, dtype=np.float32)
    x[5] = bad
    with pytest.raises(ValueError, match="NaN or Inf"):
        fn(x)


def test_block_that_does_not_divide_k():
    with pytest.raises(ValueError, match="block 32 does not divide K = 48"):
        quant.quantize_mxfp4(np.zeros(48))
    with pytest.raises(ValueError, match="block 16 does not divide K = 24"):
        quant.quantize_nvfp4(np.zeros(24))
    with pytest.raises(ValueError, match="block 64 does not divide K = 96"):
        quant.quantize_int4(np.zeros(96), granularity="group", group=64)
    with pytest.raises(ValueError, match="positive integer"):
        quant.quantize_mxfp4(np.zeros(32), block=0)


def test_unknown_format_and_granularity():
    with pytest.raises(ValueError, match="unknown format 'fp8'"):
        quant.quantize(np.zeros(32), "fp8")
    with pytest.raises(ValueError, match="unknown granularity 'row'"):
        quant.quantize_int4(np.zeros(32), granularity="row")
    with pytest.raises(ValueError, match="scale_format"):
        quant.BlockQuantized(np.zeros(32, np.uint8), np.zeros(1, np.uint8), 32, "e5m2")
    assert quant.quantize(np.ones(32), "mxfp4").scale_format == "e8m0"


def test_block_quantized_validates_shapes_and_is_frozen():
    with pytest.raises(ValueError, match="scales shape must be"):
        quant.BlockQuantized(np.zeros((2, 32), np.uint8), np.zeros(2, np.uint8), 32, "e8m0")
    with pytest.raises(ValueError, match="codes must be integer codes 0..15"):
        quant.BlockQuantized(np.full(32, 16), np.zeros(1, np.uint8), 32, "e8m0")
    q = quant.quantize_mxfp4(np.ones(32))
    with pytest.raises(AttributeError):
        q.block = 16


def test_sqnr_db():
    assert quant.sqnr_db([1.0, 1.0], [1.0, 0.0]) == pytest.approx(10 * math.log10(2))
    assert quant.sqnr_db([1.0, 2.0], [1.0, 2.0]) == math.inf
    with pytest.raises(ValueError, match="shapes differ"):
        quant.sqnr_db([1.0], [1.0, 2.0])


def test_exact_ref_helpers_sane():
    assert round_half_even(Fraction(5, 2)) == 2 and round_half_even(Fraction(7, 2)) == 4
    assert E2M1_MAGNITUDES[-1] == 6


def test_int4_fp16_scale_rounds_up_for_tiny_ranges():
    """A range whose scale is an FP16 subnormal: rounding up keeps every element in range."""
    x = np.full((1, 64), 2.0**-23, dtype=np.float32)
    x[0, 1] = 1.4 * 2.0**-20
    for sym in (True, False):
        q = quant.quantize_int4(x, granularity="channel", symmetric=sym)
        s = float(q.scale_values()[0, 0])
        assert s > 0 and s * (7 if sym else 15) >= float(x.max())
        err = np.abs(x.astype(np.float64) - quant.dequantize(q))
        assert (err <= s / 2).all()
