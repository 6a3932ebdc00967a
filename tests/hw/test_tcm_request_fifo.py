"""hw.tcm.TcmRequestFifo: the DMA and vec ports' request FIFO, whose head's bank and write bit
come from a register slice refilled beside the distributed RAM. Whenever ``o.valid`` is up the
head must be the oldest request still held -- all of it, bank and write bit included --
whatever the pushes and pops did before; ``busy`` must never say empty while one is held."""

import random
from collections import deque

import pytest
from amaranth.sim import Simulator

from hw import NpuConfig
from hw.tcm import TcmRequestFifo


def _run(config, reqs, *, depth, p_valid, p_ready, seed, shape=None):
    """Push ``reqs`` (addr, write, data; or plain ints with ``shape``) with random valid/ready;
    check the head every cycle against a deque model; return what came out, the cycle count
    and the most held at once."""
    dut = TcmRequestFifo(config, depth=depth, shape=shape)
    rng = random.Random(seed)
    out = {}

    def put(ctx, req):
        if shape is not None:
            ctx.set(dut.i.payload, req)
            return
        addr, write, data = req
        ctx.set(dut.i.payload.addr, addr)
        ctx.set(dut.i.payload.write, write)
        ctx.set(dut.i.payload.data, data)

    def head(ctx):
        if shape is not None:
            return ctx.get(dut.o.payload)
        return (ctx.get(dut.o.payload.addr), ctx.get(dut.o.payload.write),
                ctx.get(dut.o.payload.data))

    async def bench(ctx):
        model, got, sent, cycles, most = deque(), [], 0, 0, 0
        while len(got) < len(reqs):
            offer = sent < len(reqs) and rng.random() < p_valid
            ctx.set(dut.i.valid, offer)
            put(ctx, reqs[sent] if offer else (0 if shape is not None else (0, 0, 0)))
            ready = rng.random() < p_ready
            ctx.set(dut.o.ready, ready)
            if model:
                assert ctx.get(dut.busy), f"cycle {cycles}: busy low with {len(model)} held"
            if ctx.get(dut.i.ready):
                assert len(model) < depth, "i.ready with every entry full"
            else:
                # The write side sees a grant a cycle late: at most one entry is hidden.
                assert len(model) >= depth - 1, f"i.ready low with {len(model)} held"
            if ctx.get(dut.o.valid):
                assert model, "o.valid with nothing held"
                got_head = head(ctx)
                assert got_head == model[0], f"cycle {cycles}: head {got_head}, not {model[0]}"
                if ready:
                    got.append(model.popleft())
            if offer and ctx.get(dut.i.ready):
                model.append(reqs[sent])
                sent += 1
            most = max(most, len(model))
            await ctx.tick()
            cycles += 1
            assert cycles < 20_000, "TcmRequestFifo hung"
        out.update(got=got, cycles=cycles, most=most)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["got"], out["cycles"], out["most"]


def _requests(config, n, seed):
    rng = random.Random(seed)
    words = config.tcm_banks * config.tcm_bank_words
    return [(rng.randrange(words), rng.randrange(2), rng.randrange(1 << config.tcm_word_bits))
            for _ in range(n)]


@pytest.mark.parametrize("banks", [1, 4, 16])
@pytest.mark.parametrize("depth", [2, 4])
@pytest.mark.parametrize("p_valid,p_ready,seed", [(1.0, 0.5, 1), (0.5, 1.0, 2), (0.7, 0.3, 3),
                                                  (0.9, 0.9, 4)])
def test_every_request_comes_out_once_in_order_with_its_bank_under_random_handshakes(
        banks, depth, p_valid, p_ready, seed):
    config = NpuConfig(tcm_banks=banks)
    reqs = _requests(config, 300, seed)
    got, _, most = _run(config, reqs, depth=depth, p_valid=p_valid, p_ready=p_ready, seed=seed)
    assert got == reqs
    if p_ready < p_valid:
        assert most >= depth - 1, "the FIFO never filled: the full case went untested"


def test_one_request_per_cycle_when_nothing_stalls():
    config = NpuConfig()
    reqs = _requests(config, 64, 7)
    got, cycles, _ = _run(config, reqs, depth=4, p_valid=1.0, p_ready=1.0, seed=0)
    assert got == reqs
    # One per cycle after a start-up of two cycles (written, then in the head slice).
    assert cycles == len(reqs) + 2


@pytest.mark.parametrize("depth", [1, 17, 4.0, None])
def test_bad_depth_is_rejected(depth):
    with pytest.raises(ValueError, match=r"depth must be an int in 2\.\.16, not "):
        TcmRequestFifo(NpuConfig(), depth=depth)


@pytest.mark.parametrize("p_valid,p_ready,seed", [(1.0, 0.5, 5), (0.6, 0.8, 6), (1.0, 1.0, 7)])
def test_compute_port_shape_keeps_order_with_only_the_valid_in_the_head_slice(
        p_valid, p_ready, seed):
    config = NpuConfig()
    reqs = [random.Random(seed).randrange(1 << 12) for _ in range(200)]
    got, _, _ = _run(config, reqs, depth=4, p_valid=p_valid, p_ready=p_ready, seed=seed,
                     shape=12)
    assert got == reqs


def test_compute_port_shape_emits_no_zero_width_wires_for_verilator():
    # A zero-width head slice became `wire [-1:0]` in the Verilog, which Verilator rejects.
    from amaranth.back import verilog

    text = verilog.convert(TcmRequestFifo(NpuConfig(), shape=12), name="fifo", emit_src=False)
    assert "[-1:0]" not in text
