"""``python -m cosim.sim``: run a built-in block-scaled GEMV workload and print a summary.

For now the GEMV runs on the golden model (``golden.gemv_reference``); the NPU run will slot
in beside it (``run_golden`` / ``print_summary`` are the reusable pieces).

The workload imitates an LLM linear layer: weights ~ N(0, 1/K) with a per-output-row
spread (log-normal, sigma 0.3) and a few heavy-tailed entries (Student t, 4 degrees of
freedom); activations ~ N(0, 1) with about 1 % outlier features scaled by 20, as seen in
LLM hidden states. Weights are pruned 2:4 (unless ``--dense``) and quantized to E2M1 with
E8M0 block scales (MXFP4, block 32) or E4M3 block scales (NVFP4, block 16, with FP32 tensor
scales that the host applies after the GEMV).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, field

import numpy as np

from golden import gemv_reference, quant, sparse

SCALE_BLOCK = {"e8m0": 32, "e4m3": 16}
SCALE_NAME = {"e8m0": "MXFP4 (E2M1, E8M0 scale / 32)", "e4m3": "NVFP4 (E2M1, E4M3 scale / 16)"}


@dataclass(frozen=True)
class Workload:
    """A quantized GEMV problem plus the float data it came from.

    Members
    -------
    w, x : quant.BlockQuantized
        Quantized weights (M, K) and activations (K,).
    w_float : np.ndarray
        float32 weights as quantized (pruned when sparse).
    w_dense : np.ndarray
        float32 weights before pruning.
    x_float : np.ndarray
        float32 activations.
    sparse : bool
        True when the weights were pruned 2:4.
    """

    w: quant.BlockQuantized
    x: quant.BlockQuantized
    w_float: np.ndarray
    w_dense: np.ndarray
    x_float: np.ndarray
    sparse: bool
    times: dict = field(default_factory=dict)


def make_workload(m: int, k: int, *, dense: bool = False, scale: str = "e8m0",
                  seed: int = 0) -> Workload:  # fmt: skip
    """Build the built-in workload (module docstring).

    Raises
    ------
    ValueError
        If ``scale`` is unknown or K is not a multiple of the block (and of 4 when sparse).
    """
    if scale not in SCALE_BLOCK:
        raise ValueError(f"scale must be one of {', '.join(SCALE_BLOCK)}, not {scale!r}")
    block = SCALE_BLOCK[scale]
    if m <= 0 or k <= 0 or k % block:
        raise ValueError(f"need M > 0 and K a positive multiple of {block}, got M={m}, K={k}")
    rng = np.random.default_rng(seed)
    row_spread = np.exp(rng.normal(0.0, 0.3, (m, 1)))
    w = rng.standard_normal((m, k)) * row_spread / np.sqrt(k)
    heavy = rng.random((m, k)) < 0.001
    w[heavy] = rng.standard_t(4, heavy.sum()) * 4 / np.sqrt(k)
    x = rng.standard_normal(k)
    outliers = rng.random(k) < 0.01
    x[outliers] *= 20
    w_dense = w.astype(np.float32)
    x = x.astype(np.float32)
    times = {}
    t0 = time.perf_counter()
    w_float = w_dense if dense else sparse.prune_2_4(w_dense)
    times["prune_s"] = time.perf_counter() - t0
    qfn = quant.quantize_mxfp4 if scale == "e8m0" else quant.quantize_nvfp4
    t0 = time.perf_counter()
    wq = qfn(w_float, block=block)
    xq = qfn(x, block=block)
    times["quantize_s"] = time.perf_counter() - t0
    return Workload(wq, xq, w_float, w_dense, x, not dense, times)


def run_golden(wl: Workload) -> dict:
    """Run ``gemv_reference`` on the workload; returns the summary items (name -> value)."""
    t0 = time.perf_counter()
    y = gemv_reference(wl.w, wl.x)
    t_gemv = time.perf_counter() - t0
    # the host applies the NVFP4 tensor scales (1.0 for MXFP4)
    y_host = (y.astype(np.float64) * wl.w.tensor_scale * wl.x.tensor_scale).astype(np.float32)
    ref_sparse = wl.w_float.astype(np.float64) @ wl.x_float.astype(np.float64)
    ref_dense = wl.w_dense.astype(np.float64) @ wl.x_float.astype(np.float64)
    m, k = wl.w.shape
    zero_frac = float(np.mean((wl.w.codes & 7) == 0))
    return {
        "shape": f"M={m} x K={k}",
        "weights": SCALE_NAME[wl.w.scale_format] + (", 2:4 sparse" if wl.sparse else ", dense"),
        "activations": SCALE_NAME[wl.x.scale_format],
        "zero weight codes": f"{100 * zero_frac:.1f} %",
        "SQNR y vs fp32 W@x (same W)": f"{quant.sqnr_db(ref_sparse, y_host):.2f} dB",
        "SQNR y vs fp32 dense W@x": f"{quant.sqnr_db(ref_dense, y_host):.2f} dB",
        "non-finite outputs": int(np.sum(~np.isfinite(y))),
        "prune + quantize time": f"{wl.times.get('prune_s', 0) + wl.times['quantize_s']:.3f} s",
        "golden GEMV time": f"{t_gemv:.3f} s ({m * k / t_gemv / 1e9:.2f} GMAC/s)",
        "engine": "golden model (gemv_reference)",
    }


def format_summary(items: dict, title: str = "lutnpu GEMV") -> str:
    """A two-column text table of ``items`` under ``title``."""
    width = max(len(str(key)) for key in items) if items else 0
    lines = [title, "-" * max(len(title), width + 3 + 20)]
    lines += [f"{key!s:<{width}} : {value}" for key, value in items.items()]
    return "\n".join(lines)


def print_summary(items: dict, title: str = "lutnpu GEMV", file=None) -> None:
    """Print :func:`format_summary` to ``file`` (stdout by default)."""
    print(format_summary(items, title), file=file or sys.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cosim.sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--m", type=int, default=1024, help="output rows M (default 1024)")
    parser.add_argument("--k", type=int, default=4096, help="reduction length K (default 4096)")
    parser.add_argument("--dense", action="store_true", help="dense weights (no 2:4 pruning)")
    parser.add_argument(
        "--scale",
        choices=sorted(SCALE_BLOCK),
        default="e8m0",
        help="block scale format: e8m0 = MXFP4 (block 32), e4m3 = NVFP4 (block 16)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)
    try:
        wl = make_workload(args.m, args.k, dense=args.dense, scale=args.scale, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    print_summary(run_golden(wl))
    return 0


if __name__ == "__main__":
    sys.exit(main())
