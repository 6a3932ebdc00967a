"""hw.top._mul_sequential: the NPU's range-check and fault-address multiplier, against
Python's product for corner and random operands."""

import random

from amaranth import Module, Signal
from amaranth.sim import Simulator

from hw.top import MUL_LATENCY, _mul_sequential


def test_products_after_mul_latency_and_held_until_the_next_start():
    m = Module()
    a, b, start = Signal(16), Signal(24), Signal()
    prod = _mul_sequential(m, a, b, start, "prod")
    rng = random.Random(5)
    cases = [(0, 0), (1, 1), (0xFFFF, 0xFF_FFFF), (0xFFFF, 1), (1, 0xFF_FFFF), (2, 3),
             (0x8000, 0x80_0000), (3, 0x55_5555)]
    cases += [(rng.randrange(1 << 16), rng.randrange(1 << 24)) for _ in range(40)]

    async def bench(ctx):
        for x, y in cases:
            ctx.set(a, x)
            ctx.set(b, y)
            ctx.set(start, 1)
            await ctx.tick()
            ctx.set(start, 0)
            # The operands may change once latched.
            ctx.set(a, rng.randrange(1 << 16))
            ctx.set(b, rng.randrange(1 << 24))
            await ctx.tick().repeat(MUL_LATENCY - 1)
            assert ctx.get(prod) == x * y, (x, y)
            await ctx.tick().repeat(3)
            assert ctx.get(prod) == x * y, (x, y)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
