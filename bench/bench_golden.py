"""Golden-model speed: the quantizers and gemv_reference on a 4096 x 4096 problem.

Each figure is the median wall time of a few runs on one core's worth of numpy.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from golden import gemv_reference, quant, sparse

M = K = 4096
REPEATS = 5


def _median_s(fn, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def run() -> dict:
    rng = np.random.default_rng(0)
    w = (rng.standard_normal((M, K)) * 0.02).astype(np.float32)
    x = rng.standard_normal(K).astype(np.float32)
    wq = quant.quantize_mxfp4(sparse.prune_2_4(w))
    xq = quant.quantize_mxfp4(x)

    t_mx = _median_s(lambda: quant.quantize_mxfp4(w))
    t_nv = _median_s(lambda: quant.quantize_nvfp4(w))
    t_prune = _median_s(lambda: sparse.prune_2_4(w), 3)
    t_gemv = _median_s(lambda: gemv_reference(wq, xq))
    n = M * K
    return {
        "quantize_mxfp4_4096x4096_s": t_mx,
        "quantize_mxfp4_melem_per_s": n / t_mx / 1e6,
        "quantize_nvfp4_4096x4096_s": t_nv,
        "quantize_nvfp4_melem_per_s": n / t_nv / 1e6,
        "prune_2_4_4096x4096_s": t_prune,
        "gemv_reference_4096x4096_s": t_gemv,
        "gemv_reference_gmac_per_s": n / t_gemv / 1e9,
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:40s} {value:.6g}")
