"""Golden LLM kernels: dequant throughput, LUT vs arithmetic, FlashAttention at 4096 context.

All numbers are numpy on the host CPU (the golden model's speed, not the NPU's): they
compare the kernel formulations with each other, on 4096 x 4096 weights.
"""

from __future__ import annotations

import time
from functools import partial

import numpy as np

from golden.kernels import attention_reference, dequant, flash_attention, lutgemv, softmax, tman
from golden.sparse import pack_nibbles


def _best(fn, repeat=3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _softmax_fp32(x):
    """The same safe softmax with float32 ``np.exp`` instead of the table."""
    x = x.astype(np.float32)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def run() -> dict:
    rng = np.random.default_rng(0)
    m = k = 4096
    out: dict[str, float] = {}
    codes = rng.integers(0, 16, size=(m, k), dtype=np.uint8)
    packed = pack_nibbles(codes)
    gbytes = packed.nbytes / 1e9
    for group in (32, 128):
        scales = (rng.standard_normal((m, k // group)) * 0.01).astype(np.float16)
        for fmt in ("int4", "e2m1", "nf4"):
            t_ar = _best(partial(dequant.dequant_arith, packed, scales, fmt=fmt, group=group))
            t_16 = _best(partial(dequant.dequant_lut16, packed, scales, fmt=fmt, group=group))
            key = f"kernels_dequant_{fmt}_g{group}"
            out[f"{key}_arith_gbps"] = gbytes / t_ar
            out[f"{key}_lut16_gbps"] = gbytes / t_16
            out[f"{key}_lut_vs_arith_speed_ratio"] = t_ar / t_16
        t_bb = _best(partial(dequant.dequant_lut_byte, packed, scales, fmt="int4", group=group,
                                                      scale="baked"))
        t_bc = _best(partial(dequant.dequant_lut_byte, packed, scales, fmt="int4", group=group,
                                                      scale="broadcast"))
        out[f"kernels_dequant_int4_g{group}_lutbyte_baked_gbps"] = gbytes / t_bb
        out[f"kernels_dequant_int4_g{group}_lutbyte_broadcast_gbps"] = gbytes / t_bc
    # T-MAN two-level LUT vs plain arithmetic dequant of the same integers.
    for bits in (2, 4):
        q = rng.integers(0, 1 << bits, size=(m, k), dtype=np.uint8)
        sc = (rng.standard_normal((m, k // 64)) * 0.01).astype(np.float16)
        zp = rng.integers(0, 1 << bits, size=(m, k // 64))
        planes = tman.to_bit_serial(q, bits)
        t_lut = _best(partial(tman.tman_dequant, planes, sc, zp, bits=bits, group=64), 2)
        t_pl = _best(partial(tman.dequant_plain, q, sc, zp, bits=bits, group=64), 2)
        out[f"kernels_tman_int{bits}_g64_gbps"] = planes.nbytes / 1e9 / t_lut
        out[f"kernels_tman_int{bits}_g64_lut_vs_arith_speed_ratio"] = t_pl / t_lut
        x = rng.standard_normal(k).astype(np.float32)
        out[f"kernels_lut_gemv_int{bits}_4096_ms"] = 1e3 * _best(
            partial(lutgemv.lut_gemv, planes, sc, zp, x, bits=bits, group=64), 2)
        out[f"kernels_dequant_gemv_int{bits}_4096_ms"] = 1e3 * _best(
            partial(lutgemv.dequant_gemv, q, sc, zp, x, group=64), 2)
    # Softmax: LUT exp vs float32 exp over 64 rows of 4096.
    s = (rng.standard_normal((64, 4096)) * 4).astype(np.float16)
    t_l = _best(partial(softmax.softmax_lut, s))
    t_e = _best(partial(_softmax_fp32, s))
    out["kernels_softmax_lut_64x4096_ms"] = 1e3 * t_l
    out["kernels_softmax_fp32_exp_64x4096_ms"] = 1e3 * t_e
    ref = softmax.softmax_exact(s.astype(np.float64))
    out["kernels_softmax_lut_max_abs_err"] = float(np.abs(softmax.softmax_lut(s) - ref).max())
    out["kernels_softmax_lut_max_rel_err_of_row_max"] = float(
        (np.abs(softmax.softmax_lut(s) - ref) / ref.max(-1, keepdims=True)).max())
    # FlashAttention at 4096 context, 32 query heads / 8 kv heads, head_dim 128.
    kk = rng.standard_normal((8, 4096, 128)).astype(np.float16)
    vv = rng.standard_normal((8, 4096, 128)).astype(np.float16)
    for tq in (1, 128):
        qq = rng.standard_normal((32, tq, 128)).astype(np.float16)
        ref = attention_reference(qq, kk, vv, causal=True)
        for exp in ("exact", "lut"):
            out[f"kernels_flash_attention_ctx4096_q{tq}_{exp}_ms"] = 1e3 * _best(
                partial(flash_attention, qq, kk, vv, causal=True, exp=exp), 2)
            err = np.abs(flash_attention(qq, kk, vv, causal=True, exp=exp) - ref)
            out[f"kernels_flash_attention_ctx4096_q{tq}_{exp}_max_abs_err"] = float(err.max())
            out[f"kernels_flash_attention_ctx4096_q{tq}_{exp}_rms_err"] = float(
                np.sqrt(np.mean(err**2)))
    return out
