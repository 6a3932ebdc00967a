"""LUT-based exp for safe softmax (seeds/002).

Safe softmax subtracts the row maximum first, so every exponent argument ``d = x - max`` is
<= 0 and its FP16 sign bit carries no information. Dropping it, the 15 remaining bits index a
32768-entry FP16 table (64 KiB, inside vgather's 64 KiB reach)::

    EXP_LUT[i] = fp16( exp( -h(i) ) )      h(i) = the FP16 number with bit pattern i

computed in float64 and rounded once to FP16. Pattern 0x7C00 (Inf) gives exp(-Inf) = 0, so
masked (-Inf) scores need no special case; the NaN patterns (0x7C01..0x7FFF) give NaN.

:func:`softmax_lut` computes, along ``axis``::

    x16 = fp16(x);  m = max(x16);  d = fp16(x16 - m)          (FP16 subtract, RNE)
    e   = EXP_LUT[bits(d) & 0x7FFF]                           (FP16)
    p   = fp32(e) / sum_fp32(e)                               (FP32 sum and divide)

and returns float32. A row that is all -Inf gives NaN (there is no distribution).
"""

from __future__ import annotations

import numpy as np


def _exp_lut() -> np.ndarray:
    h = np.arange(0x8000, dtype=np.uint16).view(np.float16).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore"):
        t = np.exp(-h).astype(np.float16)
    t.setflags(write=False)
    return t


#: float16[32768]: exp(t) for t <= 0, indexed by the FP16 bits of t with the sign dropped.
EXP_LUT: np.ndarray = _exp_lut()


def exp_lut(d) -> np.ndarray:
    """exp(d) for FP16 ``d <= 0`` by table lookup (the sign bit is ignored): float16."""
    d = np.asarray(d, dtype=np.float16)
    return EXP_LUT[d.view(np.uint16) & 0x7FFF]


def softmax_lut(x, axis: int = -1) -> np.ndarray:
    """Safe softmax of FP16 ``x`` along ``axis`` with exp from :data:`EXP_LUT`: float32."""
    with np.errstate(over="ignore", invalid="ignore"):
        x16 = np.asarray(x).astype(np.float16)  # beyond +-65504 -> +-Inf (IEEE)
        m = np.max(x16, axis=axis, keepdims=True)
        d = x16 - m
    e = exp_lut(d).astype(np.float32)
    with np.errstate(invalid="ignore", divide="ignore"):
        return e / np.sum(e, axis=axis, keepdims=True, dtype=np.float32)


def softmax_exact(x, axis: int = -1) -> np.ndarray:
    """float64 safe softmax, the reference."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)
