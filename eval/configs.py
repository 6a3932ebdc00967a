"""Weight-format configurations of the study: W (out, in) float32 -> dequantised float32.

Quantization runs along K (the input axis, the last axis of a GGUF weight) through the
golden quantizers (:mod:`golden.quant`, :mod:`golden.sparse`). Applied to the 7 linear
layers of every block; the embedding / tied output head (Q8_0 in the file) and the norms
stay at the baseline. Where a group does not divide K (g128 with K = 576), K is padded
with zeros to the next multiple (zeros do not change a group's absmax) and cut after, so
the last group of such a row holds 64 weights.

``BITS`` gives the storage bits per weight (codes + scales + zero points + 2:4 patterns).
"""

from __future__ import annotations

import numpy as np

from golden import quant, sparse
from golden.kernels import hmx


def _padded(w: np.ndarray, mult: int):
    k = w.shape[-1]
    pad = (-k) % mult
    return (np.pad(w, ((0, 0), (0, pad))) if pad else w), k


def int4(w, *, granularity="group", group=None, symmetric=True):
    if granularity == "group":
        wp, k = _padded(w, group)
        return quant.dequantize(quant.quantize_int4(wp, granularity="group", group=group,
                                                    symmetric=symmetric))[:, :k]
    return quant.dequantize(quant.quantize_int4(w, granularity=granularity,
                                                symmetric=symmetric))


def mxfp4(w):
    return quant.dequantize(quant.quantize_mxfp4(w))


def nvfp4(w):
    return quant.dequantize(quant.quantize_nvfp4(w))


def mxfp4_2of4(w):
    return quant.dequantize(quant.quantize_mxfp4(sparse.prune_2_4(w)))


def _grouped(w, to_groups, from_groups):
    """Symmetric INT4, groups of 32 taken by ``to_groups`` on the GEMM layout W.T (K x N)."""
    wt = np.ascontiguousarray(w.T)
    g = to_groups(wt)
    d = quant.dequantize(quant.quantize_int4(g, granularity="group", group=32))
    return np.ascontiguousarray(from_groups(d, wt.shape).T)


def tile_group(w):
    """INT4 g32 on HMX tile groups: each group a 2 (K) x 16 (N) micro-tile of the layout."""
    return _grouped(w, hmx.tile_groups, hmx.untile_groups)


def common_group(w):
    """INT4 g32 on conventional groups, 32 x 1 strips along K, through the same path."""
    return _grouped(w, hmx.common_groups, hmx.uncommon_groups)


#: name -> (function W -> W', bits per weight, description)
CONFIGS = {
    "int4_per_channel": (lambda w: int4(w, granularity="channel"), 4.0,
                         "INT4 symmetric, one FP16 scale per output channel"),
    "int4_g128": (lambda w: int4(w, group=128), 4 + 16 / 128,
                  "INT4 symmetric, FP16 scale per 128 along K"),
    "int4_g32": (lambda w: int4(w, group=32), 4 + 16 / 32,
                 "INT4 symmetric, FP16 scale per 32 along K"),
    "int4_asym_g32": (lambda w: int4(w, group=32, symmetric=False), 4 + 20 / 32,
                      "INT4 asymmetric g32 (the baseline's own grid: lossless by construction)"),
    "mxfp4": (mxfp4, 4 + 8 / 32, "MXFP4: E2M1, E8M0 scale per 32"),
    "nvfp4": (nvfp4, 4 + 8 / 16, "NVFP4: E2M1, E4M3 scale per 16, FP32 tensor scale"),
    "mxfp4_2of4": (mxfp4_2of4, (2 * 4 + 3) / 4 + 8 / 32,
                   "2:4 pruned, then MXFP4 (2 codes + 3-bit pattern per 4)"),
    "tile_group": (tile_group, 4 + 16 / 32, "INT4 g32 on HMX 2x16 tile groups"),
    "common_group": (common_group, 4 + 16 / 32, "INT4 g32 on 32x1 strips (same path)"),
}

#: Q4_1: 4-bit codes + FP16 scale + FP16 min per 32.
BASELINE_BITS = 4 + 32 / 32


def apply(weights, name: str):
    """A copy of ``weights`` (:class:`eval.model.LlamaWeights`) with every linear layer
    quantised by configuration ``name``."""
    fn = CONFIGS[name][0]
    return weights.replace({n: fn(weights.tensors[n]).astype(np.float32)
                            for n in weights.linear_names()})
