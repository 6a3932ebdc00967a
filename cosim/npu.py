"""Drive the NPU top as a device driver would: program the CSRs, start, wait, read back.

``run_gemv_amaranth`` runs :class:`hw.NpuTop` in Amaranth's simulator with a Python AXI4
memory model (slow, per-cycle Python: for small shapes and error paths). The register
offsets come from ``hw.csr.register_map``; the DRAM image and command list from
``golden.compile.compile_gemv``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import numpy as np

from golden.compile import Program, compile_gemv
from hw.axi import Resp
from hw.commands import ErrorCode
from hw.config import NpuConfig
from hw.csr import COUNTERS, register_map

__all__ = ["AxiMemory", "GemvRun", "run_gemv_amaranth", "run_program_amaranth"]


@dataclass
class GemvRun:
    """Result of one NPU run."""

    y: np.ndarray
    cycles: int
    counters: dict
    status: dict
    bound_cycles: int
    image: bytearray
    program: Program
    extra: dict = field(default_factory=dict)


class AxiMemory:
    """AXI4 slave memory model for Amaranth testbenches (one beat per cycle at most).

    ``errors`` maps (lo, hi) byte ranges to a Resp: a read beat or write burst touching one
    answers that response (reads return zeros, writes are dropped).
    """

    def __init__(self, base: int, image: bytearray, bus_bytes: int, *, errors=None,
                 rng: random.Random | None = None, p_ready: float = 1.0):
        self.base, self.mem, self.nb = base, image, bus_bytes
        self.errors = dict(errors or {})
        self.rng, self.p_ready = rng or random.Random(0), p_ready
        self.reads = self.writes = 0

    def _resp(self, addr: int, n: int) -> Resp:
        for (lo, hi), r in self.errors.items():
            if addr < hi and lo < addr + n:
                return r
        if addr < self.base or addr + n > self.base + len(self.mem):
            return Resp.DECERR
        return Resp.OKAY

    async def serve(self, ctx, bus):
        ar, rq, aw, wq, bq = [], [], [], [], []
        nb = self.nb
        while True:
            rdy = self.p_ready >= 1.0 or self.rng.random() < self.p_ready
            ctx.set(bus.arready, rdy)
            ctx.set(bus.awready, rdy)
            ctx.set(bus.wready, bool(aw))
            if rq:
                rid, addr, last = rq[0]
                resp = self._resp(addr, nb)
                data = 0
                if resp == Resp.OKAY:
                    o = addr - self.base
                    data = int.from_bytes(self.mem[o:o + nb], "little")
                ctx.set(bus.rvalid, 1)
                ctx.set(bus.rid, rid)
                ctx.set(bus.rdata, data)
                ctx.set(bus.rresp, resp)
                ctx.set(bus.rlast, last)
            else:
                ctx.set(bus.rvalid, 0)
            if bq:
                ctx.set(bus.bvalid, 1)
                ctx.set(bus.bid, bq[0][0])
                ctx.set(bus.bresp, bq[0][1])
            else:
                ctx.set(bus.bvalid, 0)
            arf = rdy and ctx.get(bus.arvalid)
            if arf:
                ar.append((ctx.get(bus.arid), ctx.get(bus.araddr), ctx.get(bus.arlen)))
            awf = rdy and ctx.get(bus.awvalid)
            if awf:
                aw.append([ctx.get(bus.awid), ctx.get(bus.awaddr), ctx.get(bus.awlen) + 1,
                           0, Resp.OKAY])
            wf = bool(aw) and ctx.get(bus.wvalid)
            if wf:
                wq.append((ctx.get(bus.wdata), ctx.get(bus.wstrb), ctx.get(bus.wlast)))
            rf = bool(rq) and ctx.get(bus.rready)
            bf = bool(bq) and ctx.get(bus.bready)
            await ctx.tick()
            if rf:
                rq.pop(0)
                self.reads += 1
            if bf:
                bq.pop(0)
            while ar and not rq:
                rid, addr, ln = ar.pop(0)
                rq.extend((rid, addr + i * nb, i == ln) for i in range(ln + 1))
            for data, strb, _last in wq:
                cur = aw[0]
                addr = cur[1] + cur[3] * nb
                r = self._resp(addr, nb)
                if r != Resp.OKAY:
                    cur[4] = r
                else:
                    o = addr - self.base
                    for i in range(nb):
                        if strb >> i & 1:
                            self.mem[o + i] = (data >> (8 * i)) & 0xFF
                self.writes += 1
                cur[3] += 1
                if cur[3] == cur[2]:
                    bq.append((cur[0], cur[4]))
                    aw.pop(0)
            wq.clear()


class CsrDriver:
    """AXI4-Lite register access from an Amaranth testbench (no random delays)."""

    def __init__(self, ctx, bus, config: NpuConfig):
        self.ctx, self.bus = ctx, bus
        self.off = {r.name: r.offset for r in register_map(config)}

    async def write(self, name, value):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.awaddr, self.off[name])
        ctx.set(bus.wdata, value & 0xFFFF_FFFF)
        ctx.set(bus.wstrb, 0xF)
        ctx.set(bus.awvalid, 1)
        ctx.set(bus.wvalid, 1)
        ctx.set(bus.bready, 1)
        aw = w = False
        for _ in range(50):
            a, b = ctx.get(bus.awready), ctx.get(bus.wready)
            bv = ctx.get(bus.bvalid)
            await ctx.tick()
            aw |= bool(a)
            w |= bool(b)
            ctx.set(bus.awvalid, not aw)
            ctx.set(bus.wvalid, not w)
            if bv:
                ctx.set(bus.bready, 0)
                return
        raise AssertionError(f"CSR write {name} got no response")

    async def read(self, name):
        ctx, bus = self.ctx, self.bus
        ctx.set(bus.araddr, self.off[name])
        ctx.set(bus.arvalid, 1)
        ctx.set(bus.rready, 1)
        for _ in range(50):
            a = ctx.get(bus.arready)
            rv, data = ctx.get(bus.rvalid), ctx.get(bus.rdata)
            await ctx.tick()
            if a:
                ctx.set(bus.arvalid, 0)
            if rv:
                ctx.set(bus.rready, 0)
                return data
        raise AssertionError(f"CSR read {name} got no response")

    async def write64(self, name, value):
        await self.write(f"{name}_LO", value & 0xFFFF_FFFF)
        await self.write(f"{name}_HI", value >> 32)

    async def read64(self, name):
        lo = await self.read(f"{name}_LO")
        return lo | (await self.read(f"{name}_HI")) << 32


async def drive_program(ctx, dut, prog: Program, *, window=None, max_cycles=200_000,
                        cmd_count=None, soft_reset_first=False):
    """Program the CSRs for ``prog``, start, wait for the interrupt, read status/counters."""
    cfg = prog.config
    drv = CsrDriver(ctx, dut.csr, cfg)
    if soft_reset_first:
        await drv.write("CONTROL", 2)
    wbase, wsize = window or (prog.dram_base, len(prog.image))
    await drv.write64("CMD_BASE", prog.cmd_addr)
    await drv.write("CMD_COUNT", prog.cmd_count if cmd_count is None else cmd_count)
    await drv.write64("WIN_BASE", wbase)
    await drv.write64("WIN_SIZE", wsize)
    await drv.write("IRQ_ENABLE", 3)
    await drv.write("CONTROL", 1)
    n = 0
    while not ctx.get(dut.irq):
        await ctx.tick()
        n += 1
        if n > max_cycles:
            raise AssertionError(f"no interrupt within {max_cycles} cycles")
    st = await drv.read("STATUS")
    status = {"busy": st & 1, "done": st >> 1 & 1, "error": ErrorCode((st >> 4) & 0xF),
              "fault_addr": await drv.read64("FAULT_ADDR"),
              "irq_status": await drv.read("IRQ_STATUS")}
    counters = {name: await drv.read64(f"CNT_{name.upper()}") for name in COUNTERS}
    await drv.write("IRQ_STATUS", 3)
    return status, counters


def run_program_amaranth(prog: Program, *, image=None, errors=None, p_ready=1.0, seed=0,
                         max_cycles=200_000, window=None, cmd_count=None, then=None):
    """Run ``prog`` (or a patched ``image``) on NpuTop in Amaranth's simulator.

    ``then``: an optional second program run after a soft reset on the same NPU (checks
    that the NPU recovers from an error). Returns a GemvRun (and a second one for ``then``).
    """
    from amaranth.sim import Simulator

    from hw.top import NpuTop

    dut = NpuTop(prog.config)
    sim = Simulator(dut)
    sim.add_clock(1e-8)
    img = bytearray(prog.image if image is None else image)
    mem = AxiMemory(prog.dram_base, img, prog.config.bus_bytes, errors=errors,
                    rng=random.Random(seed), p_ready=p_ready)
    out = {}

    async def memory(ctx):
        await mem.serve(ctx, dut.axi)

    async def host(ctx):
        out["first"] = await drive_program(ctx, dut, prog, window=window, max_cycles=max_cycles,
                                           cmd_count=cmd_count)
        out["first_image"] = bytearray(mem.mem)
        if then is not None:
            mem.mem = bytearray(then.image)
            mem.base = then.dram_base
            out["then"] = await drive_program(ctx, dut, then, max_cycles=max_cycles,
                                              soft_reset_first=True)
            out["then_image"] = bytearray(mem.mem)

    sim.add_testbench(memory, background=True)
    sim.add_testbench(host)
    sim.run()

    def result(p, key):
        status, counters = out[key]
        image = out[f"{key}_image"]
        return GemvRun(y=p.y_from_image(image), cycles=counters["cycles"], counters=counters,
                       status=status, bound_cycles=p.bound_cycles, image=image, program=p)

    first = result(prog, "first")
    return first if then is None else (first, result(then, "then"))


def run_gemv_amaranth(w, x, *, sparse=False, config=None, **kw) -> GemvRun:
    """Compile and run one GEMV on NpuTop in Amaranth's simulator."""
    prog = compile_gemv(w, x, config=config or NpuConfig(), sparse=sparse)
    return run_program_amaranth(prog, **kw)
