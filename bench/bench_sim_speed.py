"""Simulation speed of one NPU workload in Amaranth's simulator and in Verilator.

The workload is a 2:4 MXFP4 GEMV (``M x K`` below, default NpuConfig) run end to end from
DRAM: CSR start, command fetch, DMA, compute, y written back, interrupt. Both simulators run
the same compiled program and must return y bit-exact to ``golden.gemv_reference`` (the
figures are refused otherwise).

Keys:
- ``sim_speed_workload_cycles``: NPU cycles of the workload (the ``cycles`` counter).
- ``amaranth_sim_cycles_per_s``: NPU cycles per wall second in Amaranth's simulator (wall
  time of ``run_program_amaranth``: elaboration, simulation and the Python DRAM model).
- ``verilator_sim_cycles_per_s``: NPU cycles per wall second in Verilator (the run only:
  cocotb start-up, DRAM preload from a hex image, simulation, read-back; the one-off
  Verilator build is excluded, as it is cached between runs).
- ``verilator_over_amaranth_sim``: their ratio.
- ``verilator_4096x4096_cycles_per_s``: the same rate on the 4096 x 4096 GEMV of bench_npu
  (from its ``npu_4096x4096_cycles`` / ``cosim_4096_wall_s`` when bench.json has them).
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

M, K = 256, 1024
RESULTS = Path(__file__).resolve().parent.parent / "docs" / "results" / "bench.json"


def run() -> dict:
    from cosim.npu import run_program_amaranth, run_program_verilator
    from golden import gemv_reference, quant
    from golden import sparse as sp
    from golden.compile import compile_gemv
    from hw import NpuConfig

    rng = np.random.default_rng(0)
    w = quant.quantize_mxfp4(sp.prune_2_4(rng.standard_normal((M, K)).astype(np.float32)))
    x = quant.quantize_mxfp4(rng.standard_normal(K).astype(np.float32))
    expect = gemv_reference(w, x).view(np.uint32)
    prog = compile_gemv(w, x, config=NpuConfig(), sparse=True)

    run_program_verilator(prog)          # build (cached) and warm up; not timed
    vrun = run_program_verilator(prog)
    v_s = vrun.extra["run_s"]
    t0 = time.perf_counter()
    arun = run_program_amaranth(prog, max_cycles=10_000_000)
    a_s = time.perf_counter() - t0
    for name, r in (("verilator", vrun), ("amaranth", arun)):
        if not np.array_equal(r.y.view(np.uint32), expect):
            raise AssertionError(f"{name} NPU result is not bit-exact: refusing to report it")
    if vrun.cycles != arun.cycles:
        raise AssertionError(f"cycle counts differ: verilator {vrun.cycles}, "
                             f"amaranth {arun.cycles}")
    out = {
        "sim_speed_workload_cycles": vrun.cycles,
        "sim_speed_workload_m": M,
        "sim_speed_workload_k": K,
        "amaranth_sim_wall_s": a_s,
        "verilator_sim_wall_s": v_s,
        "amaranth_sim_cycles_per_s": arun.cycles / a_s,
        "verilator_sim_cycles_per_s": vrun.cycles / v_s,
        "verilator_over_amaranth_sim": (vrun.cycles / v_s) / (arun.cycles / a_s),
    }
    prev = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    if prev.get("npu_4096x4096_cycles") and prev.get("cosim_4096_wall_s"):
        out["verilator_4096x4096_cycles_per_s"] = (prev["npu_4096x4096_cycles"]
                                                   / prev["cosim_4096_wall_s"])
    return out
