"""FP16 FlashAttention (LUT and exact exp) against float64 attention."""

import numpy as np
import pytest

from golden.kernels import attention_reference, flash_attention


def _qkv(rng, hq, hkv, tq, tk, d, scale=1.0):
    q = (rng.standard_normal((hq, tq, d)) * scale).astype(np.float16)
    k = (rng.standard_normal((hkv, tk, d)) * scale).astype(np.float16)
    v = rng.standard_normal((hkv, tk, d)).astype(np.float16)
    return q, k, v


def _naive(q, k, v, causal):
    """Per head, per query plain loop in float64 (independent of the vectorised reference)."""
    hq, tq, d = q.shape
    hkv, tk, _ = k.shape
    out = np.zeros((hq, tq, d))
    for h in range(hq):
        kv = h // (hq // hkv)
        for i in range(tq):
            n = tk - tq + i + 1 if causal else tk
            s = k[kv, :n].astype(np.float64) @ q[h, i].astype(np.float64) / np.sqrt(d)
            e = np.exp(s - s.max())
            out[h, i] = (e / e.sum()) @ v[kv, :n].astype(np.float64)
    return out


@pytest.mark.parametrize("causal", [True, False])
def test_reference_equals_naive_loop(causal):
    rng = np.random.default_rng(0)
    q, k, v = _qkv(rng, 4, 2, 5, 9, 8)
    assert np.allclose(attention_reference(q, k, v, causal=causal), _naive(q, k, v, causal))


@pytest.mark.parametrize("exp, tol", [("exact", 2e-5), ("lut", 2e-2)])
@pytest.mark.parametrize("causal", [True, False])
def test_flash_attention_matches_float64(exp, tol, causal):
    rng = np.random.default_rng(1)
    q, k, v = _qkv(rng, 6, 2, 37, 300, 64, scale=1.5)
    out = flash_attention(q, k, v, causal=causal, exp=exp, block=64)
    ref = attention_reference(q, k, v, causal=causal)
    assert out.dtype == np.float32 and out.shape == q.shape
    err = np.abs(out - ref).max()
    assert err < tol, err
    # The FP16 score / exp path is measurably worse than FP32 exact exp, but bounded.
    if exp == "lut":
        exact = flash_attention(q, k, v, causal=causal, exp="exact", block=64)
        assert np.abs(exact - ref).max() < err


def test_block_size_does_not_change_the_exact_result_much():
    rng = np.random.default_rng(2)
    q, k, v = _qkv(rng, 2, 1, 16, 100, 32)
    a = flash_attention(q, k, v, exp="exact", block=7)
    b = flash_attention(q, k, v, exp="exact", block=1000)
    assert np.allclose(a, b, atol=1e-5)


def test_decode_at_4096_context():
    rng = np.random.default_rng(3)
    q, k, v = _qkv(rng, 32, 8, 1, 4096, 128)
    ref = attention_reference(q, k, v)
    for exp, tol in (("exact", 1e-5), ("lut", 5e-3)):
        assert np.abs(flash_attention(q, k, v, exp=exp) - ref).max() < tol


def test_first_query_attends_only_to_first_key_when_causal():
    rng = np.random.default_rng(4)
    q, k, v = _qkv(rng, 1, 1, 8, 8, 16)
    out = flash_attention(q, k, v, causal=True, exp="lut")
    assert np.array_equal(out[0, 0], v[0, 0].astype(np.float32))


@pytest.mark.parametrize(
    "shapes, kwargs, match",
    [
        (((3, 4, 8), (2, 4, 8), (2, 4, 8)), {}, "multiple"),
        (((2, 4, 8), (2, 4, 8), (2, 5, 8)), {}, "share shape"),
        (((2, 9, 8), (2, 4, 8), (2, 4, 8)), {}, "Tq <= Tk"),
        (((2, 4, 8), (2, 4, 8), (2, 4, 8)), {"exp": "poly"}, "exp"),
        (((2, 4), (2, 4, 8), (2, 4, 8)), {}, "3-D"),
    ],
)
def test_bad_arguments_raise(shapes, kwargs, match):
    q, k, v = (np.zeros(s, np.float16) for s in shapes)
    with pytest.raises(ValueError, match=match):
        flash_attention(q, k, v, **kwargs)
