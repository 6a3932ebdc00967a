"""DMA bus efficiency (Verilator + cocotbext-axi AxiRam) and TCM throughput under conflicts.

DMA: the default ``NpuConfig`` (64-bit bus, 256-beat bursts, 4 outstanding), 64 KiB
transfers with no back-pressure; efficiency = bytes moved / (DMA busy cycles * bus bytes per
cycle), where busy cycles count from descriptor acceptance to completion (checks, AXI latency
and drain included). The cycles come from the DMA's own ``busy_cycles`` counter.

TCM (Amaranth simulator, default config, 4 banks): every port requests every cycle.
``tcm_words_per_cycle_conflicting``: all three ports narrow, random addresses (max 3);
``tcm_gemv_*``: the DMA streams sequential writes while compute streams wide line reads
(the double-buffered GEMV pattern; max 1 + tcm_banks words per cycle).
"""

from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path

from amaranth.sim import Simulator

from hw import NpuConfig
from hw.tcm import Tcm

TCM_CYCLES = 4000


def _tcm_traffic(config, mode, cycles=TCM_CYCLES, seed=1):
    dut = Tcm(config)
    words = config.tcm_banks * config.tcm_bank_words
    rng = random.Random(seed)
    counts = {"dma": 0, "compute": 0, "vec": 0}
    nb = config.tcm_banks

    async def bench(ctx):
        seq = {"dma": 0, "compute": 0}
        req = {}
        for p in counts:
            ctx.set(getattr(dut, f"{p}_resp").ready, 1)
        for _ in range(cycles):
            for p in counts:
                if p not in req:
                    if mode == "random":
                        req[p] = rng.randrange(words)
                    elif p == "dma":
                        req[p] = seq["dma"] % words
                        seq["dma"] += 1
                    elif p == "compute":
                        req[p] = (seq["compute"] * nb) % words
                        seq["compute"] += 1
                    else:
                        req[p] = None
                port = getattr(dut, f"{p}_req")
                if req[p] is None:
                    ctx.set(port.valid, 0)
                    continue
                ctx.set(port.valid, 1)
                ctx.set(port.payload.addr, req[p])
                if p == "compute":
                    ctx.set(port.payload.wide, mode == "gemv")
                else:
                    ctx.set(port.payload.write, p == "dma" and mode == "gemv")
            took = [p for p in counts if req[p] is not None and
                    ctx.get(getattr(dut, f"{p}_req").ready)]
            await ctx.tick()
            for p in took:
                counts[p] += nb if (p == "compute" and mode == "gemv") else 1
                del req[p]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return {p: c / cycles for p, c in counts.items()}


def _dma_efficiency() -> dict:
    from cosim.runner import BUILD_ROOT, run_cocotb
    from cosim.tb.dma import DmaHarness

    config = NpuConfig()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dma_bench.json"
        run_cocotb(DmaHarness(config), toplevel="dma_harness_default",
                   test_module="cosim.tb.dma", testcase="bench_dma_efficiency",
                   test_dir=BUILD_ROOT / "bench-dma",
                   extra_env={"LUTNPU_DMA_CONFIG": json.dumps({}),
                              "LUTNPU_BENCH_OUT": str(out)})
        return json.loads(out.read_text())


def run() -> dict:
    results = _dma_efficiency()
    cfg = NpuConfig()
    rnd = _tcm_traffic(cfg, "random")
    gemv = _tcm_traffic(cfg, "gemv")
    results.update({
        "tcm_words_per_cycle_conflicting": round(sum(rnd.values()), 4),
        "tcm_dma_words_per_cycle_conflicting": round(rnd["dma"], 4),
        "tcm_compute_words_per_cycle_conflicting": round(rnd["compute"], 4),
        "tcm_vec_words_per_cycle_conflicting": round(rnd["vec"], 4),
        "tcm_gemv_words_per_cycle": round(gemv["dma"] + gemv["compute"], 4),
        "tcm_gemv_dma_words_per_cycle": round(gemv["dma"], 4),
        "tcm_gemv_compute_words_per_cycle": round(gemv["compute"], 4),
    })
    return results


if __name__ == "__main__":
    for k, v in run().items():
        print(f"{k:45s} {v}")
