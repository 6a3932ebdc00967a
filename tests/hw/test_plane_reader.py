"""hw.plane_reader.PlaneReader against a line memory model: every element of every requested
line in order, under random request stalls, response latencies and output back-pressure."""

import random

import pytest
from amaranth.sim import Simulator

from hw.plane_reader import PlaneReader

LINE_BITS, ADDR_BITS = 64, 10


def _run(runs, *, elem_bits, depth, latency, p_req_ready, p_out_ready, seed):
    """Run ``runs`` [(base, lines)] back to back; return the elements seen per run, the
    cycles taken and the most lines ever requested-but-unconsumed (credit check)."""
    dut = PlaneReader(line_bits=LINE_BITS, elem_bits=elem_bits, addr_bits=ADDR_BITS,
                      depth=depth)
    rng = random.Random(seed)
    mem = [rng.randrange(1 << LINE_BITS) for _ in range(1 << ADDR_BITS)]
    n_elem = LINE_BITS // elem_bits
    result = {}

    async def bench(ctx):
        got, cycles = [], 0
        pipe = []                          # (due cycle, line) responses in flight
        for base, lines in runs:
            while not ctx.get(dut.idle):
                await ctx.tick()
                cycles += 1
            ctx.set(dut.base, base)
            ctx.set(dut.lines, lines)
            ctx.set(dut.start, 1)
            await ctx.tick()
            cycles += 1
            ctx.set(dut.start, 0)
            elems = []
            while len(elems) < lines * n_elem:
                req_ready = rng.random() < p_req_ready
                out_ready = rng.random() < p_out_ready
                ctx.set(dut.req.ready, req_ready)
                ctx.set(dut.out.ready, out_ready)
                if pipe and pipe[0][0] == cycles:
                    ctx.set(dut.resp_valid, 1)
                    ctx.set(dut.resp_data, mem[pipe.pop(0)[1]])
                else:
                    ctx.set(dut.resp_valid, 0)
                if req_ready and ctx.get(dut.req.valid):
                    pipe.append((cycles + latency, ctx.get(dut.req.payload)))
                if out_ready and ctx.get(dut.out.valid):
                    elems.append(ctx.get(dut.out.payload))
                await ctx.tick()
                cycles += 1
                assert cycles < 100_000, "PlaneReader hung"
            ctx.set(dut.resp_valid, 0)
            got.append(elems)
        result.update(got=got, cycles=cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    expect = [[(mem[base + i] >> (j * elem_bits)) & ((1 << elem_bits) - 1)
               for i in range(lines) for j in range(n_elem)] for base, lines in runs]
    return result["got"], expect, result["cycles"]


@pytest.mark.parametrize("elem_bits", [8, 16, 64])
@pytest.mark.parametrize("latency,p_req_ready,p_out_ready,seed", [
    (1, 1.0, 1.0, 1), (6, 0.5, 1.0, 2), (6, 1.0, 0.3, 3), (9, 0.4, 0.6, 4)])
def test_every_element_in_order_under_random_stalls(elem_bits, latency, p_req_ready,
                                                     p_out_ready, seed):
    runs = [(5, 7), (1000, 3), (0, 1), (17, 12)]
    got, expect, _ = _run(runs, elem_bits=elem_bits, depth=8, latency=latency,
                          p_req_ready=p_req_ready, p_out_ready=p_out_ready, seed=seed)
    assert got == expect


def test_one_line_per_cycle_when_depth_covers_the_latency():
    # 64-bit elements: one line per element. Depth = latency + 3 (response register, buffer
    # write, load into the output register) must sustain one element per cycle after the
    # first; one less must not.
    lines, latency = 200, 5
    _, _, full = _run([(0, lines)], elem_bits=64, depth=latency + 3, latency=latency,
                      p_req_ready=1.0, p_out_ready=1.0, seed=7)
    _, _, short = _run([(0, lines)], elem_bits=64, depth=latency + 2, latency=latency,
                       p_req_ready=1.0, p_out_ready=1.0, seed=7)
    assert full <= lines + latency + 8
    assert short > lines * 1.1
