"""hw.Dma + hw.Tcm in Verilator against cocotbext-axi's AxiRam.

:class:`DmaHarness` (Amaranth) joins a Dma to a Tcm and exposes the DMA's AXI4 master, its
descriptor/completion streams and the TCM's vector port, through which the bench fills and
reads back the whole TCM. The cocotb tests below run on it; the build configuration comes in
``LUTNPU_DMA_CONFIG`` (NpuConfig keyword arguments as JSON).

Every test compares every byte of the DRAM model and every TCM word with a Python model of
the transfer, so bytes just outside the destination must be untouched, and compares the AR/AW
bursts with a reference splitter (INCR, at most ``dma_max_burst`` beats, no 4 KiB crossing).
"""

from __future__ import annotations

import json
import os
import random

import cocotb
from amaranth import Module, Shape
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer
from cocotbext.axi.constants import AxiResp

from cosim.axi import BurstLog, ErrorInjector, make_axi_ram
from hw.axi import Axi4Signature
from hw.config import NpuConfig
from hw.dma import Dma, DmaDir, DmaError, dma_descriptor_layout, dma_status_layout
from hw.tcm import Tcm, tcm_request_layout


class DmaHarness(wiring.Component):
    """A Dma wired to a Tcm; the TCM's vector port is exposed for filling and checking."""

    def __init__(self, config: NpuConfig):
        self._config = config
        a = config.bus_addr_bits
        super().__init__({
            "axi": Out(Axi4Signature.from_config(config)),
            "desc": In(stream.Signature(dma_descriptor_layout(config))),
            "done": Out(stream.Signature(dma_status_layout(config))),
            "window_base": In(a),
            "window_limit": In(a, init=(1 << a) - 1),
            "vec_req": In(stream.Signature(tcm_request_layout(config))),
            "vec_resp": Out(stream.Signature(config.tcm_word_bits)),
            "busy": Out(1),
            "rd_bytes": Out(32),
            "wr_bytes": Out(32),
            "busy_cycles": Out(32),
            "dma_stall_cycles": Out(32),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.dma = dma = Dma(self._config)
        m.submodules.tcm = tcm = Tcm(self._config)
        wiring.connect(m, dma.tcm_req, tcm.dma_req)
        wiring.connect(m, tcm.dma_resp, dma.tcm_resp)
        wiring.connect(m, wiring.flipped(self.axi), dma.axi)
        wiring.connect(m, wiring.flipped(self.desc), dma.desc)
        wiring.connect(m, dma.done, wiring.flipped(self.done))
        wiring.connect(m, wiring.flipped(self.vec_req), tcm.vec_req)
        wiring.connect(m, tcm.vec_resp, wiring.flipped(self.vec_resp))
        m.d.comb += [
            dma.window_base.eq(self.window_base),
            dma.window_limit.eq(self.window_limit),
            self.busy.eq(dma.busy),
            self.rd_bytes.eq(dma.rd_bytes),
            self.wr_bytes.eq(dma.wr_bytes),
            self.busy_cycles.eq(dma.busy_cycles),
            self.dma_stall_cycles.eq(tcm.dma_stall_cycles),
        ]
        return m


def pack(layout, **fields) -> int:
    """Pack ``fields`` into the integer value of ``layout`` (an Amaranth StructLayout)."""
    value = 0
    for name, v in fields.items():
        f = layout[name]
        width = Shape.cast(f.shape).width
        value |= (int(v) & ((1 << width) - 1)) << f.offset
    return value


def unpack(layout, value: int) -> dict:
    out = {}
    for name, f in layout:
        width = Shape.cast(f.shape).width
        out[name] = (value >> f.offset) & ((1 << width) - 1)
    return out


def reference_bursts(addr, nbytes, *, bus_bytes, max_burst):
    """The bursts a row should be cut into: <= max_burst beats, never across 4 KiB."""
    out = []
    while nbytes:
        beats = min(max_burst, nbytes // bus_bytes, (4096 - addr % 4096) // bus_bytes)
        out.append((addr, beats))
        addr += beats * bus_bytes
        nbytes -= beats * bus_bytes
    return out


# --- environment --------------------------------------------------------------------------

DRAM_BYTES = 1 << 16


class Env:
    def __init__(self, dut, pattern="none", seed=0, dram_bytes=DRAM_BYTES):
        self.dut = dut
        self.cfg = NpuConfig(**json.loads(os.environ["LUTNPU_DMA_CONFIG"]))
        self.words = self.cfg.tcm_banks * self.cfg.tcm_bank_words
        self.wb = self.cfg.bus_bytes
        self.desc_layout = dma_descriptor_layout(self.cfg)
        self.status_layout = dma_status_layout(self.cfg)
        self.req_layout = tcm_request_layout(self.cfg)
        self.rng = random.Random(seed)
        self.ram = make_axi_ram(dut, clock=dut.clk, reset=dut.rst, size=dram_bytes,
                                pattern=pattern, seed=seed)
        self.bursts = BurstLog(self.ram, bus_bytes=self.wb, max_burst=self.cfg.dma_max_burst)
        self.dram_bytes = dram_bytes

    async def reset(self):
        dut = self.dut
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 1
        dut.desc__valid.value = 0
        dut.done__ready.value = 0
        dut.vec_req__valid.value = 0
        dut.vec_resp__ready.value = 1
        self.set_window(0, (1 << self.cfg.bus_addr_bits) - 1)
        for _ in range(3):
            await RisingEdge(dut.clk)
        dut.rst.value = 0
        await RisingEdge(dut.clk)

    def set_window(self, base, limit):
        self.dut.window_base.value = base
        self.dut.window_limit.value = limit

    def random_dram(self) -> bytearray:
        data = bytearray(self.rng.randbytes(self.dram_bytes))
        self.ram.write(0, bytes(data))
        return data

    def dram(self) -> bytes:
        return self.ram.read(0, self.dram_bytes)

    async def tcm_fill(self, words):
        dut = self.dut
        i = 0
        while i < len(words):
            await FallingEdge(dut.clk)
            dut.vec_req__valid.value = 1
            dut.vec_req__payload.value = pack(self.req_layout, addr=i, write=1, data=words[i])
            await ReadOnly()
            if dut.vec_req__ready.value:
                i += 1
        await FallingEdge(dut.clk)
        dut.vec_req__valid.value = 0

    async def tcm_dump(self):
        dut = self.dut
        out, i = [], 0
        while len(out) < self.words:
            await FallingEdge(dut.clk)
            if i < self.words:
                dut.vec_req__valid.value = 1
                dut.vec_req__payload.value = pack(self.req_layout, addr=i, write=0)
            else:
                dut.vec_req__valid.value = 0
            await ReadOnly()
            if i < self.words and dut.vec_req__ready.value:
                i += 1
            if dut.vec_resp__valid.value:
                out.append(int(dut.vec_resp__payload.value))
        await FallingEdge(dut.clk)
        dut.vec_req__valid.value = 0
        return out

    async def random_tcm(self):
        words = [self.rng.getrandbits(self.cfg.tcm_word_bits) for _ in range(self.words)]
        await self.tcm_fill(words)
        return words

    async def run(self, timeout_cycles=200_000, **fields):
        """Send one descriptor and return its completion as a dict (error, fault_addr)."""
        dut = self.dut
        fields.setdefault("dir", DmaDir.TO_TCM.value)
        await FallingEdge(dut.clk)
        dut.desc__valid.value = 1
        dut.desc__payload.value = pack(self.desc_layout, **fields)
        while True:
            await ReadOnly()
            if dut.desc__ready.value:
                break
            await FallingEdge(dut.clk)
        await FallingEdge(dut.clk)
        dut.desc__valid.value = 0
        if not dut.done__valid.value:
            fired = await First(RisingEdge(dut.done__valid),
                                Timer(timeout_cycles * 10, unit="ns"))
            assert isinstance(fired, RisingEdge), f"DMA hung on {fields}"
        await FallingEdge(dut.clk)
        status = unpack(self.status_layout, int(dut.done__payload.value))
        dut.done__ready.value = 1
        await FallingEdge(dut.clk)
        dut.done__ready.value = 0
        assert not dut.busy.value, "DMA still busy after its completion was taken"
        return status

    def check_bursts(self, kind, rows):
        """The AR (kind 'r') or AW ('w') bursts equal the reference split of ``rows``."""
        assert not self.bursts.violations, self.bursts.violations
        got = self.bursts.reads if kind == "r" else self.bursts.writes
        want = [b for addr, n in rows for b in reference_bursts(
            addr, n, bus_bytes=self.wb, max_burst=self.cfg.dma_max_burst)]
        assert got == want, f"{kind} bursts {got[:8]}... != reference {want[:8]}..."


def rows_of(dram_addr, row_bytes, rows, dram_stride):
    return [(dram_addr + r * dram_stride, row_bytes) for r in range(rows)]


def model_to_tcm(tcm, dram, *, dram_addr, tcm_addr, row_bytes, rows, dram_stride, tcm_stride,
                 wb, upto=None):
    """Expected TCM words after a DRAM -> TCM transfer (the first ``upto`` beats only)."""
    tcm = list(tcm)
    beat = 0
    for r in range(rows):
        for w in range(row_bytes // wb):
            if upto is not None and beat >= upto:
                return tcm
            a = dram_addr + r * dram_stride + w * wb
            tcm[tcm_addr + r * tcm_stride + w] = int.from_bytes(dram[a:a + wb], "little")
            beat += 1
    return tcm


def model_to_dram(dram, tcm, *, dram_addr, tcm_addr, row_bytes, rows, dram_stride, tcm_stride,
                  wb, written=None):
    """Expected DRAM after a TCM -> DRAM transfer (only byte addresses in ``written`` if given)."""
    dram = bytearray(dram)
    for r in range(rows):
        for w in range(row_bytes // wb):
            a = dram_addr + r * dram_stride + w * wb
            if written is not None and a not in written:
                continue
            dram[a:a + wb] = tcm[tcm_addr + r * tcm_stride + w].to_bytes(wb, "little")
    return bytes(dram)


async def transfer_and_check(env, direction, **d):
    """Run one good descriptor and check every DRAM byte, TCM word and burst."""
    dram = env.random_dram()
    tcm = await env.random_tcm()
    rd0, wr0 = int(env.dut.rd_bytes.value), int(env.dut.wr_bytes.value)
    env.bursts.clear()
    d.setdefault("rows", 1)
    d.setdefault("dram_stride", 0)
    d.setdefault("tcm_stride", 0)
    status = await env.run(dir=direction.value, **d)
    assert status["error"] == DmaError.NONE.value, status
    nbytes = d["row_bytes"] * d["rows"]
    kind = "r" if direction == DmaDir.TO_TCM else "w"
    env.check_bursts(kind, rows_of(d["dram_addr"], d["row_bytes"], d["rows"], d["dram_stride"]))
    if direction == DmaDir.TO_TCM:
        assert int(env.dut.rd_bytes.value) - rd0 == nbytes
        assert env.bursts.writes == []
        assert await env.tcm_dump() == model_to_tcm(tcm, dram, wb=env.wb, **d)
        assert env.dram() == bytes(dram)
    else:
        assert int(env.dut.wr_bytes.value) - wr0 == nbytes
        assert env.bursts.reads == []
        assert env.dram() == model_to_dram(dram, tcm, wb=env.wb, **d)
        assert await env.tcm_dump() == tcm


# --- tests ----------------------------------------------------------------------------------

BACKPRESSURE = ["none", "random", "bursty", "alternate"]


@cocotb.test()
@cocotb.parametrize(pattern=BACKPRESSURE)
async def dram_to_tcm_1d_matches_every_byte_across_4k(dut, pattern):
    env = Env(dut, pattern, seed=11)
    await env.reset()
    await transfer_and_check(env, DmaDir.TO_TCM, dram_addr=0x0F40, tcm_addr=101,
                             row_bytes=0x500)


@cocotb.test()
@cocotb.parametrize(pattern=BACKPRESSURE)
async def tcm_to_dram_1d_matches_every_byte_across_4k(dut, pattern):
    env = Env(dut, pattern, seed=12)
    await env.reset()
    await transfer_and_check(env, DmaDir.TO_DRAM, dram_addr=0x1F88, tcm_addr=77,
                             row_bytes=0x3F8)


@cocotb.test()
@cocotb.parametrize(direction=[DmaDir.TO_TCM, DmaDir.TO_DRAM], pattern=["none", "random"])
async def two_d_strided_transfer_matches_every_byte(dut, direction, pattern):
    env = Env(dut, pattern, seed=13)
    await env.reset()
    # Six rows of 11 words, gaps on both sides; row 0 crosses a 4 KiB boundary.
    await transfer_and_check(env, direction, dram_addr=0x0FD8, tcm_addr=5, row_bytes=0x58,
                             rows=6, dram_stride=0x3F0, tcm_stride=17)


@cocotb.test()
async def back_to_back_descriptors_and_single_beats(dut):
    env = Env(dut, "random", seed=14)
    await env.reset()
    for direction in (DmaDir.TO_TCM, DmaDir.TO_DRAM):
        # One-beat transfer at the last TCM word and the last bytes of a 4 KiB page.
        await transfer_and_check(env, direction, dram_addr=0x2FF8, tcm_addr=env.words - 1,
                                 row_bytes=env.wb)
        # A row of exactly one full-length burst ending on a 4 KiB boundary.
        n = env.cfg.dma_max_burst * env.wb
        await transfer_and_check(env, direction, dram_addr=0x4000 - n, tcm_addr=0,
                                 row_bytes=n)


@cocotb.test()
@cocotb.parametrize(direction=[DmaDir.TO_TCM, DmaDir.TO_DRAM],
                    resp=[AxiResp.SLVERR, AxiResp.DECERR], pattern=["none", "random"])
async def axi_error_is_reported_with_its_address_and_never_hangs(dut, direction, resp, pattern):
    env = Env(dut, pattern, seed=15)
    await env.reset()
    d = {"dram_addr": 0x2000, "tcm_addr": 40, "row_bytes": 200 * env.wb, "rows": 1, "dram_stride": 0,
             "tcm_stride": 0}
    fault_beat = 77
    fault = d["dram_addr"] + fault_beat * env.wb
    inj = ErrorInjector(env.ram, read_faults=[(fault, fault, resp)] if direction ==
                        DmaDir.TO_TCM else [],
                        write_faults=[(fault, fault, resp)] if direction == DmaDir.TO_DRAM
                        else [])
    dram = env.random_dram()
    tcm = await env.random_tcm()
    env.bursts.clear()
    status = await env.run(dir=direction.value, **d)
    want = DmaError.SLVERR if resp == AxiResp.SLVERR else DmaError.DECERR
    assert status["error"] == want.value, status
    assert inj.injected, "the faulting address was never accessed"
    assert not env.bursts.violations, env.bursts.violations
    ref = reference_bursts(d["dram_addr"], d["row_bytes"], bus_bytes=env.wb,
                           max_burst=env.cfg.dma_max_burst)
    if direction == DmaDir.TO_TCM:
        assert status["fault_addr"] == fault
        got = env.bursts.reads
        # Everything before the faulting beat landed; it and everything after did not.
        assert await env.tcm_dump() == model_to_tcm(tcm, dram, wb=env.wb, upto=fault_beat, **d)
        assert env.dram() == bytes(dram)
    else:
        start = next(a for a, n in ref if a <= fault < a + n * env.wb)
        assert status["fault_addr"] == start
        got = env.bursts.writes
        written = {a for a in BurstLog.covered(got, env.wb) if a != fault}
        assert env.dram() == model_to_dram(dram, tcm, wb=env.wb, written=written, **d)
        assert await env.tcm_dump() == tcm
    # The bursts issued are a prefix of the reference; issue stopped soon after the fault:
    # at most the bursts already in flight when the error came back follow the faulting one.
    assert got == ref[:len(got)]
    fault_burst = next(i for i, (a, n) in enumerate(ref) if a <= fault < a + n * env.wb)
    assert fault_burst < len(got) <= fault_burst + 1 + env.cfg.dma_max_outstanding
    # The DMA takes the next descriptor and runs it cleanly.
    inj.read_faults.clear()
    inj.write_faults.clear()
    await transfer_and_check(env, direction, dram_addr=0x3000, tcm_addr=0, row_bytes=0x100)


@cocotb.test()
async def bad_descriptors_are_rejected_before_any_access(dut):
    env = Env(dut, "none", seed=16)
    await env.reset()
    dram = env.random_dram()
    tcm = await env.random_tcm()
    wb, words, amax = env.wb, env.words, (1 << env.cfg.bus_addr_bits) - 1
    ok = {"dram_addr": 0x1000, "tcm_addr": 0, "row_bytes": 8 * wb, "rows": 1, "dram_stride": 0,
              "tcm_stride": 0}
    cases = [
        ("ZERO_LENGTH", {"rows": 0}, 0x1000),
        ("ZERO_LENGTH", {"row_bytes": 0}, 0x1000),
        ("MISALIGNED", {"dram_addr": 0x1000 + wb // 2}, 0x1000 + wb // 2),
        ("MISALIGNED", {"row_bytes": 8 * wb + wb // 2}, 0x1000),
        ("MISALIGNED", {"rows": 2, "dram_stride": 0x100 + wb // 2}, 0x1000),
        ("TCM_RANGE", {"tcm_addr": words - 7}, words - 7),
        ("TCM_RANGE", {"tcm_addr": 1, "rows": 3, "tcm_stride": words // 2}, 1),
        ("TCM_RANGE", {"tcm_addr": 1 << 23}, 1 << 23),
        ("DRAM_WINDOW", {"dram_addr": amax - 2 * wb + 1}, amax - 2 * wb + 1),
    ]
    for name, change, fault in cases:
        for direction in (DmaDir.TO_TCM, DmaDir.TO_DRAM):
            status = await env.run(dir=direction.value, **{**ok, **change})
            assert status == {"error": DmaError[name].value, "fault_addr": fault}, \
                (name, change, status)
    # A window: [0x1000, 0x1FFF].
    env.set_window(0x1000, 0x1FFF)
    for change in ({"dram_addr": 0x0FF8}, {"dram_addr": 0x1F00, "row_bytes": 0x108},
                   {"dram_addr": 0x1800, "rows": 2, "dram_stride": 0x800}):
        for direction in (DmaDir.TO_TCM, DmaDir.TO_DRAM):
            status = await env.run(dir=direction.value, **{**ok, **change})
            assert status["error"] == DmaError.DRAM_WINDOW.value, (change, status)
    assert env.bursts.reads == [] and env.bursts.writes == [], "a rejected descriptor ran"
    assert env.dram() == bytes(dram)
    assert await env.tcm_dump() == tcm
    # The limits themselves are inside: a transfer that ends exactly on them runs.
    await transfer_and_check(env, DmaDir.TO_TCM, dram_addr=0x1F00, tcm_addr=words - 0x100 // wb,
                             row_bytes=0x100)
    env.set_window(0, amax)


@cocotb.test(skip=True)  # run by bench/bench_dma.py through its test filter
async def bench_dma_efficiency(dut):
    env = Env(dut, "none", seed=1, dram_bytes=1 << 18)
    await env.reset()
    env.random_dram()
    wb = env.wb
    results = {}
    nbytes = min(env.words * wb, 1 << 16)
    cases = {
        "dma_read": {"dir": DmaDir.TO_TCM.value, "dram_addr": 0x1000, "tcm_addr": 0,
                         "row_bytes": nbytes, "rows": 1},
        "dma_write": {"dir": DmaDir.TO_DRAM.value, "dram_addr": 0x20000, "tcm_addr": 0,
                          "row_bytes": nbytes, "rows": 1},
        "dma_2d_read": {"dir": DmaDir.TO_TCM.value, "dram_addr": 0x100, "tcm_addr": 0,
                            "row_bytes": 1024, "rows": nbytes // 1024, "dram_stride": 3072,
                            "tcm_stride": 1024 // wb},
    }
    for name, d in cases.items():
        c0, b0 = int(dut.busy_cycles.value), int(dut.rd_bytes.value) + int(dut.wr_bytes.value)
        status = await env.run(**d)
        assert status["error"] == 0, status
        cycles = int(dut.busy_cycles.value) - c0
        moved = int(dut.rd_bytes.value) + int(dut.wr_bytes.value) - b0
        assert moved == d["row_bytes"] * d["rows"]
        results[f"{name}_efficiency"] = round(moved / (cycles * wb), 4)
        results[f"{name}_cycles"] = cycles
        results[f"{name}_bytes"] = moved
    with open(os.environ["LUTNPU_BENCH_OUT"], "w") as f:  # noqa: ASYNC230 (once, at the end)
        json.dump(results, f)
