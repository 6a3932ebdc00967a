"""hw.VLut16 in Amaranth's simulator, against golden/ dequant references, with back-pressure.

Tables are programmed through ``table_wr`` (golden/kernels builds them); the expected outputs
come from the golden element-by-element dequant references (``dequant_plain``) and from
ml_dtypes directly, never from the table under test alone.
"""

import random

import ml_dtypes
import numpy as np
import pytest
from amaranth.sim import Simulator

from golden.kernels import dequant, tman
from hw import NpuConfig
from hw.vlut16 import VLut16

CFG = NpuConfig(vlut_lanes=8)
N = CFG.vlut_lanes


def lut_run(config, segments, *, p_valid=1.0, p_ready=1.0, seed=0, init=None):
    """Program each segment's table, stream its index vectors; return the output vectors.

    ``segments`` is a list of ``(table16, [vector, ...])``; a vector is a list of N indices.
    Returns a list (per segment) of lists of output vectors (lists of N ints), in order.
    """
    dut = VLut16(config, init=init)
    n = config.vlut_lanes
    rng = random.Random(seed)
    out = []

    async def bench(ctx):
        for table, vectors in segments:
            ctx.set(dut.i.valid, 0)
            if table is not None:
                for e, v in enumerate(table):
                    ctx.set(dut.table_wr.valid, 1)
                    ctx.set(dut.table_wr.payload.index, e)
                    ctx.set(dut.table_wr.payload.value, int(v))
                    await ctx.tick()
                ctx.set(dut.table_wr.valid, 0)
            pending = list(vectors)
            got, raised, idle = [], False, 0
            while len(got) < len(vectors):
                if pending and (raised or rng.random() < p_valid):
                    raised = True
                    ctx.set(dut.i.valid, 1)
                    ctx.set(dut.i.payload, [int(x) for x in pending[0]])
                else:
                    ctx.set(dut.i.valid, 0)
                ctx.set(dut.o.ready, rng.random() < p_ready)
                took = ctx.get(dut.i.valid) and ctx.get(dut.i.ready)
                if ctx.get(dut.o.valid) and ctx.get(dut.o.ready):
                    v = ctx.get(dut.o.payload)
                    got.append([int(v[k]) for k in range(n)])
                await ctx.tick()
                if took:
                    pending.pop(0)
                    raised = False
                idle += 1
                assert idle < 100 * len(vectors) + 100, "VLut16 stopped producing"
            out.append(got)

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out


def f16_bits(a) -> list[int]:
    return [int(x) for x in np.asarray(a, dtype=np.float16).view(np.uint16).ravel()]


def vectors_of(codes) -> list[list[int]]:
    codes = [int(c) for c in np.asarray(codes).ravel()]
    assert len(codes) % N == 0
    return [codes[j:j + N] for j in range(0, len(codes), N)]


def test_all_16_entries_in_every_lane():
    rng = random.Random(1)
    table = rng.sample(range(1 << 16), 16)
    vectors = [[(v + k) % 16 for k in range(N)] for v in range(16)]
    (got,) = lut_run(CFG, [(table, vectors)])
    assert got == [[table[i] for i in vec] for vec in vectors]


def test_one_vector_per_cycle_without_back_pressure():
    vectors = [[(v * 3 + k) % 16 for k in range(N)] for v in range(40)]
    dut_cycles = []

    # Count cycles directly: with valid and ready always high, 40 vectors take 40 + latency
    # cycles.
    dut = VLut16(CFG, init=list(range(100, 116)))

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        got, c = [], 0
        while len(got) < len(vectors):
            if c < len(vectors):
                ctx.set(dut.i.valid, 1)
                ctx.set(dut.i.payload, vectors[c])
                assert ctx.get(dut.i.ready)
            else:
                ctx.set(dut.i.valid, 0)
            if ctx.get(dut.o.valid):
                v = ctx.get(dut.o.payload)
                got.append([int(v[k]) for k in range(N)])
            await ctx.tick()
            c += 1
        dut_cycles.append(c)
        assert got == [[100 + i for i in vec] for vec in vectors]

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert dut_cycles == [len(vectors) + VLut16.latency]


@pytest.mark.parametrize("p_valid,p_ready,seed", [(0.5, 0.5, 2), (0.9, 0.3, 3), (0.3, 0.9, 4)])
def test_e2m1_to_fp16_unscaled_matches_ml_dtypes(p_valid, p_ready, seed):
    table = f16_bits(dequant.lut16_tables(np.float16(1.0), "e2m1"))
    codes = np.arange(16 * N) % 16
    (got,) = lut_run(CFG, [(table, vectors_of(codes))], p_valid=p_valid, p_ready=p_ready,
                     seed=seed)
    # Independent expectation: ml_dtypes' E2M1 decode, converted to FP16.
    want = f16_bits(codes.astype(np.uint8).view(ml_dtypes.float4_e2m1fn).astype(np.float16))
    assert [x for vec in got for x in vec] == want


@pytest.mark.parametrize("fmt", ["e2m1", "int4", "nf4"])
def test_group_dequant_with_scale_baked_in_matches_golden(fmt):
    rng = np.random.default_rng(5)
    group, groups = 32, 4
    codes = rng.integers(0, 16, size=(1, group * groups), dtype=np.uint8)
    # Scales: normal, tiny (subnormal products), huge (overflow to Inf), negative.
    scales = np.array([[0.37, 2.0**-20, 30000.0, -1.5]], dtype=np.float16)
    packed = (codes[:, 0::2] | (codes[:, 1::2] << 4)).astype(np.uint8)
    want = dequant.dequant_plain(packed, scales, fmt=fmt, group=group)
    tables = dequant.lut16_tables(scales[0], fmt)
    segments = [(f16_bits(tables[g]), vectors_of(codes[0, g * group:(g + 1) * group]))
                for g in range(groups)]
    got = lut_run(CFG, segments, p_valid=0.7, p_ready=0.6, seed=6)
    assert [x for seg in got for vec in seg for x in vec] == f16_bits(want)


def test_int4_with_scale_and_zero_point_baked_in_matches_golden_and_ml_dtypes():
    rng = np.random.default_rng(7)
    group, groups = 16, 6
    q = rng.integers(0, 16, size=(1, group * groups))
    scales = rng.uniform(0.001, 0.2, size=(1, groups)).astype(np.float16)
    zeros = rng.integers(0, 16, size=(1, groups))
    want = tman.dequant_plain(q, scales, zeros, bits=4, group=group)
    # Independent: ((q - z) as float32 * float32(scale)) rounded to float16 by numpy.
    qz = (q.reshape(groups, group) - zeros.reshape(groups, 1)).astype(np.float32)
    indep = (qz * scales.reshape(groups, 1).astype(np.float32)).astype(np.float16)
    assert f16_bits(indep) == f16_bits(want)
    tables = tman.level2_tables(scales[0], zeros[0], 4)
    segments = [(f16_bits(tables[g]), vectors_of(q[0, g * group:(g + 1) * group]))
                for g in range(groups)]
    got = lut_run(CFG, segments, p_valid=0.8, p_ready=0.5, seed=8)
    assert [x for seg in got for vec in seg for x in vec] == f16_bits(want)


def test_scale_broadcast_fills_every_lane_with_one_entry():
    scales = np.array([0.5 + g / 7 for g in range(16)], dtype=np.float16)
    table = f16_bits(scales)
    vectors = [[g] * N for g in (3, 0, 15, 7, 7, 9)]
    (got,) = lut_run(CFG, [(table, vectors)], p_valid=0.6, p_ready=0.6, seed=9)
    assert got == [[table[g]] * N for g in (3, 0, 15, 7, 7, 9)]


def test_tman_bit_serial_to_bit_parallel_repack():
    rng = np.random.default_rng(10)
    k = N * 4 * 4  # 4 weights per lookup, N lanes, 4 vectors
    q = rng.integers(0, 16, size=(1, k))
    planes = tman.to_bit_serial(q, 4)  # (4, 1, k // 8)
    # Nibble j of a plane holds bit i of weights 4j .. 4j + 3.
    nib = [np.stack([planes[i, 0] & 0xF, planes[i, 0] >> 4], axis=-1).ravel()
           for i in range(4)]
    segments = [([int(x) for x in tman.LEVEL1[4][i]], vectors_of(nib[i])) for i in range(4)]
    got = lut_run(CFG, segments, p_valid=0.7, p_ready=0.7, seed=11)
    words = np.zeros(k // 4, dtype=np.uint16)
    for seg in got:
        words |= np.array([x for vec in seg for x in vec], dtype=np.uint16)
    assert list(words) == list(tman.repack_level1(planes, 4)[0])
    # Independently: word j holds weight 4j + t in nibble t.
    indep = [sum(int(q[0, 4 * j + t]) << (4 * t) for t in range(4)) for j in range(k // 4)]
    assert [int(w) for w in words] == indep


def test_table_write_in_the_same_cycle_as_a_lookup_gives_the_old_entry():
    dut = VLut16(NpuConfig(vlut_lanes=2), init=list(range(16)))
    seen = []

    async def bench(ctx):
        ctx.set(dut.o.ready, 1)
        ctx.set(dut.i.valid, 1)
        ctx.set(dut.i.payload, [5, 5])
        ctx.set(dut.table_wr.valid, 1)
        ctx.set(dut.table_wr.payload.index, 5)
        ctx.set(dut.table_wr.payload.value, 0xBEEF)
        await ctx.tick()
        ctx.set(dut.table_wr.valid, 0)
        await ctx.tick().repeat(VLut16.latency - 1)
        assert ctx.get(dut.o.valid)
        seen.append(list(ctx.get(dut.o.payload)))
        await ctx.tick()
        seen.append(list(ctx.get(dut.o.payload)))

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen == [[5, 5], [0xBEEF, 0xBEEF]]


@pytest.mark.parametrize("lanes", [1, 64])
def test_lane_counts(lanes):
    cfg = NpuConfig(vlut_lanes=lanes)
    table = [(e * 0x1111) ^ 0x0F0F for e in range(16)]
    rng = random.Random(lanes)
    vectors = [[rng.randrange(16) for _ in range(lanes)] for _ in range(20)]
    (got,) = lut_run(cfg, [(table, vectors)], p_valid=0.8, p_ready=0.8, seed=lanes)
    assert got == [[table[i] for i in vec] for vec in vectors]


def test_bad_init_is_rejected():
    with pytest.raises(ValueError, match="init"):
        VLut16(CFG, init=[0] * 15)


# --- VLutEngine: a LUT job over a TCM vector ------------------------------------------------


def engine_run(config, *, image, jobs):
    """Preload the TCM with ``image`` (words), run ``jobs`` on a VLutEngine wired to the TCM's
    vector port; return (statuses, final TCM words, cycles per job)."""
    from amaranth import Module
    from amaranth.lib import wiring

    from hw.tcm import Tcm
    from hw.vlut16 import VLutEngine

    words = config.tcm_banks * config.tcm_bank_words
    m = Module()
    m.submodules.tcm = tcm = Tcm(config)
    m.submodules.eng = eng = VLutEngine(config)
    wiring.connect(m, eng.tcm_req, tcm.vec_req)
    wiring.connect(m, tcm.vec_resp, eng.tcm_resp)
    out = {}

    async def bench(ctx):
        for a, v in enumerate(image):
            ctx.set(tcm.dma_req.valid, 1)
            ctx.set(tcm.dma_req.payload.addr, a)
            ctx.set(tcm.dma_req.payload.write, 1)
            ctx.set(tcm.dma_req.payload.data, int(v))
            await ctx.tick()
        ctx.set(tcm.dma_req.valid, 0)
        statuses, cycles = [], []
        for job in jobs:
            ctx.set(eng.job.valid, 1)
            for k, v in job.items():
                ctx.set(getattr(eng.job.payload, k), v)
            await ctx.tick()
            ctx.set(eng.job.valid, 0)
            c = 1
            while not ctx.get(eng.done.valid):
                await ctx.tick()
                c += 1
                assert c < 100_000, "VLutEngine hung"
            statuses.append(ctx.get(eng.done.payload))
            cycles.append(c)
            ctx.set(eng.done.ready, 1)
            await ctx.tick()
            ctx.set(eng.done.ready, 0)
        ctx.set(tcm.dma_resp.ready, 1)
        dump, a = [], 0
        while len(dump) < words:
            ctx.set(tcm.dma_req.valid, a < words)
            ctx.set(tcm.dma_req.payload.addr, min(a, words - 1))
            ctx.set(tcm.dma_req.payload.write, 0)
            took = a < words and ctx.get(tcm.dma_req.ready)
            if ctx.get(tcm.dma_resp.valid):
                dump.append(ctx.get(tcm.dma_resp.payload))
            await ctx.tick()
            a += took
        out.update(statuses=statuses, dump=dump, cycles=cycles)

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["statuses"], out["dump"], out["cycles"]


def _image_with(config, rng, pieces):
    """A random TCM image with ``pieces`` {word address: bytes} laid in (little-endian)."""
    wb = config.tcm_word_bits // 8
    words = config.tcm_banks * config.tcm_bank_words
    img = bytearray(rng.integers(0, 256, size=words * wb, dtype=np.uint8).tobytes())
    for addr, blob in pieces.items():
        img[addr * wb:addr * wb + len(blob)] = blob
    return [int.from_bytes(img[i * wb:(i + 1) * wb], "little") for i in range(words)], img


@pytest.mark.parametrize("bus,lanes", [(64, 8), (64, 32), (32, 8), (128, 4)])
def test_engine_maps_a_tcm_vector_through_a_golden_dequant_table(bus, lanes):
    from hw.vlut16 import VLutError

    cfg = NpuConfig(bus_data_bits=bus, tcm_word_bits=bus, tcm_banks=4, tcm_bank_words=64,
                    vlut_lanes=lanes)
    wb = bus // 8
    rng = np.random.default_rng(bus + lanes)
    q = max(lanes, bus // 4)
    count = 4 * q
    codes = rng.integers(0, 16, size=count, dtype=np.uint8)
    table = dequant.lut16_tables(np.float16(0.3), "int4")            # float16[16]
    src_w, table_w = 3, 40
    dst_w = 64 // wb * 2                                               # leaves gaps around
    image, img = _image_with(cfg, rng, {
        src_w: (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8).tobytes(),
        table_w: table.view(np.uint16).astype("<u2").tobytes(),
    })
    statuses, dump, _cycles = engine_run(cfg, image=image, jobs=[{
        "src_addr": src_w * wb, "dst_addr": dst_w * wb, "table_addr": table_w * wb,
        "count": count}])
    assert statuses == [VLutError.NONE]
    want = bytearray(img)
    # Expected from the golden element-by-element dequant, not from the table alone.
    packed = (codes[0::2] | (codes[1::2] << 4)).astype(np.uint8)[None, :]
    ref = dequant.dequant_plain(packed, np.full((1, 1), 0.3, np.float16), fmt="int4",
                                group=count)
    want[dst_w * wb:dst_w * wb + 2 * count] = ref.view(np.uint16).astype("<u2").tobytes()
    got = b"".join(int(v).to_bytes(wb, "little") for v in dump)
    assert got == bytes(want)  # every byte, including the words just outside dst


def test_engine_rejects_bad_jobs_without_touching_the_tcm():
    from hw.vlut16 import VLutError

    cfg = NpuConfig(tcm_banks=4, tcm_bank_words=16)
    rng = np.random.default_rng(1)
    image, _img = _image_with(cfg, rng, {})
    words = 64
    ok = {"src_addr": 0, "dst_addr": 8 * 8, "table_addr": 40 * 8, "count": 16}
    bad = [({"count": 0}, VLutError.ZERO_LENGTH),
           ({"src_addr": 4}, VLutError.MISALIGNED),
           ({"dst_addr": 66}, VLutError.MISALIGNED),
           ({"table_addr": 1}, VLutError.MISALIGNED),
           ({"count": 8}, VLutError.MISALIGNED),
           ({"dst_addr": (words - 3) * 8}, VLutError.TCM_RANGE),
           ({"src_addr": words * 8}, VLutError.TCM_RANGE),
           ({"table_addr": (words - 3) * 8}, VLutError.TCM_RANGE)]
    statuses, dump, _ = engine_run(cfg, image=image, jobs=[{**ok, **c} for c, _ in bad])
    assert statuses == [e for _, e in bad]
    assert dump == image
