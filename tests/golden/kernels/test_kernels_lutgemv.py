"""T-MAC-style LUT GEMV against the dequant GEMV."""

import numpy as np
import pytest

from golden.kernels import lutgemv, tman


def test_activation_table_is_subset_sums():
    x = np.array([1.0, 2.0, 4.0, 8.0, 0.5, -1.0, 3.0, 0.25], dtype=np.float32)
    t = lutgemv.activation_tables(x)
    assert t.shape == (2, 16)
    for c in range(2):
        for n in range(16):
            assert t[c, n] == sum(x[4 * c + b] for b in range(4) if n >> b & 1)


def _case(rng, m, k, bits, group):
    q = rng.integers(0, 1 << bits, size=(m, k), dtype=np.uint8)
    scales = (rng.standard_normal((m, k // group)) * 0.02).astype(np.float16)
    zeros = rng.integers(0, 1 << bits, size=(m, k // group))
    x = rng.standard_normal(k).astype(np.float16).astype(np.float32)
    return q, scales, zeros, x


@pytest.mark.parametrize("bits", tman.BITS)
@pytest.mark.parametrize("m, k, group", [(8, 64, 32), (4096, 4096, 128)])
def test_lut_gemv_equals_dequant_gemv_within_fp32_rounding(bits, m, k, group):
    rng = np.random.default_rng(m + bits)
    q, scales, zeros, x = _case(rng, m, k, bits, group)
    y = lutgemv.lut_gemv(tman.to_bit_serial(q, bits), scales, zeros, x, bits=bits, group=group)
    ref = lutgemv.dequant_gemv(q, scales, zeros, x, group=group)
    # Both are FP32 sums of the same terms in different orders: bound by the magnitude sum.
    w = (q.astype(np.float64) - np.repeat(zeros, group, 1)) * np.repeat(
        scales.astype(np.float64), group, 1)
    exact = w @ x.astype(np.float64)
    bound = 4 * k * np.finfo(np.float32).eps * (np.abs(w) @ np.abs(x.astype(np.float64)))
    assert np.all(np.abs(y - exact) <= bound)
    assert np.all(np.abs(ref - exact) <= bound)


def test_bad_arguments_raise():
    q, scales, zeros, x = _case(np.random.default_rng(0), 2, 64, 2, 32)
    planes = tman.to_bit_serial(q, 2)
    with pytest.raises(ValueError, match="planes"):
        lutgemv.lut_gemv(planes, scales, zeros, x, bits=4, group=32)
    with pytest.raises(ValueError, match="x must"):
        lutgemv.lut_gemv(planes, scales, zeros, x[:32], bits=2, group=32)
