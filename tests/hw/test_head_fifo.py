"""hw.head_fifo.HeadFifo: every entry out in order, payload whole (register head + RAM rest),
under random valid/ready on both sides; level and full/empty flags; parameter errors."""

import random

import pytest
from amaranth.sim import Simulator

from hw.head_fifo import HeadFifo


def _run(*, width, head_bits, depth, p_in, p_out, n=300, seed=0):
    dut = HeadFifo(width, depth=depth, head_bits=head_bits)
    rng = random.Random(seed)
    items = [rng.randrange(1 << width) for _ in range(n)]
    got = []

    async def bench(ctx):
        k, held = 0, 0
        for _ in range(20 * n):
            offer = k < n and rng.random() < p_in
            take = rng.random() < p_out
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, items[k] if offer else rng.randrange(1 << width))
            ctx.set(dut.o.ready, take)
            assert ctx.get(dut.level) == held
            assert ctx.get(dut.o.valid) == (held != 0)
            assert ctx.get(dut.i.ready) == (held != depth)
            wrote = offer and held != depth
            read = take and held != 0
            if read:
                got.append(ctx.get(dut.o.payload))
            k += wrote
            held += wrote - read
            await ctx.tick()
            if len(got) == n:
                break

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return got, items


@pytest.mark.parametrize("width,head_bits", [(20, 5), (12, 12), (9, 1)])
@pytest.mark.parametrize("depth", [2, 4, 5])
@pytest.mark.parametrize("p_in,p_out,seed", [(1.0, 1.0, 1), (0.5, 0.9, 2), (0.9, 0.3, 3)])
def test_every_entry_out_in_order_under_random_back_pressure(width, head_bits, depth, p_in,
                                                            p_out, seed):
    got, items = _run(width=width, head_bits=head_bits, depth=depth, p_in=p_in, p_out=p_out,
                      seed=seed)
    assert got == items


def test_bad_parameters_are_rejected():
    with pytest.raises(ValueError, match="depth must be at least 2, not 1"):
        HeadFifo(8, depth=1, head_bits=4)
    with pytest.raises(ValueError, match="head_bits must be in 1..8, not 9"):
        HeadFifo(8, depth=4, head_bits=9)
