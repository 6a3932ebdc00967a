"""hw.Tcm in Amaranth's simulator: every port against a scoreboard memory model.

One testbench drives all three ports each cycle (so that the arbitration sees every request
of the cycle before anyone samples ``ready``), keeps a request valid until it is accepted,
applies accepted writes to a Python model in acceptance order and expects each read to return
the model's word at acceptance time, in order per port. Nothing may be lost, duplicated or
reordered, and the run must drain.
"""

import random

import pytest
from amaranth.sim import Simulator

from hw import NpuConfig
from hw.tcm import Tcm

PORTS = ("dma", "compute", "vec")


def rtl_run(config, traffic, *, p_valid=1.0, p_ready=1.0, seed=0, starve_limit=8,
            read_latency=3, max_cycles=20000, trace=None):
    """Run ``traffic`` {port: [request, ...]} through a Tcm; return the per-port results.

    dma/vec requests are ``("r", addr)`` or ``("w", addr, data)``; compute requests are
    ``("r", addr)`` (narrow) or ``("line", addr)`` (wide). Returns ``(reads, stalls, log)``:
    the read data per port (a word, or a list of N words for a wide read) checked against the
    scoreboard, the stall counters, and per cycle the set of ports whose request was accepted.
    """
    dut = Tcm(config, starve_limit=starve_limit, read_latency=read_latency)
    nb = config.tcm_banks
    rng = random.Random(seed)
    out = {}

    async def bench(ctx):
        model = {}
        pending = {p: list(traffic.get(p, [])) for p in PORTS}
        expect = {p: [] for p in PORTS}
        got = {p: [] for p in PORTS}
        raised = {p: False for p in PORTS}
        log = []
        for _ in range(max_cycles):
            for p in PORTS:
                req = getattr(dut, f"{p}_req")
                if pending[p] and (raised[p] or rng.random() < p_valid):
                    raised[p] = True
                    r = pending[p][0]
                    ctx.set(req.valid, 1)
                    if p == "compute":
                        ctx.set(req.payload.addr, r[1])
                        ctx.set(req.payload.wide, r[0] == "line")
                    else:
                        ctx.set(req.payload.addr, r[1])
                        ctx.set(req.payload.write, r[0] == "w")
                        ctx.set(req.payload.data, r[2] if r[0] == "w" else 0)
                else:
                    ctx.set(req.valid, 0)
                ctx.set(getattr(dut, f"{p}_resp").ready, rng.random() < p_ready)
            accepted = set()
            for p in PORTS:
                req = getattr(dut, f"{p}_req")
                if ctx.get(req.valid) and ctx.get(req.ready):
                    accepted.add(p)
                resp = getattr(dut, f"{p}_resp")
                if ctx.get(resp.valid) and ctx.get(resp.ready):
                    v = ctx.get(resp.payload)
                    got[p].append(list(v) if p == "compute" else v)
            # Reads see the memory before this cycle's writes (they cannot share a bank).
            for p in sorted(accepted):
                r = pending[p][0]
                if r[0] == "line":
                    base = r[1] - r[1] % nb
                    expect[p].append([model.get(base + i, 0) for i in range(nb)])
                elif r[0] == "r":
                    expect[p].append(model.get(r[1], 0))
            # A DMA write that lost its bank is posted and lands next cycle, after any write
            # accepted in the same cycle (the only way two writes of a cycle share a bank).
            for p in sorted(accepted, key=lambda p: p == "dma"):
                r = pending[p].pop(0)
                raised[p] = False
                if r[0] == "w":
                    model[r[1]] = r[2]
            log.append(accepted)
            await ctx.tick()
            if not any(pending.values()) and all(len(got[p]) == len(expect[p]) for p in PORTS):
                break
        else:
            raise AssertionError(f"traffic did not drain in {max_cycles} cycles: "
                                 f"{ {p: len(v) for p, v in pending.items()} } left")
        for p in PORTS:
            # Narrow compute reads check element 0 only (the others are unspecified).
            if p == "compute":
                for r, g, e in zip(traffic.get(p, []) and
                                   [x for x in traffic[p] if x[0] in ("r", "line")],
                                   got[p], expect[p]):
                    if r[0] == "r":
                        assert g[0] == e, (p, r, g[0], e)
                    else:
                        assert g == e, (p, r, g, e)
                assert len(got[p]) == len(expect[p])
            else:
                assert got[p] == expect[p], p
        out["reads"] = got
        out["stalls"] = {p: ctx.get(getattr(dut, f"{p}_stall_cycles")) for p in PORTS}
        out["log"] = log

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    return out["reads"], out["stalls"], out["log"]


CFG = NpuConfig(tcm_banks=4, tcm_bank_words=16)


def test_same_bank_from_all_ports_serialises_in_priority_order():
    # One request each, all to bank 0: dma, then compute, then vec, one per cycle.
    traffic = {"dma": [("r", 0)], "compute": [("r", 4)], "vec": [("w", 8, 0x33)]}
    _, stalls, log = rtl_run(CFG, traffic)
    assert log[:3] == [{"dma"}, {"compute"}, {"vec"}]
    assert stalls == {"dma": 0, "compute": 1, "vec": 2}


def test_dma_write_that_loses_its_bank_is_posted_and_lands_next_cycle():
    # All three on bank 0: compute wins, the DMA write is posted (accepted, no stall) and
    # owns bank 0 in the next cycle, the vec write goes third; then both read back.
    traffic = {"dma": [("w", 0, 0x11), ("r", 0)], "compute": [("r", 4)],
               "vec": [("w", 8, 0x33), ("r", 8)]}
    reads, stalls, log = rtl_run(CFG, traffic)
    assert log[:4] == [{"dma", "compute"}, set(), {"dma"}, {"vec"}]
    assert reads["dma"] == [0x11] and reads["vec"] == [0x33]
    # The DMA read waits one cycle for its own posted write (a conflict stall).
    assert stalls == {"dma": 1, "compute": 0, "vec": 3}


def test_all_banks_at_once_are_served_in_one_cycle():
    traffic = {"dma": [("w", 1, 0xAA)], "compute": [("r", 2)], "vec": [("w", 7, 0xBB)]}
    _, stalls, log = rtl_run(CFG, traffic)
    assert log[0] == {"dma", "compute", "vec"}
    assert stalls == {"dma": 0, "compute": 0, "vec": 0}


def test_back_to_back_read_after_write_returns_the_new_word():
    traffic = {
        "dma": [("w", 5, 0x1234), ("r", 5), ("w", 5, 0x5678), ("r", 5)],
        "vec": [("w", 10, 0xABCD), ("r", 10), ("w", 10, 0xDCBA), ("r", 10)],
    }
    reads, _, log = rtl_run(CFG, traffic)
    assert reads["dma"] == [0x1234, 0x5678]
    assert reads["vec"] == [0xABCD, 0xDCBA]
    assert all(log[c] == {"dma", "vec"} for c in range(4))  # different banks: full rate


def test_wide_read_returns_the_aligned_line():
    # Narrow reads first give the DMA writes time to land (DMA writes rank last).
    traffic = {"dma": [("w", 12 + i, 0x100 + i) for i in range(4)],
               "compute": [("r", 0)] * 8 + [("line", 12), ("line", 13)]}
    reads, _, _ = rtl_run(CFG, traffic)
    assert reads["compute"][-1] == [0x100, 0x101, 0x102, 0x103]


@pytest.mark.parametrize("read_latency", [1, 2, 3, 4])
def test_dma_stream_runs_at_one_word_per_cycle_without_conflicts(read_latency):
    traffic = {"dma": [("w", a, a * 3) for a in range(32)] + [("r", a) for a in range(32)]}
    reads, _stalls, log = rtl_run(NpuConfig(tcm_banks=4, tcm_bank_words=16), traffic,
                                  read_latency=read_latency)
    assert reads["dma"] == [a * 3 for a in range(32)]
    assert all(log[c] == {"dma"} for c in range(64))


@pytest.mark.parametrize("starve_limit", [2, 8])
def test_wide_compute_read_is_not_starved_by_a_dma_stream(starve_limit):
    # The DMA wants a bank every cycle; the wide read needs all banks, so it waits until it
    # turns urgent, then wins.
    traffic = {"dma": [("r", a % 64) for a in range(64)], "compute": [("line", 0)]}
    _reads, stalls, log = rtl_run(CFG, traffic, starve_limit=starve_limit)
    won = next(c for c, acc in enumerate(log) if "compute" in acc)
    assert won == starve_limit
    assert stalls["compute"] == starve_limit


def test_gemv_pattern_dma_write_stream_never_stalls_and_wide_reads_get_half_the_cycles():
    n = 64
    traffic = {"dma": [("w", a, a + 1) for a in range(n)],
               "compute": [("line", 64 + 4 * k) for k in range(n // 2)]}
    _reads, stalls, log = rtl_run(NpuConfig(tcm_banks=4, tcm_bank_words=64), traffic)
    assert all("dma" in log[c] for c in range(n))
    assert sum("compute" in acc for acc in log[:n]) >= n // 2 - 1
    assert stalls["dma"] == 0


def test_posted_dma_writes_to_one_bank_do_not_starve_the_others():
    traffic = {"dma": [("w", 0, i) for i in range(80)], "compute": [("line", 0)] * 5,
               "vec": [("w", 4, 7), ("r", 0)] * 3}
    _, _, log = rtl_run(CFG, traffic, starve_limit=4)
    for p, count in (("compute", 5), ("vec", 6)):
        cycles = [c for c, acc in enumerate(log) if p in acc]
        assert len(cycles) == count
        assert max(b - a for a, b in zip([-1] + cycles, cycles)) <= 3 * 4 + 3


def test_vec_is_not_starved_by_dma_and_compute_on_its_bank():
    traffic = {"dma": [("r", 0)] * 60, "compute": [("r", 4)] * 60, "vec": [("w", 8, 1)] * 3}
    _, _stalls, log = rtl_run(CFG, traffic, starve_limit=4)
    vec_cycles = [c for c, acc in enumerate(log) if "vec" in acc]
    assert len(vec_cycles) == 3
    gaps = [b - a for a, b in zip([-1] + vec_cycles, vec_cycles)]
    assert max(gaps) <= 2 * 4 + 2


def _random_traffic(rng, config, n):
    words = config.tcm_banks * config.tcm_bank_words
    t = {"dma": [], "compute": [], "vec": []}
    for p, reqs in t.items():
        for _ in range(n):
            addr = rng.randrange(min(words, 48))  # a small window: many conflicts and hits
            if p == "compute":
                reqs.append((rng.choice(["r", "line"]), addr))
            elif rng.random() < 0.5:
                reqs.append(("w", addr, rng.getrandbits(config.tcm_word_bits)))
            else:
                reqs.append(("r", addr))
    return t


@pytest.mark.parametrize("read_latency", [1, 2, 3, 4])
@pytest.mark.parametrize("banks,p_valid,p_ready,seed", [
    (4, 1.0, 1.0, 1), (4, 0.6, 0.5, 2), (4, 0.9, 0.3, 3), (1, 0.7, 0.7, 4),
    (8, 0.8, 0.6, 5), (2, 1.0, 0.9, 6),
])
def test_random_concurrent_traffic_matches_scoreboard(banks, p_valid, p_ready, seed,
                                                      read_latency):
    cfg = NpuConfig(tcm_banks=banks, tcm_bank_words=16)
    rng = random.Random(seed)
    traffic = _random_traffic(rng, cfg, 150)
    reads, stalls, _log = rtl_run(cfg, traffic, p_valid=p_valid, p_ready=p_ready, seed=seed,
                                 starve_limit=rng.choice([1, 3, 8]),
                                 read_latency=read_latency)
    n_reads = sum(1 for p in traffic for r in traffic[p] if r[0] != "w")
    assert sum(len(v) for v in reads.values()) == n_reads
    if banks == 1 and p_valid > 0.5:
        assert stalls["vec"] > 0  # a single bank must have seen conflicts


def test_bad_starve_limit_is_rejected():
    with pytest.raises(ValueError, match="starve_limit"):
        Tcm(CFG, starve_limit=0)


@pytest.mark.parametrize("read_latency", [0, 5, 2.0])
def test_bad_read_latency_is_rejected(read_latency):
    with pytest.raises(ValueError, match="read_latency"):
        Tcm(CFG, read_latency=read_latency)


@pytest.mark.parametrize("read_latency", [1, 2, 3, 4])
def test_read_response_timing_and_full_rate_wide_reads(read_latency):
    # The first word comes read_latency + 1 cycles after the request; back-to-back wide reads
    # with the response always taken are granted every cycle and answered every cycle.
    cfg = NpuConfig(tcm_banks=4, tcm_bank_words=16)
    dut = Tcm(cfg, read_latency=read_latency)
    n = 12
    seen = {"acc": [], "resp": []}

    async def bench(ctx):
        ctx.set(dut.compute_resp.ready, 1)
        sent = 0
        for cycle in range(n + 8):
            ctx.set(dut.compute_req.valid, sent < n)
            ctx.set(dut.compute_req.payload.addr, 4 * (sent % 16))
            ctx.set(dut.compute_req.payload.wide, 1)
            if sent < n and ctx.get(dut.compute_req.ready):
                seen["acc"].append(cycle)
                sent += 1
            if ctx.get(dut.compute_resp.valid):
                seen["resp"].append(cycle)
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert seen["acc"] == list(range(n))
    assert seen["resp"] == [c + read_latency + 1 for c in range(n)]
