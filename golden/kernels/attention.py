"""FP16 FlashAttention with online softmax and FP32 accumulation (seeds/002, Algorithm 1).

Shapes: ``q`` (Hq, Tq, D), ``k`` and ``v`` (Hkv, Tk, D), with Hq a multiple of Hkv
(grouped-query attention: query head h reads kv head ``h // (Hq // Hkv)``). Inputs are
rounded to FP16 first. With ``causal=True`` query ``i`` sits at position ``Tk - Tq + i``
(the queries are the last Tq tokens, as in prefill or decode) and sees keys ``j <= Tk-Tq+i``.

For each block of ``block`` keys, per query row, with ``scale = 1/sqrt(D)``::

    S   = (q @ k_blk^T) * scale               FP32 products and sums (the matrix unit)
    exp="lut":   S16 = fp16(S); m' = max(m, rowmax(S16)) in FP16
                 P = EXP_LUT[fp16(S16 - m')], alpha = EXP_LUT[fp16(m - m')]   (FP16)
    exp="exact": m' = max(m, rowmax(S)); P = exp(S - m'), alpha = exp(m - m')   (FP32)
    l   = alpha * l + rowsum(P)                FP32
    O   = alpha * O + P @ v_blk                FP32 accumulation (P, v as FP16 values)

and the result is ``O / l`` in float32. Masked scores are -Inf and contribute exp = 0.
"""

from __future__ import annotations

import numpy as np

from .softmax import EXP_LUT

EXP_MODES = ("lut", "exact")


def _lut(d16: np.ndarray) -> np.ndarray:
    return EXP_LUT[d16.view(np.uint16) & 0x7FFF]


def _check(q, k, v, causal):
    q, k, v = (np.asarray(a) for a in (q, k, v))
    if q.ndim != 3 or k.ndim != 3 or v.ndim != 3:
        raise ValueError("q, k, v must be 3-D (heads, tokens, head_dim)")
    hq, tq, d = q.shape
    hkv, tk, _ = k.shape
    if k.shape != v.shape or k.shape[2] != d:
        raise ValueError(f"k and v must share shape (Hkv, Tk, {d}), not {k.shape}, {v.shape}")
    if hkv == 0 or hq % hkv:
        raise ValueError(f"query heads ({hq}) must be a multiple of kv heads ({hkv})")
    if causal and tq > tk:
        raise ValueError(f"causal attention needs Tq <= Tk, not {tq} > {tk}")
    return q, k, v


def flash_attention(q, k, v, *, causal: bool = True, exp: str = "lut",
                    block: int = 256) -> np.ndarray:
    """FlashAttention of FP16 q, k, v with FP32 accumulation: float32 (Hq, Tq, D)."""
    if exp not in EXP_MODES:
        raise ValueError(f"exp must be one of {EXP_MODES}, not {exp!r}")
    if block <= 0:
        raise ValueError(f"block must be positive, not {block}")
    q, k, v = _check(q, k, v, causal)
    hq, tq, d = q.shape
    hkv, tk, _ = k.shape
    g = hq // hkv
    scale = np.float32(1.0 / np.sqrt(d))
    # (Hkv, G*Tq, D): the G query heads of one kv head stacked along rows.
    qf = q.astype(np.float16).astype(np.float32).reshape(hkv, g * tq, d)
    kf = k.astype(np.float16).astype(np.float32)
    vf = v.astype(np.float16).astype(np.float32)
    pos = np.tile(np.arange(tq) + (tk - tq), g)  # absolute position of each stacked row
    lut = exp == "lut"
    m = np.full((hkv, g * tq, 1), -np.inf, dtype=np.float16 if lut else np.float32)
    l_sum = np.zeros((hkv, g * tq, 1), dtype=np.float32)
    o = np.zeros((hkv, g * tq, d), dtype=np.float32)
    last = tk if not causal else int(pos.max()) + 1
    with np.errstate(invalid="ignore", over="ignore"):
        for j0 in range(0, last, block):
            j1 = min(tk, j0 + block)
            s = np.matmul(qf, kf[:, j0:j1].transpose(0, 2, 1)) * scale
            if causal and j1 - 1 > pos.min():
                mask = np.arange(j0, j1)[None, :] > pos[:, None]
                s[:, mask] = -np.inf
            if lut:
                s = s.astype(np.float16)
            m_new = np.maximum(m, s.max(axis=-1, keepdims=True))
            # A row with no visible key yet keeps m = -Inf: use 0 so that -Inf - 0 = -Inf.
            m_ref = np.where(np.isneginf(m_new), m_new.dtype.type(0), m_new)
            if lut:
                p = _lut(s - m_ref).astype(np.float32)
                alpha = _lut(m - m_ref).astype(np.float32)
            else:
                p = np.exp(s - m_ref)
                alpha = np.exp(m - m_ref)
            l_sum = alpha * l_sum + p.sum(axis=-1, keepdims=True, dtype=np.float32)
            o = alpha * o + np.matmul(p, vf[:, j0:j1])
            m = m_new
    with np.errstate(invalid="ignore", divide="ignore"):
        out = o / l_sum
    return out.reshape(hq, tq, d)


def attention_reference(q, k, v, *, causal: bool = True) -> np.ndarray:
    """float64 attention of the FP16-rounded inputs: float64 (Hq, Tq, D)."""
    q, k, v = _check(q, k, v, causal)
    hq, tq, d = q.shape
    hkv, tk, _ = k.shape
    g = hq // hkv
    qd = q.astype(np.float16).astype(np.float64).reshape(hkv, g, tq, d)
    kd = k.astype(np.float16).astype(np.float64)
    vd = v.astype(np.float16).astype(np.float64)
    s = np.einsum("hgtd,hsd->hgts", qd, kd) / np.sqrt(d)
    if causal:
        s = np.where(np.arange(tk)[None, :] > (np.arange(tq) + tk - tq)[:, None], -np.inf, s)
    s -= s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    p = e / e.sum(axis=-1, keepdims=True)
    return np.einsum("hgts,hsd->hgtd", p, vd).reshape(hq, tq, d)
