"""``python -m cosim.sim`` (``make sim``): run a GEMV workload on the NPU RTL and summarise.

The workload is compiled by the golden compiler into a DRAM image and a command list, run on
``hw.NpuTop`` in Verilator (``cosim.npu``: HDL clock, DRAM model in the simulation, the host
side driven through the AXI4-Lite CSR port), and y is compared bit for bit with
``golden.gemv_reference``. The summary gives cycles against the bound, MAC utilisation, DRAM
traffic, wall time and the verdict; the exit status is non-zero unless y is bit-exact.
``--golden-only`` skips the RTL and runs only the golden model.

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


def run_npu(wl: Workload, *, simulator: str = "verilator", waves: bool = False,
            progress: bool = True) -> tuple[dict, bool]:
    """Run the workload on the NPU RTL; returns (summary items, bit-exact verdict)."""
    from golden.compile import compile_gemv
    from hw import NpuConfig

    from .npu import run_program_amaranth, run_program_verilator

    cfg = NpuConfig(block_size=wl.w.block, scale_format=wl.w.scale_format)
    t0 = time.perf_counter()
    prog = compile_gemv(wl.w, wl.x, config=cfg, sparse=wl.sparse)
    t_compile = time.perf_counter() - t0
    t0 = time.perf_counter()
    if simulator == "verilator":
        print("running on NpuTop in Verilator (the first run builds the model, ~2 min) ...",
              flush=True)
        run = run_program_verilator(prog, waves=waves,
                                    progress_cycles=100_000 if progress else None)
    else:
        print("running on NpuTop in Amaranth's simulator (slow: keep the shape small) ...",
              flush=True)
        run = run_program_amaranth(prog)
    t_total = time.perf_counter() - t0
    y_ref = gemv_reference(wl.w, wl.x)
    exact = bool(np.array_equal(run.y.view(np.uint32), y_ref.view(np.uint32)))
    mismatches = int(np.sum(run.y.view(np.uint32) != y_ref.view(np.uint32)))
    c = run.counters
    m = wl.w.shape[0]
    build_s = run.extra.get("build_s", 0.0)
    items = {
        "simulator": simulator + (f" (model build {build_s:.0f} s)" if build_s > 1 else ""),
        "NPU config": f"{cfg.lanes} lanes, {cfg.tcm_banks} TCM banks x {cfg.tcm_bank_words} x "
                      f"{cfg.tcm_word_bits} bit, {cfg.bus_data_bits}-bit AXI4",
        "commands": f"{prog.cmd_count} ({len(prog.image) / 2**20:.2f} MiB DRAM image, "
                    f"compiled in {t_compile:.2f} s)",
        "status": f"error={run.status['error'].name}, done={run.status['done']}",
        "cycles": f"{run.cycles:,}",
        "bound_cycles": f"{run.bound_cycles:,} (max of compute at full lanes, DRAM bytes / "
                        f"{cfg.bus_bytes} B per cycle)",
        "cycles / bound": f"{run.cycles / run.bound_cycles:.3f}",
        "MAC utilisation": f"{c['mac_active'] / max(c['compute_busy'], 1):.2%} of GEMV cycles, "
                           f"{c['mac_active'] / max(run.cycles, 1):.2%} of all cycles",
        "DRAM bytes read / written": f"{c['dram_rd_bytes']:,} / {c['dram_wr_bytes']:,}",
        "stalls (operand/tcm/axi/sync)": f"{c['stall_operand']:,} / {c['stall_tcm']:,} / "
                                         f"{c['stall_axi']:,} / {c['stall_sync']:,}",
        "wall time": f"{t_total - build_s:.1f} s ({run.cycles / max(t_total - build_s, 1e-9):,.0f}"
                     f" NPU cycles/s)",
        "bit-exact vs gemv_reference": "YES" if exact else f"NO ({mismatches} of {m} rows differ)",
    }
    if waves and run.extra.get("waves"):
        items["waveform"] = str(run.extra["waves"])
    return items, exact


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cosim.sim",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--m", type=int, default=1024, help="output rows M (default 1024)")
    parser.add_argument("--k", type=int, default=4096, help="reduction length K (default 4096)")
    parser.add_argument("--small", action="store_true",
                        help="a small workload (M=64, K=1024) unless --m/--k are given")
    parser.add_argument("--dense", action="store_true", help="dense weights (no 2:4 pruning)")
    parser.add_argument(
        "--scale",
        choices=sorted(SCALE_BLOCK),
        default="e8m0",
        help="block scale format: e8m0 = MXFP4 (block 32), e4m3 = NVFP4 (block 16)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--simulator", choices=("verilator", "amaranth"), default="verilator",
                        help="RTL simulator (default verilator)")
    parser.add_argument("--waves", action="store_true",
                        help="record a waveform under build/ (also: WAVES=1)")
    parser.add_argument("--golden-only", action="store_true",
                        help="run only the golden model, no RTL")
    args = parser.parse_args(argv)
    if args.small:
        given = argv if argv is not None else sys.argv[1:]
        if "--m" not in given:
            args.m = 64
        if "--k" not in given:
            args.k = 1024
    try:
        wl = make_workload(args.m, args.k, dense=args.dense, scale=args.scale, seed=args.seed)
    except ValueError as exc:
        parser.error(str(exc))
    items = run_golden(wl)
    if args.golden_only:
        print_summary(items)
        return 0
    items.pop("engine")
    npu_items, exact = run_npu(wl, simulator=args.simulator, waves=args.waves or None)
    items.update(npu_items)
    print_summary(items, title="lutnpu GEMV on the NPU RTL")
    return 0 if exact else 1


if __name__ == "__main__":
    sys.exit(main())
