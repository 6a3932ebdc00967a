"""LUT-based GEMV in the T-MAC style (decode phase of seeds/004).

Weights: unsigned ``bits``-bit integers ``q`` (M, K) in the bit-serial layout of
:mod:`golden.kernels.tman` (planes (bits, M, K // 8)), per group of ``group`` along K an FP16
scale ``s`` and integer zero point ``z``, i.e. ``w = (q - z) * s``. Activations ``x`` (K,).

1. Precompute, once per activation vector, for every 4 activations ``x[4c .. 4c+3]`` the sums
   of all 16 subsets: ``T[c, n] = sum_{t: bit t of n} x[4c + t]`` (FP32, K/4 x 16 table).
2. For each weight row and bit plane ``i``, each nibble of plane bits indexes its table:
   ``P_i[r, g] = sum_{c in group g} T[c, nibble_i(r, c)]`` (= sum of x over the weights
   whose bit i is set).
3. Bit-serial accumulation: ``A[r, g] = sum_i 2^i P_i[r, g]`` (= sum_k q[r, k] x[k]).
4. ``y[r] = sum_g s[r, g] * (A[r, g] - z[r, g] * X[g])`` with ``X[g] = sum_{k in g} x[k]``.

Everything is FP32, so the result equals the dequant GEMV ``(q - z) * s @ x`` within FP32
rounding (the summation order differs); no multiply by a weight happens before the scale.
"""

from __future__ import annotations

import numpy as np

from .tman import _check_bits, _check_params


def activation_tables(x) -> np.ndarray:
    """float32 (K // 4, 16): the subset sums of each 4 activations."""
    x = np.asarray(x, dtype=np.float32)
    if x.ndim != 1 or x.shape[0] % 4:
        raise ValueError(f"x must be 1-D with a length that is a multiple of 4, not {x.shape}")
    n = np.arange(16)
    sel = ((n[:, None] >> np.arange(4)[None, :]) & 1).astype(np.float32)  # (16, 4)
    return x.reshape(-1, 4) @ sel.T


def lut_gemv(planes, scales, zeros, x, *, bits: int, group: int, rows: int = 1024) -> np.ndarray:
    """T-MAC-style LUT GEMV over bit-serial weights: float32 (M,)."""
    _check_bits(bits)
    planes = np.asarray(planes, dtype=np.uint8)
    if planes.ndim != 3 or planes.shape[0] != bits:
        raise ValueError(f"planes must have shape ({bits}, M, K // 8), not {planes.shape}")
    m, k = planes.shape[1], planes.shape[2] * 8
    scales, zeros = _check_params((m, k), scales, zeros, bits, group)
    x = np.asarray(x, dtype=np.float32)
    if x.shape != (k,):
        raise ValueError(f"x must have shape ({k},), not {x.shape}")
    table = activation_tables(x)  # (K/4, 16)
    flat = table.reshape(-1)
    ng = k // group
    base = (np.arange(k // 4, dtype=np.int32) * 16).reshape(1, ng, group // 4)
    xsum = x.reshape(ng, group).sum(axis=1, dtype=np.float32)
    y = np.empty(m, dtype=np.float32)
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        acc = np.zeros((r1 - r0, ng), dtype=np.float32)
        for i in range(bits):
            pl = planes[i, r0:r1]
            nib = np.empty((r1 - r0, k // 4), dtype=np.int32)
            nib[:, 0::2] = pl & 0xF
            nib[:, 1::2] = pl >> 4
            part = flat[nib.reshape(r1 - r0, ng, group // 4) + base].sum(axis=-1)
            acc += np.float32(1 << i) * part
        acc -= zeros[r0:r1].astype(np.float32) * xsum
        y[r0:r1] = (acc * scales[r0:r1].astype(np.float32)).sum(axis=1, dtype=np.float32)
    return y


def dequant_gemv(q, scales, zeros, x, *, group: int) -> np.ndarray:
    """The reference: dequantise ``(q - z) * s`` in FP32, then a float32 GEMV."""
    q = np.asarray(q)
    _m, _k = q.shape
    z = np.repeat(np.asarray(zeros, dtype=np.float32), group, axis=1)
    s = np.repeat(np.asarray(scales, dtype=np.float16).astype(np.float32), group, axis=1)
    w = (q.astype(np.float32) - z) * s
    return w @ np.asarray(x, dtype=np.float32)
