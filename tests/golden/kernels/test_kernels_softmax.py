"""LUT exp (32768-entry FP16 table) and safe softmax."""

import math

import numpy as np
import pytest

from golden.kernels import EXP_LUT, softmax_exact, softmax_lut
from golden.kernels.softmax import exp_lut


def test_table_entries_by_name():
    assert EXP_LUT.shape == (32768,) and EXP_LUT.dtype == np.float16
    assert EXP_LUT[0] == 1.0  # exp(-0)
    assert EXP_LUT[0x3C00] == np.float16(math.exp(-1.0))  # index of 1.0
    assert EXP_LUT[0x7C00] == 0.0  # exp(-inf)
    assert np.isnan(EXP_LUT[0x7E00])  # NaN pattern
    assert EXP_LUT[0x4A00] == np.float16(math.exp(-12.0))  # 12.0 = 0x4A00
    assert EXP_LUT[0x0001] == 1.0  # smallest subnormal
    assert EXP_LUT[0x7BFF] == 0.0  # -65504


def test_every_finite_entry_is_correctly_rounded():
    i = np.arange(0x7C00, dtype=np.uint16)
    t = -i.view(np.float16).astype(np.float64)
    assert np.array_equal(EXP_LUT[:0x7C00], np.exp(t).astype(np.float16))


def test_sign_bit_is_ignored():
    d = np.array([-0.5, 0.5, -3.0], dtype=np.float16)
    assert np.array_equal(exp_lut(d), exp_lut(-np.abs(d)))


def test_softmax_error_against_float64():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((64, 4096)) * 4).astype(np.float16)
    p = softmax_lut(x)
    ref = softmax_exact(x.astype(np.float64))
    assert p.dtype == np.float32
    assert np.allclose(p.sum(axis=-1), 1.0, atol=1e-5)
    # FP16 exp: relative error per entry within ~1 FP16 ulp of the subtract + 1 of the table
    rel = np.abs(p - ref) / ref.max(axis=-1, keepdims=True)
    assert rel.max() < 4e-3


def test_softmax_masked_and_axis():
    x = np.array([[0.0, -np.inf, 1.0], [-np.inf, -np.inf, -np.inf]], dtype=np.float16)
    p = softmax_lut(x)
    assert p[0, 1] == 0.0
    assert np.isclose(p[0].sum(), 1.0)
    assert np.all(np.isnan(p[1]))  # no distribution when everything is masked
    y = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float16)
    assert np.allclose(softmax_lut(y, axis=0), softmax_lut(y.T).T)


@pytest.mark.parametrize("big", [65504.0, -65504.0])
def test_softmax_extreme_values(big):
    x = np.array([big, 0.0], dtype=np.float16)
    p = softmax_lut(x)
    assert p.tolist() == ([1.0, 0.0] if big > 0 else [0.0, 1.0])
