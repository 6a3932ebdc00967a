"""hw.plane_reader.PlaneReader against a line memory model: every element of every requested
line in order, under random request stalls, response latencies and output back-pressure."""

import random

import pytest
from amaranth.sim import Simulator

from hw.plane_reader import PlaneReader

LINE_BITS, ADDR_BITS = 64, 10


def _run(runs, *, elem_bits, depth, latency, p_req_ready, p_out_ready, seed, take=None):
    """Run ``runs`` [(base, lines)] back to back; return the elements seen per run, the
    expected elements and the cycles taken. ``take`` (one count per run) stops reading a
    run after that many elements and starts the next once no request is in flight."""
    dut = PlaneReader(line_bits=LINE_BITS, elem_bits=elem_bits, addr_bits=ADDR_BITS,
                      depth=depth)
    rng = random.Random(seed)
    mem = [rng.randrange(1 << LINE_BITS) for _ in range(1 << ADDR_BITS)]
    n_elem = LINE_BITS // elem_bits
    result = {}

    async def bench(ctx):
        got, cycles = [], 0
        pipe = []                          # (due cycle, line) responses in flight

        async def cycle(req_ready, out_ready):
            """One clock: answer a due request, offer the readies; return an element taken."""
            nonlocal cycles
            ctx.set(dut.req.ready, req_ready)
            ctx.set(dut.out.ready, out_ready)
            if pipe and pipe[0][0] == cycles:
                ctx.set(dut.resp_valid, 1)
                ctx.set(dut.resp_data, mem[pipe.pop(0)[1]])
            else:
                ctx.set(dut.resp_valid, 0)
            if req_ready and ctx.get(dut.req.valid):
                pipe.append((cycles + latency, ctx.get(dut.req.payload)))
            elem = ctx.get(dut.out.payload) if out_ready and ctx.get(dut.out.valid) else None
            await ctx.tick()
            cycles += 1
            assert cycles < 100_000, "PlaneReader hung"
            return elem

        for ri, (base, lines) in enumerate(runs):
            want = lines * n_elem if take is None else take[ri]
            while not ctx.get(dut.idle):   # the responses still due come in; none is asked
                await cycle(False, False)
            ctx.set(dut.base, base)
            ctx.set(dut.lines, lines)
            ctx.set(dut.start, 1)
            await cycle(False, False)
            ctx.set(dut.start, 0)
            elems = []
            while len(elems) < want:
                elem = await cycle(rng.random() < p_req_ready, rng.random() < p_out_ready)
                if elem is not None:
                    elems.append(elem)
            got.append(elems)
        result.update(got=got, cycles=cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    expect = [[(mem[base + i] >> (j * elem_bits)) & ((1 << elem_bits) - 1)
               for i in range(lines) for j in range(n_elem)] for base, lines in runs]
    if take is not None:
        expect = [e[:t] for e, t in zip(expect, take)]
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


@pytest.mark.parametrize("elem_bits", [8, 64])
@pytest.mark.parametrize("p_out_ready", [0.5, 1.0])
def test_start_drops_a_run_left_unread(elem_bits, p_out_ready):
    # A run abandoned part-way (mid-line, or with whole lines still buffered, or in the
    # output FIFO) must leave nothing behind for the next one.
    n_elem = LINE_BITS // elem_bits
    runs = [(5, 7), (300, 3), (40, 4), (17, 2), (900, 5)]
    take = [n_elem + 1, 0, 4 * n_elem, 1, 5 * n_elem]
    got, expect, _ = _run(runs, elem_bits=elem_bits, depth=8, latency=4, p_req_ready=0.7,
                          p_out_ready=p_out_ready, seed=11, take=take)
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
