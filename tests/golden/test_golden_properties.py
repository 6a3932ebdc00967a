"""Property tests (hypothesis): quantization error bounds, 2:4 invariants, pack round trips."""

from __future__ import annotations

import numpy as np
from exact_ref import gemv_exact
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from golden import formats, gemv_reference, quant, sparse

FAST = settings(max_examples=60, deadline=None)


def f32_arrays(shape, lo=-1e30, hi=1e30, subnormal=True):
    lo, hi = float(np.float32(lo)), float(np.float32(hi))
    return arrays(
        np.float32,
        shape,
        elements=st.floats(lo, hi, width=32, allow_nan=False, allow_subnormal=subnormal),
    )


def shapes(k_multiple):
    return st.tuples(st.integers(1, 3), st.integers(1, 3).map(lambda n: n * k_multiple))


def e2m1_half_step(v: np.ndarray) -> np.ndarray:
    """Largest RNE error on the E2M1 grid at |v| (in units of the block scale), counting
    saturation above 6."""
    a = np.abs(v)
    return np.select([a <= 2, a <= 4, a <= 6], [0.25, 0.5, 1.0], a - 6)


@FAST
@given(st.data(), st.sampled_from([8, 16, 32]))
def test_mxfp4_error_within_half_step(data, block):
    x = data.draw(f32_arrays(data.draw(shapes(block))))
    q = quant.quantize_mxfp4(x, block=block)
    X = np.repeat(q.scales.astype(np.int64) - 127, block, axis=-1)
    scale = np.ldexp(1.0, X)
    v = x.astype(np.float64) / scale  # exact in float64
    assert (np.abs(v) < 8).all()  # amax / 2**(floor(log2 amax) - 2) < 8
    err = np.abs(x.astype(np.float64) - quant.dequantize(q).astype(np.float64))
    assert (err <= e2m1_half_step(v) * scale).all()


@FAST
@given(st.data(), st.sampled_from([16, 32]))
def test_nvfp4_error_within_half_step(data, block):
    x = data.draw(f32_arrays(data.draw(shapes(block)), -1e6, 1e6, subnormal=False))
    q = quant.quantize_nvfp4(x, block=block)
    s = np.repeat(formats.e4m3_to_float(q.scales).astype(np.float64), block, axis=-1)
    d = s * q.tensor_scale
    x64 = x.astype(np.float64)
    deq = quant.dequantize(q).astype(np.float64)
    nz = d > 0
    v = np.where(nz, x64 / np.where(nz, d, 1), 0)
    slack = 2.0**-20 * (np.abs(x64) + np.abs(deq)) + 2.0**-140
    bound = np.where(nz, e2m1_half_step(v) * d, np.abs(x64)) + slack
    assert (np.abs(x64 - deq) <= bound).all()
    assert (q.codes[~nz] & 7 == 0).all()  # a zero scale holds only zeros


@FAST
@given(
    st.data(),
    st.sampled_from([("tensor", None), ("channel", None), ("group", 32), ("group", 64)]),
    st.booleans(),
)
def test_int4_error_within_half_step(data, gran, symmetric):
    x = data.draw(f32_arrays(data.draw(shapes(64)), -1e4, 1e4, subnormal=False))
    q = quant.quantize_int4(x, granularity=gran[0], group=gran[1], symmetric=symmetric)
    s = q.scale_values().astype(np.float64)
    if gran[0] != "tensor":
        s = np.repeat(s, q.group, axis=-1)
    err = np.abs(x.astype(np.float64) - quant.dequantize(q).astype(np.float64))
    # the FP16 scale is rounded up, so nothing saturates: error <= half a step (+ the float32
    # rounding of x / scale)
    assert (err <= 0.5 * s * (1 + 2.0**-20) + 2.0**-24 * np.abs(x)).all()


@FAST
@given(st.data())
def test_prune_2_4_invariants(data):
    w = data.draw(
        arrays(
            np.float32,
            data.draw(shapes(4)),
            elements=st.sampled_from([0.0, 1.0, -1.0, 2.0, -2.0, 0.5, 3.0, -3.0]),
        )
    )
    p = sparse.prune_2_4(w)
    for g_in, g_out in zip(w.reshape(-1, 4), p.reshape(-1, 4), strict=True):
        assert ((g_out == g_in) | (g_out == 0)).all()
        order = sorted(range(4), key=lambda i: (-abs(float(g_in[i])), i))
        kept = set(order[:2])  # largest magnitudes, ties to the lower index
        for i in range(4):
            assert g_out[i] == (g_in[i] if i in kept else 0)
        assert (g_out != 0).sum() <= 2


@FAST
@given(st.data())
def test_compress_round_trip_after_prune_and_quantize(data):
    w = data.draw(f32_arrays(data.draw(shapes(32)), -100, 100))
    q = quant.quantize_mxfp4(sparse.prune_2_4(w))
    values, patterns = sparse.compress_2_4(q.codes)
    assert values.shape[-1] * 2 == q.codes.shape[-1] and (patterns <= 5).all()
    np.testing.assert_array_equal(sparse.decompress_2_4(values, patterns), q.codes)


@FAST
@given(
    arrays(np.uint8, st.tuples(st.integers(1, 3), st.integers(0, 40)), elements=st.integers(0, 15))
)
def test_pack_nibbles_round_trip(codes):
    packed = sparse.pack_nibbles(codes)
    assert packed.shape[-1] == (codes.shape[-1] + 1) // 2
    np.testing.assert_array_equal(sparse.unpack_nibbles(packed, codes.shape[-1]), codes)
    # element 2i is the low nibble of byte i
    if codes.shape[-1]:
        np.testing.assert_array_equal(packed[..., 0] & 0xF, codes[..., 0])


@FAST
@given(arrays(np.uint8, st.integers(0, 40), elements=st.integers(0, 7)))
def test_pack_patterns_round_trip(patterns):
    packed = sparse.pack_patterns(patterns)
    assert ((packed & 0x88) == 0).all()  # bit 3 of each field is 0
    np.testing.assert_array_equal(sparse.unpack_patterns(packed, len(patterns)), patterns)


@FAST
@given(
    st.data(),
    st.sampled_from([(16, "e4m3", "e4m3"), (32, "e8m0", "e8m0"), (32, "e8m0", "e4m3")]),
)
def test_gemv_reference_matches_exact_model(data, cfg):
    """Any codes and any scale codes (NaN, overflow and underflow included)."""
    block, wf, xf = cfg
    m = data.draw(st.integers(1, 3))
    nb = data.draw(st.integers(1, 3))
    k = block * nb
    wc = data.draw(arrays(np.uint8, (m, k), elements=st.integers(0, 15)))
    xc = data.draw(arrays(np.uint8, (k,), elements=st.integers(0, 15)))
    ws = data.draw(arrays(np.uint8, (m, nb), elements=st.integers(0, 255)))
    xs = data.draw(arrays(np.uint8, (nb,), elements=st.integers(0, 255)))
    w = quant.BlockQuantized(wc, ws, block, wf)
    x = quant.BlockQuantized(xc, xs, block, xf)
    got = gemv_reference(w, x).view(np.uint32)
    np.testing.assert_array_equal(got, gemv_exact(wc, ws, wf, xc, xs, xf, block))
