"""BlockAccumulator in Amaranth's simulator: rows of partial-sum beats built from golden
operands, random valid/ready back-pressure on both streams, every row's output bit-exact to
``golden.gemv_reference``."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from cosim.driver import block_accumulator_beats, pack_partial_sum, random_block_operands
from golden import gemv_reference
from hw import BlockAccumulator, FP32Adder, NpuConfig


def run_stream(dut, beats, n_out, *, seed=0, p_in=0.0, p_out=0.0, max_cycles=200_000):
    """Feed ``beats`` into ``dut.i``, collect ``n_out`` words from ``dut.o``; pause
    probabilities ``p_in`` (drop valid) and ``p_out`` (drop ready). Returns (outputs, stats)."""
    rng_in = np.random.default_rng(seed)
    rng_out = np.random.default_rng(seed + 1)
    got = []
    stats = {"cycles": 0, "in_stalls": 0, "out_cycles": []}

    async def producer(ctx):
        for beat in beats:
            while rng_in.random() < p_in:
                ctx.set(dut.i.valid, 0)
                await ctx.tick()
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload.as_value(), beat)
            while True:
                _, _, ready = await ctx.tick().sample(dut.i.ready)
                if ready:
                    break
                stats["in_stalls"] += 1
        ctx.set(dut.i.valid, 0)

    async def consumer(ctx):
        cycle = 0
        while len(got) < n_out:
            ready = int(rng_out.random() >= p_out)
            ctx.set(dut.o.ready, ready)
            _, _, valid, payload = await ctx.tick().sample(dut.o.valid, dut.o.payload)
            cycle += 1
            assert cycle < max_cycles, "accumulator hung"
            if valid and ready:
                got.append(int(payload))
                stats["out_cycles"].append(cycle)
        # Nothing more may come out.
        ctx.set(dut.o.ready, 1)
        for _ in range(2 * dut.latency):
            _, _, valid = await ctx.tick().sample(dut.o.valid)
            assert not valid, "extra output word"
        stats["cycles"] = cycle

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(producer, background=True)
    sim.add_testbench(consumer)
    sim.run()
    return np.array(got, dtype=np.uint32), stats


CASES = [
    # (scale_format, block, sparse, scales)
    ("e8m0", 32, False, "random"),
    ("e8m0", 32, True, "random"),
    ("e8m0", 32, False, "overflow"),
    ("e8m0", 32, True, "underflow"),
    ("e8m0", 32, False, "nan"),
    ("e8m0", 16, True, "any"),
    ("e4m3", 16, False, "random"),
    ("e4m3", 16, True, "any"),
    ("e4m3", 32, True, "nan"),
]


@pytest.mark.parametrize("fmt,block,sparse,scales", CASES,
                         ids=[f"{f}-b{b}-{'sparse' if s else 'dense'}-{c}" for f, b, s, c in CASES])
def test_rows_match_gemv_reference_with_backpressure(fmt, block, sparse, scales):
    seed = CASES.index((fmt, block, sparse, scales))
    rng = np.random.default_rng(seed)
    m, k = 24, block * int(rng.integers(1, 5))
    w, x = random_block_operands(rng, m, k, block=block, scale_format=fmt, sparse=sparse,
                                 scales=scales)
    want = gemv_reference(w, x).view(np.uint32)
    dut = BlockAccumulator(NpuConfig(block_size=block, scale_format=fmt))
    got, _ = run_stream(dut, block_accumulator_beats(w, x, sparse=sparse), m, seed=seed,
                        p_in=0.3, p_out=0.4)
    bad = np.flatnonzero(got != want)
    assert bad.size == 0, [f"row {i}: got {got[i]:#010x} want {want[i]:#010x}" for i in bad]


def test_scale_extremes_cover_inf_subnormal_zero_and_nan():
    # The scale sets above really reach the corners: check the reference outputs they give.
    rng = np.random.default_rng(99)
    outs = []
    for scales in ("overflow", "underflow", "nan"):
        w, x = random_block_operands(rng, 40, 64, block=32, scale_format="e8m0", sparse=False,
                                     scales=scales)
        outs.append(gemv_reference(w, x))
    assert np.isinf(outs[0]).any()
    assert ((outs[1] != 0) & (np.abs(outs[1]) < np.finfo(np.float32).tiny)).any()
    assert (outs[1] == 0).any()
    assert np.isnan(outs[2]).any()


def test_named_block_terms():
    # One block per row, dense, hand-computed q (SPEC section 4), E8M0 scales.
    cfg = NpuConfig(block_size=32, scale_format="e8m0")
    f32 = lambda v: int(np.array(v, dtype=np.float32).view(np.uint32))
    rows = [
        # (psums of the 16 beats, s_w, s_x, expected bits)
        ([4] + [0] * 15, 127, 127, f32(1.0)),                 # p = 1.0, scale 1
        ([-6] + [0] * 15, 128, 126, f32(-1.5)),               # 2 * 0.5 = 1
        ([0] * 16, 127, 127, 0x00000000),                     # +0.0 + 0 = +0
        ([1] + [0] * 15, 0, 0, 0x00000000),                   # 2^-256: underflows to +0
        ([288] * 16, 254, 254, 0x7F800000),                   # overflow -> +Inf
        ([-288] * 16, 254, 254, 0xFF800000),                  # -> -Inf
        ([4] + [0] * 15, 255, 127, 0x7FC00000),               # NaN scale
        ([4] + [0] * 15, 127 - 63, 127 - 63, 0x00800000),     # 2^-63 * 2^-63: min normal
        ([2] + [0] * 15, 127 - 63, 127 - 63, 0x00400000),     # half of it: subnormal
    ]
    beats, want = [], []
    for ps, sw, sx, bits in rows:
        for j, p in enumerate(ps):
            last = int(j == len(ps) - 1)
            beats.append(pack_partial_sum(p, last, last, sw if last else 0, sx if last else 0))
        want.append(bits)
    got, _ = run_stream(BlockAccumulator(cfg), beats, len(rows))
    assert [f"{g:#010x}" for g in got] == [f"{v:#010x}" for v in want]


def test_subnormal_rounding_of_block_term():
    # p = 3 quarters * 2^(cw + cx - 254): with cw + cx = 254 - 149 - 1 the exact value is
    # 1.5 * 2^-149 -> ties to even -> 2 * 2^-149; with 5 quarters * 2^-151 = 1.25 -> 1.
    cfg = NpuConfig(block_size=16, scale_format="e8m0")
    beats = []
    for p, s in ((3, 254 - 151 + 2), (5, 254 - 151 + 2), (7, 254 - 151 + 2)):
        # value = p/4 * 2^(s-254) with s = cw + cx; p/4*2^-149 -> 0.75, 1.25, 1.75 ulps
        cw, cx = s // 2, s - s // 2
        beats += [pack_partial_sum(p, 0, 0, 0, 0)] + [pack_partial_sum(0, 0, 0, 0, 0)] * 6
        beats.append(pack_partial_sum(0, 1, 1, cw, cx))
    got, _ = run_stream(BlockAccumulator(cfg), beats, 3)
    assert got.tolist() == [1, 1, 2]   # 0.75 -> 1, 1.25 -> 1, 1.75 -> 2 (units of 2^-149)


@pytest.mark.parametrize("fmt,block", [("e4m3", 16), ("e8m0", 32)])
def test_no_input_stall_without_backpressure_for_shortest_blocks(fmt, block):
    # 2:4 blocks: block // 4 beats, the fewest (4 for NVFP4, 8 for MXFP4 with an 8-stage
    # adder); the forwarded adder result keeps up.
    rng = np.random.default_rng(5)
    w, x = random_block_operands(rng, 4, 4 * block, block=block, scale_format=fmt,
                                 sparse=True)
    dut = BlockAccumulator(NpuConfig(block_size=block, scale_format=fmt))
    assert dut.adder_stages <= block // 4
    beats = block_accumulator_beats(w, x, sparse=True)
    got, stats = run_stream(dut, beats, 4)
    np.testing.assert_array_equal(got, gemv_reference(w, x).view(np.uint32))
    assert stats["in_stalls"] == 0
    # Row results come out one row's worth of beats apart (4 blocks of block // 4 beats).
    assert np.diff(stats["out_cycles"]).tolist() == [block] * 3


@pytest.mark.parametrize("block,stages", [(16, 4), (32, 8)])
def test_documented_latency_from_row_last_beat_to_output(block, stages):
    cfg = NpuConfig(block_size=block)
    dut = BlockAccumulator(cfg)
    assert dut.adder_stages == BlockAccumulator.adder_stages_for(cfg) == stages
    assert dut.latency == BlockAccumulator.latency_for(cfg) == 8 + stages + 1
    beats = [pack_partial_sum(4, 0, 0, 0, 0)] * 3 + [pack_partial_sum(4, 1, 1, 127, 127)]
    got, stats = run_stream(dut, beats, 1)
    assert got.tolist() == [0x40800000]               # 4 * 1.0 quarters * 4 beats = 4.0
    # The row_last beat transfers in cycle 3; o.valid is sampled at the end of cycle
    # out_cycles - 1.
    assert stats["out_cycles"][0] - 1 - 3 == dut.latency


def test_short_blocks_for_a_deep_adder_stall_but_stay_exact():
    # 2-beat blocks (shorter than any 2:4 block) into the 8-stage adder of
    # block 32: each block's add waits for the previous one, the rows stay bit-exact.
    cfg = NpuConfig(block_size=32)
    rows = [([4, 4], 127, 127), ([-8, 3], 128, 120), ([1, 0], 100, 100)]
    beats = []
    for r, (ps, sw, sx) in enumerate(rows):
        for blk in range(3):
            beats.append(pack_partial_sum(ps[0], 0, 0, 0, 0))
            last_row = int(blk == 2)
            beats.append(pack_partial_sum(ps[1], 1, last_row, sw + blk, sx))
    got, stats = run_stream(BlockAccumulator(cfg), beats, len(rows))
    f32 = lambda v: np.float32(v)
    want = []
    for ps, sw, sx in rows:
        y = np.float32(0.0)
        for blk in range(3):
            q = f32(sum(ps) / 4 * 2.0 ** (sw + blk - 127) * 2.0 ** (sx - 127))
            y = np.float32(y + q)
        want.append(int(np.array(y, dtype=np.float32).view(np.uint32)))
    assert got.tolist() == want
    assert stats["in_stalls"] > 0


def test_constructor_checks():
    with pytest.raises(TypeError):
        BlockAccumulator(32)
    for block in (16, 32):
        cfg = NpuConfig(block_size=block)
        # The documented no-stall constraint: the adder is no deeper than a 2:4 block.
        stages = BlockAccumulator.adder_stages_for(cfg)
        assert FP32Adder.MIN_STAGES <= stages <= min(block // 4, FP32Adder.MAX_STAGES)


def test_many_single_block_rows_rounding_into_subnormals():
    # One block per row, so y = +0 + q shows each rounded block term directly; scales put
    # S_w * S_x * p around the subnormal range [2^-149, 2^-126) (RNE with guard/sticky).
    from golden.quant import BlockQuantized

    rng = np.random.default_rng(21)
    m, block = 300, 16
    w, x = random_block_operands(rng, m, block, block=block, scale_format="e8m0", sparse=True)
    sx = np.array([50], dtype=np.uint8)
    sw = rng.integers(44, 79, (m, 1)).astype(np.uint8)
    w = BlockQuantized(codes=w.codes, scales=sw, block=block, scale_format="e8m0")
    x = BlockQuantized(codes=x.codes, scales=sx, block=block, scale_format="e8m0")
    want = gemv_reference(w, x).view(np.uint32)
    assert ((want & 0x7F800000) == 0).sum() > m // 2          # mostly subnormal or zero
    dut = BlockAccumulator(NpuConfig(block_size=block, scale_format="e8m0"))
    got, _ = run_stream(dut, block_accumulator_beats(w, x, sparse=True), m, p_out=0.2)
    np.testing.assert_array_equal(got, want)
