"""hw.skid.StreamSkid: the register slice on the TCM request streams and GemvEngine.step."""

import random

import pytest
from amaranth.sim import Simulator

from hw.skid import StreamSkid


def _run(beats, *, p_valid, p_ready, seed):
    """Drive ``beats`` through a StreamSkid with random valid/ready; return what came out and
    the cycle count."""
    dut = StreamSkid(16)
    rng = random.Random(seed)
    out = {}

    async def bench(ctx):
        got, sent, cycles = [], 0, 0
        while len(got) < len(beats):
            offer = sent < len(beats) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            ctx.set(dut.i.payload, beats[sent] if offer else 0xDEAD)
            ready = rng.random() < p_ready
            ctx.set(dut.o.ready, ready)
            if ready and ctx.get(dut.o.valid):
                got.append(ctx.get(dut.o.payload))
            if not ctx.get(dut.o.valid):
                # The Dma and NpuTop take ``~o.valid`` as "the slice holds nothing".
                assert len(got) == sent, "o.valid low while a beat is still held"
            sent += bool(offer and ctx.get(dut.i.ready))
            await ctx.tick()
            cycles += 1
            assert cycles < 10_000, "StreamSkid hung"
        out.update(got=got, cycles=cycles)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["got"], out["cycles"]


@pytest.mark.parametrize("p_valid,p_ready,seed", [(1.0, 0.5, 1), (0.5, 1.0, 2), (0.7, 0.3, 3),
                                                  (0.3, 0.7, 4)])
def test_every_beat_comes_out_once_in_order_under_random_handshakes(p_valid, p_ready, seed):
    beats = [random.Random(seed).randrange(1 << 16) for _ in range(200)]
    got, _ = _run(beats, p_valid=p_valid, p_ready=p_ready, seed=seed)
    assert got == beats


def test_one_beat_per_cycle_with_latency_one():
    beats = list(range(50))
    got, cycles = _run(beats, p_valid=1.0, p_ready=1.0, seed=0)
    assert got == beats
    assert cycles == len(beats) + 1
