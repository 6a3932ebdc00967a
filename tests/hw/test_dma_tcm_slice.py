"""hw.Dma's TCM request register slice in Amaranth's simulator, with a TCM that stalls at random.

An AXI slave model answers the read bursts with random gaps; ``tcm_req.ready`` is random. Every
R beat must reach the TCM once, in order, at its word address, and the descriptor must not
complete before the last TCM write has been accepted.
"""

import random

import pytest
from amaranth.sim import Simulator

from hw import Dma, NpuConfig
from hw.axi import Resp
from hw.dma import DmaDir, DmaError


@pytest.mark.parametrize("p_rvalid,p_ready,seed", [(1.0, 1.0, 1), (1.0, 0.4, 2), (0.6, 0.7, 3)])
def test_tcm_writes_arrive_in_order_under_random_tcm_stalls(p_rvalid, p_ready, seed):
    cfg = NpuConfig(tcm_banks=4, tcm_bank_words=64)
    dut = Dma(cfg)
    rng = random.Random(seed)
    words, tcm_base = 40, 5
    out = {}

    async def bench(ctx):
        ctx.set(dut.axi.arready, 1)
        ctx.set(dut.done.ready, 1)
        p = dut.desc.payload
        ctx.set(p.dir, DmaDir.TO_TCM)
        ctx.set(p.dram_addr, 0x1000 - 8 * 16)  # crosses a 4 KiB boundary: several bursts
        ctx.set(p.tcm_addr, tcm_base)
        ctx.set(p.row_bytes, 8 * words)
        ctx.set(p.rows, 1)
        ctx.set(dut.desc.valid, 1)
        await ctx.tick().until(dut.desc.ready)
        ctx.set(dut.desc.valid, 0)
        bursts, beat, sent, writes = [], 0, 0, []
        last_beat = None
        for cycle in range(2000):
            # The TCM also stalls for 10 cycles after the last R beat: done must wait for it.
            hold = last_beat is not None and cycle - last_beat <= 10
            ctx.set(dut.tcm_req.ready, not hold and rng.random() < p_ready)
            rvalid = bool(bursts) and rng.random() < p_rvalid
            ctx.set(dut.axi.rvalid, rvalid)
            if rvalid:
                ctx.set(dut.axi.rdata, 0x5A00 + sent)
                ctx.set(dut.axi.rresp, Resp.OKAY)
                ctx.set(dut.axi.rlast, beat == bursts[0])
            if ctx.get(dut.tcm_req.valid) and ctx.get(dut.tcm_req.ready):
                assert ctx.get(dut.tcm_req.payload.write)
                writes.append((ctx.get(dut.tcm_req.payload.addr),
                               ctx.get(dut.tcm_req.payload.data)))
            if ctx.get(dut.done.valid):
                out["error"] = ctx.get(dut.done.payload.error)
                out["writes_at_done"] = len(writes)
                out["done_cycle"], out["last_beat"] = cycle, last_beat
                break
            if rvalid and ctx.get(dut.axi.rready):
                sent += 1
                if sent == words:
                    last_beat = cycle
                if beat == bursts[0]:
                    bursts.pop(0)
                    beat = 0
                else:
                    beat += 1
            if ctx.get(dut.axi.arvalid):
                bursts.append(ctx.get(dut.axi.arlen))
            await ctx.tick()
        out["writes"] = writes

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert out["error"] == DmaError.NONE
    assert out["writes_at_done"] == words
    assert out["done_cycle"] > out["last_beat"] + 10
    assert out["writes"] == [(tcm_base + i, 0x5A00 + i) for i in range(words)]
