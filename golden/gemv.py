"""The bit-exact block-scaled GEMV reference (SPEC section 4).

For weights W (M x K E2M1 codes, block scales S_w[i, b]) and activations x (K E2M1 codes,
block scales S_x[b])::

    p[i, b] = sum_{k in block b} w[i, k] * x[k]            exact, in units of 1/4
    q[i, b] = fl32(S_w[i, b] * S_x[b] * p[i, b])           one RNE rounding to binary32
    y[i]    = (((+0.0 + q[i, 0]) + q[i, 1]) + ...)         binary32 adds, RNE, increasing b

then every NaN is replaced by the canonical quiet NaN 0x7FC00000.

Why float64 is exact here: |p| <= 144 * block quarters (144 = 4 * 6 * 6), i.e. at most
14 significant bits for block <= 64. An E8M0 scale is a power of two; an E4M3 scale has
a 4-bit significand. So ``S_w * S_x * p / 4`` has at most 4 + 4 + 14 = 22 significant bits
(<= 24 for block <= 455) and a magnitude within [2**-256, 2**265], all far
inside float64's range and 53-bit significand: every float64 multiply below is exact, and
the single ``astype(float32)`` is the one RNE rounding, including overflow to +-Inf and
gradual underflow to subnormals or +-0 (IEEE conversion, no flush to zero). The adds are
numpy float32 adds (IEEE RNE, subnormals kept).
"""

from __future__ import annotations

import numpy as np

from . import formats
from .quant import BlockQuantized, scale_value

#: Bit pattern of the canonical quiet NaN every NaN output is replaced by.
CANONICAL_NAN_BITS = 0x7FC00000
CANONICAL_NAN = np.array([CANONICAL_NAN_BITS], dtype=np.uint32).view(np.float32)[0]

# E2M1 value * 2 is an integer (0, 1, 2, 3, 4, 6, 8, 12 and negatives), so the product of two
# doubled values is the product in units of 1/4.
_E2M1_TWICE = (formats.E2M1_VALUES * 2).astype(np.int16)
_E2M1_TWICE.setflags(write=False)


def _check_codes(codes, what: str) -> np.ndarray:
    c = np.asarray(codes)
    if c.dtype.kind not in "iu" or (c.size and (c.min() < 0 or c.max() > 15)):
        raise ValueError(f"{what} must be E2M1 codes 0..15")
    return c.astype(np.uint8)


def block_partial_sums(w_codes, x_codes, block: int) -> np.ndarray:
    """Exact block partial sums ``p[i, b]`` in units of 1/4 (int32, shape (M, K // block)).

    ``p[i, b] = 4 * sum_{k in block b} e2m1(w[i, k]) * e2m1(x[k])``; each term is
    ``formats.E2M1_PRODUCT_QUARTERS[w, x]``.

    Raises
    ------
    ValueError
        On bad codes, mismatched K, or a block that does not divide K.
    """
    w = _check_codes(w_codes, "weight codes")
    x = _check_codes(x_codes, "activation codes")
    if w.ndim != 2 or x.ndim != 1 or w.shape[1] != x.shape[0]:
        raise ValueError(f"need weights (M, K) and activations (K,), got {w.shape} and {x.shape}")
    m, k = w.shape
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block <= 0:
        raise ValueError(f"block must be a positive integer, not {block!r}")
    if k % block:
        raise ValueError(f"block {block} does not divide K = {k}")
    nb = k // block
    wt = _E2M1_TWICE[w].reshape(m, nb, block)
    xt = _E2M1_TWICE[x].reshape(nb, block)
    # int16 products (|.| <= 144) summed in int32: exact.
    return np.einsum("mbk,bk->mb", wt, xt, dtype=np.int32)


def scale_products(w: BlockQuantized, x: BlockQuantized) -> np.ndarray:
    """``S_w[i, b] * S_x[b]`` as exact float64 values, shape (M, K // block); NaN for NaN codes."""
    return w.scale_values() * x.scale_values()[None, :]


def block_terms(w: BlockQuantized, x: BlockQuantized) -> np.ndarray:
    """The rounded block terms ``q[i, b] = fl32(S_w * S_x * p)`` (float32, (M, K // block)).

    NaN is not canonicalised here (see :func:`canonicalize_nan`).
    """
    _check_pair(w, x)
    p = block_partial_sums(w.codes, x.codes, w.block)
    with np.errstate(over="ignore", invalid="ignore"):
        # exact in float64 (see the module docstring); 0.25 is a power of two.
        q64 = scale_products(w, x) * (p.astype(np.float64) * 0.25)
        return q64.astype(np.float32)


def accumulate_blocks(q) -> np.ndarray:
    """``y[i] = (((+0.0 + q[i, 0]) + q[i, 1]) + ...)`` in binary32, then canonical NaN."""
    q = np.asarray(q, dtype=np.float32)
    if q.ndim != 2:
        raise ValueError(f"block terms must be (M, nblocks), got shape {q.shape}")
    y = np.zeros(q.shape[0], dtype=np.float32)  # +0.0
    with np.errstate(over="ignore", invalid="ignore"):
        for b in range(q.shape[1]):
            y = y + q[:, b]
    return canonicalize_nan(y)


def canonicalize_nan(y) -> np.ndarray:
    """Copy of float32 ``y`` with every NaN replaced by 0x7FC00000."""
    y = np.array(y, dtype=np.float32, copy=True)
    y[np.isnan(y)] = CANONICAL_NAN
    return y


def _check_pair(w: BlockQuantized, x: BlockQuantized) -> None:
    if not isinstance(w, BlockQuantized) or not isinstance(x, BlockQuantized):
        raise TypeError("gemv_reference takes two BlockQuantized tensors (weights, activations)")
    if w.codes.ndim != 2 or x.codes.ndim != 1:
        raise ValueError(
            f"need weights of shape (M, K) and activations of shape (K,), "
            f"got {w.codes.shape} and {x.codes.shape}"
        )
    if w.codes.shape[1] != x.codes.shape[0]:
        raise ValueError(f"K differs: weights {w.codes.shape[1]}, activations {x.codes.shape[0]}")
    if w.block != x.block:
        raise ValueError(f"block sizes differ: weights {w.block}, activations {x.block}")


def gemv_reference(w: BlockQuantized, x: BlockQuantized) -> np.ndarray:
    """The bit-exact NPU GEMV: float32[M] per SPEC section 4 (module docstring).

    Weights may be 2:4 sparse; they are given unpacked (pruned positions hold zero codes),
    so sparse and dense use the same formula. Scale formats may differ between ``w`` and
    ``x``. Tensor scales are *not* applied (the host multiplies by ``g_w * g_x``).

    Raises
    ------
    ValueError
        On mismatched shapes or block sizes.
    """
    return accumulate_blocks(block_terms(w, x))


__all__ = [
    "CANONICAL_NAN",
    "CANONICAL_NAN_BITS",
    "accumulate_blocks",
    "block_partial_sums",
    "block_terms",
    "canonicalize_nan",
    "gemv_reference",
    "scale_products",
    "scale_value",
]
