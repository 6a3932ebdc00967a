"""hw.GemvEngine in Amaranth's simulator, bit for bit against golden.gemv_reference."""

import random

import numpy as np
import pytest
from amaranth.sim import Simulator

from golden import gemv_reference, quant, sparse
from hw.block_acc import BlockAccumulator
from hw.config import NpuConfig
from hw.gemv import GemvEngine


def _operands(m, k, *, seed, sparse_w, fmt="mxfp4", block=32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32) * 3
    x = rng.standard_normal(k).astype(np.float32)
    if sparse_w:
        w = sparse.prune_2_4(w)
    qf = quant.quantize_mxfp4 if fmt == "mxfp4" else quant.quantize_nvfp4
    return qf(w, block=block), qf(x, block=block)


def steps_for(w, x, cfg, *, sparse_w, rows, blocks):
    """Step beats (dicts) for row tiles ``rows`` and block range ``blocks``, in engine order."""
    lanes, bs = cfg.lanes, cfg.block_size
    if sparse_w:
        vals, pats = sparse.compress_2_4(w.codes)
        per, xg = bs // 4, 4
    else:
        vals, pats = sparse.dense_as_pairs(w.codes)
        per, xg = bs // 2, 2
    beats = []
    for rt in rows:
        r0 = rt * lanes
        for b in blocks:
            for s in range(per):
                g = b * per + s
                xs = [int(c) for c in x.codes[g * xg:(g + 1) * xg]] + [0] * (4 - xg)
                beats.append({
                    "x": xs,
                    "w": [[int(vals[r0 + i, 2 * g]), int(vals[r0 + i, 2 * g + 1])]
                          for i in range(lanes)],
                    "pattern": [int(pats[r0 + i, g]) if sparse_w else 7 for i in range(lanes)],
                    "scale_w": [int(w.scales[r0 + i, b]) for i in range(lanes)],
                    "scale_x": int(x.scales[b]),
                })
    return beats


def run_engine(cfg, jobs, beats, *, seed=0, p_valid=1.0, p_ready=1.0, max_cycles=20000):
    """Drive ``jobs`` and ``beats`` with random gaps; return (y beats, stats)."""
    dut = GemvEngine(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(seed)
    ys, stats = [], {"cycles": 0, "fires": 0, "error": 0, "fault": None, "mac_cycles": 0}

    async def producer(ctx):
        ji = bi = 0
        idle = 0
        for cyc in range(max_cycles):
            if ji < len(jobs):
                ctx.set(dut.job.payload, jobs[ji])
                ctx.set(dut.job.valid, 1)
            else:
                ctx.set(dut.job.valid, 0)
            give = bi < len(beats) and rng.random() < p_valid
            if give:
                ctx.set(dut.step.payload, beats[bi])
            ctx.set(dut.step.valid, give)
            jfire = ji < len(jobs) and ctx.get(dut.job.ready)
            sfire = give and ctx.get(dut.step.ready)
            if ctx.get(dut.mac_active):
                stats["fires"] += 1
                stats.setdefault("first_fire", cyc)
                stats["last_fire"] = cyc
            await ctx.tick()
            ji += bool(jfire)
            bi += bool(sfire)
            if ctx.get(dut.error):
                stats["error"] = 1
                # No step is taken any more (the input slice may still accept up to two,
                # which it holds); rows finished before the fault may still leave the
                # accumulator pipeline (checked by the caller).
                for _ in range(dut.latency + 20):
                    assert not ctx.get(dut.mac_active)
                    if ctx.get(dut.step.ready):
                        ctx.set(dut.step.valid, 1)
                        stats["accepted_after_error"] = stats.get("accepted_after_error", 0) + 1
                    await ctx.tick()
                assert stats.get("accepted_after_error", 0) <= 2
                # The fault is read once nothing could move it any more.
                f = dut.fault
                stats["fault"] = (ctx.get(f.row_tile), ctx.get(f.step), ctx.get(f.lane))
                break
            if ji == len(jobs) and bi == len(beats) and not ctx.get(dut.busy):
                idle += 1
                if idle > 3:
                    break
        stats["cycles"] = cyc
        stats["mac_cycles"] = ctx.get(dut.mac_cycles)
        stats["beats_taken"] = bi
        stats["latency"] = dut.latency

    async def consumer(ctx):
        while True:
            r = rng.random() < p_ready
            ctx.set(dut.y.ready, r)
            fire = r and ctx.get(dut.y.valid)
            payload = [ctx.get(dut.y.payload[i]) for i in range(cfg.lanes)]
            await ctx.tick()
            if fire:
                ys.append(payload)

    sim.add_testbench(producer)
    sim.add_testbench(consumer, background=True)
    sim.run()
    return ys, stats


def _ref_bits(w, x):
    return gemv_reference(w, x).view(np.uint32)


def _job(sparse_w, rows, blocks, last=1):
    return {"sparse": int(sparse_w), "last": last, "row_tiles": rows, "k_blocks": blocks}


@pytest.mark.parametrize("sparse_w,p_valid,p_ready", [
    (True, 1.0, 1.0), (True, 0.6, 0.5), (False, 0.7, 0.3)])
def test_gemv_bit_exact_with_back_pressure(sparse_w, p_valid, p_ready):
    cfg = NpuConfig(lanes=4)
    m, k = 8, 64
    w, x = _operands(m, k, seed=11, sparse_w=sparse_w)
    beats = steps_for(w, x, cfg, sparse_w=sparse_w, rows=range(2), blocks=range(2))
    ys, st = run_engine(cfg, [_job(sparse_w, 2, 2)], beats, seed=3, p_valid=p_valid,
                        p_ready=p_ready)
    got = np.array(ys, dtype=np.uint32).reshape(-1)
    np.testing.assert_array_equal(got, _ref_bits(w, x))
    assert st["mac_cycles"] == st["fires"] == len(beats)
    assert st["error"] == 0


def test_full_rate_one_step_per_cycle_without_back_pressure():
    cfg = NpuConfig(lanes=2)
    w, x = _operands(2, 256, seed=5, sparse_w=True)
    beats = steps_for(w, x, cfg, sparse_w=True, rows=range(1), blocks=range(8))
    ys, st = run_engine(cfg, [_job(True, 1, 8)], beats)
    np.testing.assert_array_equal(np.array(ys, dtype=np.uint32).reshape(-1), _ref_bits(w, x))
    # All 64 steps were taken on consecutive cycles: the engine never stalled the operands.
    assert st["fires"] == len(beats) == 64
    assert st["last_fire"] - st["first_fire"] == 63
    assert st["latency"] == 7 + BlockAccumulator.latency_for(cfg)
    assert st["cycles"] <= len(beats) + st["latency"] + 6


def test_special_scales_nan_overflow_subnormal():
    cfg = NpuConfig(lanes=4)
    rng = np.random.default_rng(2)
    codes = sparse.prune_2_4(rng.integers(0, 16, (4, 96)).astype(np.float32))
    codes = codes.astype(np.uint8)
    scales = np.array([[255, 120, 127], [254, 254, 254], [0, 1, 0], [140, 10, 200]], np.uint8)
    w = quant.BlockQuantized(codes, scales, 32, "e8m0")
    x = quant.BlockQuantized(rng.integers(0, 16, 96).astype(np.uint8),
                             np.array([200, 254, 3], np.uint8), 32, "e8m0")
    beats = steps_for(w, x, cfg, sparse_w=True, rows=range(1), blocks=range(3))
    ys, _ = run_engine(cfg, [_job(True, 1, 3)], beats, seed=1, p_valid=0.8, p_ready=0.7)
    np.testing.assert_array_equal(np.array(ys[0], dtype=np.uint32), _ref_bits(w, x))


def test_nvfp4_e4m3_scales():
    cfg = NpuConfig(lanes=4, block_size=16, scale_format="e4m3")
    for sp in (True, False):
        w, x = _operands(4, 48, seed=8, sparse_w=sp, fmt="nvfp4", block=16)
        beats = steps_for(w, x, cfg, sparse_w=sp, rows=range(1), blocks=range(3))
        ys, _ = run_engine(cfg, [_job(sp, 1, 3)], beats, seed=2, p_valid=0.8, p_ready=0.8)
        np.testing.assert_array_equal(np.array(ys[0], dtype=np.uint32), _ref_bits(w, x))


def test_k_chunks_continue_the_row_sums_across_jobs():
    cfg = NpuConfig(lanes=4)
    w, x = _operands(4, 128, seed=21, sparse_w=True)
    beats = (steps_for(w, x, cfg, sparse_w=True, rows=range(1), blocks=range(3))
             + steps_for(w, x, cfg, sparse_w=True, rows=range(1), blocks=range(3, 4)))
    jobs = [_job(True, 1, 3, last=0), _job(True, 1, 1, last=1)]
    ys, _ = run_engine(cfg, jobs, beats, seed=4, p_valid=0.7, p_ready=0.6)
    assert len(ys) == 1
    np.testing.assert_array_equal(np.array(ys[0], dtype=np.uint32), _ref_bits(w, x))


@pytest.mark.parametrize("bad_code,p_valid,next_bad", [
    (6, 0.9, False), (7, 0.9, False), (7, 1.0, False), (6, 1.0, True)])
def test_invalid_pattern_raises_error_and_stops(bad_code, p_valid, next_bad):
    # With p_valid 1.0 the step after the invalid one is always offered: it must not be
    # taken and, invalid too (next_bad), must not move the fault.
    cfg = NpuConfig(lanes=4)
    w, x = _operands(8, 64, seed=1, sparse_w=True)
    beats = steps_for(w, x, cfg, sparse_w=True, rows=range(2), blocks=range(2))
    bad_step = 16 + 11                      # row tile 1, step 11 within it
    beats[bad_step]["pattern"][2] = bad_code
    beats[bad_step]["pattern"][3] = bad_code
    if next_bad:
        beats[bad_step + 1]["pattern"][0] = 7
    ys, st = run_engine(cfg, [_job(True, 2, 2)], beats, seed=9, p_valid=p_valid, p_ready=0.9)
    assert st["error"] == 1
    assert st["fault"] == (1, 11, 2)        # the lowest invalid lane
    assert st["fires"] == st["mac_cycles"] == bad_step + 1   # none after the invalid step
    assert bad_step + 1 <= st["beats_taken"] <= bad_step + 3  # the slice holds up to two
    assert len(ys) == 1                     # only row tile 0, finished before the fault
    np.testing.assert_array_equal(np.array(ys[0], dtype=np.uint32), _ref_bits(w, x)[:4])


def test_dense_ignores_pattern_field():
    # Dense steps carry pattern 7 in steps_for(); the engine must force pattern 0.
    cfg = NpuConfig(lanes=2)
    w, x = _operands(2, 32, seed=4, sparse_w=False)
    beats = steps_for(w, x, cfg, sparse_w=False, rows=range(1), blocks=range(1))
    assert all(p == 7 for b in beats for p in b["pattern"])
    ys, st = run_engine(cfg, [_job(False, 1, 1)], beats)
    assert st["error"] == 0
    np.testing.assert_array_equal(np.array(ys[0], dtype=np.uint32), _ref_bits(w, x))


@pytest.mark.parametrize("sparse_w", [True, False])
def test_lane_fifos_absorb_long_back_pressure(sparse_w):
    # Short NVFP4 blocks (4 beats for 2:4) and a y consumer that is rarely ready keep the
    # accumulators stalled for long stretches: the credit check must stop taking steps
    # before a lane FIFO overflows (a dropped beat would change the sums).
    # 8 row tiles: more blocks than the accumulators' pipelines hold, so the FIFOs fill.
    cfg = NpuConfig(lanes=2, block_size=16, scale_format="e4m3")
    w, x = _operands(16, 48, seed=31, sparse_w=sparse_w, fmt="nvfp4", block=16)
    beats = steps_for(w, x, cfg, sparse_w=sparse_w, rows=range(8), blocks=range(3))
    ys, st = run_engine(cfg, [_job(sparse_w, 8, 3)], beats, seed=6, p_valid=1.0,
                        p_ready=0.05)
    np.testing.assert_array_equal(np.array(ys, dtype=np.uint32).reshape(-1), _ref_bits(w, x))
    assert st["mac_cycles"] == st["fires"] == len(beats)


def test_job_shapes_back_to_back():
    # The last step / block / row tile flags are loaded one step ahead and reloaded at each
    # job: 1, 2 and 3 row tiles and blocks, sparse and dense, one job after the other.
    cfg = NpuConfig(lanes=2)
    jobs, beats, want = [], [], []
    for n, (sp, rows, blocks) in enumerate(
            [(sp, r, b) for sp in (True, False) for r in (1, 2, 3) for b in (1, 2, 3)]):
        w, x = _operands(2 * rows, 32 * blocks, seed=40 + n, sparse_w=sp)
        jobs.append(_job(sp, rows, blocks))
        beats += steps_for(w, x, cfg, sparse_w=sp, rows=range(rows), blocks=range(blocks))
        want.append(_ref_bits(w, x))
    ys, st = run_engine(cfg, jobs, beats, seed=3, p_valid=0.8, p_ready=0.7)
    assert st["beats_taken"] == len(beats)
    np.testing.assert_array_equal(np.array(ys, dtype=np.uint32).reshape(-1),
                                  np.concatenate(want))


@pytest.mark.parametrize("p_ready", [1.0, 0.3])
def test_busy_falls_the_cycle_after_the_last_y(p_ready):
    # y's transfer is registered before it counts down the row tiles in flight; busy must
    # still be high up to the last y transfer and low in the cycle after it.
    cfg = NpuConfig(lanes=2)
    w, x = _operands(6, 64, seed=12, sparse_w=True)
    beats = steps_for(w, x, cfg, sparse_w=True, rows=range(3), blocks=range(2))
    dut = GemvEngine(cfg)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    rng = random.Random(7)
    trace = []                              # (busy, y transfer) per cycle after the job

    async def bench(ctx):
        ctx.set(dut.job.payload, _job(True, 3, 2))
        ctx.set(dut.job.valid, 1)
        assert ctx.get(dut.job.ready)
        await ctx.tick()
        ctx.set(dut.job.valid, 0)
        bi = 0
        for _ in range(400):
            if bi < len(beats):
                ctx.set(dut.step.payload, beats[bi])
            ctx.set(dut.step.valid, bi < len(beats))
            r = rng.random() < p_ready
            ctx.set(dut.y.ready, r)
            sfire = bi < len(beats) and ctx.get(dut.step.ready)
            trace.append((ctx.get(dut.busy), bool(r and ctx.get(dut.y.valid))))
            await ctx.tick()
            bi += bool(sfire)

    sim.add_testbench(bench)
    sim.run()
    fires = [c for c, (_, f) in enumerate(trace) if f]
    assert len(fires) == 3
    assert all(b for b, _ in trace[:fires[-1] + 1])
    assert not any(b for b, _ in trace[fires[-1] + 1:])
