"""hw.Csr over AXI4-Lite in Amaranth's simulator: rw/ro/const/W1C/W1P, counters, SLVERR."""

import random

import pytest
from amaranth.sim import Simulator

from hw.axi import Resp
from hw.commands import ErrorCode
from hw.config import NpuConfig
from hw.csr import Csr, register_map


class AxiLiteMaster:
    """Testbench-side AXI4-Lite master with random valid/ready delays (seeded)."""

    def __init__(self, ctx, bus, rng, max_delay=3):
        self.ctx, self.bus, self.rng, self.max_delay = ctx, bus, rng, max_delay

    def _delay(self):
        return self.rng.randint(0, self.max_delay) if self.max_delay else 0

    async def write(self, addr, value, strb=0xF):
        ctx, bus = self.ctx, self.bus
        aw_wait, w_wait = self._delay(), self._delay()
        aw_done = w_done = False
        ctx.set(bus.awaddr, addr)
        ctx.set(bus.wdata, value)
        ctx.set(bus.wstrb, strb)
        while not (aw_done and w_done):
            ctx.set(bus.awvalid, not aw_done and aw_wait == 0)
            ctx.set(bus.wvalid, not w_done and w_wait == 0)
            aw_fire = not aw_done and aw_wait == 0 and ctx.get(bus.awready)
            w_fire = not w_done and w_wait == 0 and ctx.get(bus.wready)
            await ctx.tick()
            aw_done |= bool(aw_fire)
            w_done |= bool(w_fire)
            aw_wait, w_wait = max(0, aw_wait - 1), max(0, w_wait - 1)
        ctx.set(bus.awvalid, 0)
        ctx.set(bus.wvalid, 0)
        return Resp(await self._response(bus.bvalid, bus.bready, bus.bresp))

    async def _response(self, valid, ready, *payload):
        ctx = self.ctx
        for _ in range(100):
            r = self.rng.random() < 0.6 if self.max_delay else True
            ctx.set(ready, r)
            fire = r and ctx.get(valid)
            vals = [ctx.get(p) for p in payload]
            await ctx.tick()
            if fire:
                ctx.set(ready, 0)
                return vals[0] if len(vals) == 1 else tuple(vals)
        raise AssertionError("no AXI4-Lite response within 100 cycles")

    async def read(self, addr):
        ctx, bus = self.ctx, self.bus
        for _ in range(self._delay()):
            await ctx.tick()
        ctx.set(bus.araddr, addr)
        ctx.set(bus.arvalid, 1)
        for _ in range(100):
            fire = ctx.get(bus.arready)
            await ctx.tick()
            if fire:
                break
        ctx.set(bus.arvalid, 0)
        data, resp = await self._response(bus.rvalid, bus.rready, bus.rdata, bus.rresp)
        return data, Resp(resp)


def run_csr(body, *, config=None, seed=0, max_delay=3):
    """Run ``body(ctx, dut, master)`` as an async testbench on a fresh Csr."""
    dut = Csr(config or NpuConfig())
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        await body(ctx, dut, AxiLiteMaster(ctx, dut.bus, random.Random(seed), max_delay))

    sim.add_testbench(bench)
    sim.run()
    return dut


def offsets(config=None):
    return {r.name: r.offset for r in register_map(config or NpuConfig())}


def test_identification_and_build_parameters_read_back():
    cfg = NpuConfig(lanes=16, block_size=16, scale_format="e4m3", tcm_banks=8,
                    tcm_bank_words=1024, bus_data_bits=128, tcm_word_bits=128)
    off = offsets(cfg)
    got = {}

    async def body(ctx, dut, m):
        for name in ("ID", "VERSION", "BUILD0", "BUILD1"):
            got[name] = await m.read(off[name])

    run_csr(body, config=cfg)
    assert got["ID"] == (int.from_bytes(b"LNPU", "big"), Resp.OKAY)
    assert got["VERSION"][0] >> 16 == 1
    b0, b1 = got["BUILD0"][0], got["BUILD1"][0]
    assert (b0 & 0xFF, (b0 >> 8) & 0xFF, (b0 >> 16) & 3, b0 >> 24) == (16, 16, 1, 8)
    assert (b1 & 0xFF, (b1 >> 8) & 0xFF, (b1 >> 16) & 0xFF, b1 >> 24) == (8, 10, 16, 32)


@pytest.mark.parametrize("seed", [1, 2])
def test_rw_registers_with_byte_strobes_and_random_delays(seed):
    off = offsets()
    rng = random.Random(seed)
    names = ["CMD_BASE_LO", "CMD_BASE_HI", "CMD_COUNT", "WIN_BASE_LO", "WIN_BASE_HI",
             "WIN_SIZE_LO", "WIN_SIZE_HI"]
    model = {n: 0 for n in names}
    model["WIN_SIZE_LO"] = 0xFFFF_FFFF  # reset value: the whole 32-bit space
    ops = []
    for _ in range(30):
        n = rng.choice(names)
        v, s = rng.getrandbits(32), rng.choice([0xF, 0x1, 0x6, 0x8, 0x0, 0xA])
        ops.append((n, v, s))
    seen = []

    async def body(ctx, dut, m):
        for n, v, s in ops:
            assert await m.write(off[n], v, s) is Resp.OKAY
            mask = sum(0xFF << (8 * i) for i in range(4) if s >> i & 1)
            model[n] = (model[n] & ~mask) | (v & mask)
            data, resp = await m.read(off[n])
            seen.append((n, data, resp))
            assert data == model[n], n
        ports = {"CMD_BASE": dut.cmd_base, "WIN_BASE": dut.win_base, "WIN_SIZE": dut.win_size}
        for p, sig in ports.items():
            assert ctx.get(sig) == model[f"{p}_LO"] | model[f"{p}_HI"] << 32
        assert ctx.get(dut.cmd_count) == model["CMD_COUNT"]

    run_csr(body, seed=seed)
    assert len(seen) == 30 and all(r is Resp.OKAY for _, _, r in seen)


def test_read_only_status_and_fault_address_ignore_writes():
    off = offsets()

    async def body(ctx, dut, m):
        ctx.set(dut.busy, 1)
        ctx.set(dut.error, ErrorCode.TCM_RANGE)
        ctx.set(dut.fault_addr, 0x1234_5678_9ABC_DEF0)
        assert await m.write(off["STATUS"], 0xFFFF_FFFF) is Resp.OKAY
        assert await m.write(off["ID"], 0) is Resp.OKAY
        data, _ = await m.read(off["STATUS"])
        assert data == 1 | ErrorCode.TCM_RANGE.value << 4
        assert (await m.read(off["FAULT_ADDR_LO"]))[0] == 0x9ABC_DEF0
        assert (await m.read(off["FAULT_ADDR_HI"]))[0] == 0x1234_5678
        assert (await m.read(off["ID"]))[0] == 0x4C4E5055
        ctx.set(dut.busy, 0)
        ctx.set(dut.done, 1)
        assert (await m.read(off["STATUS"]))[0] == 2 | ErrorCode.TCM_RANGE.value << 4

    run_csr(body)


def test_irq_status_is_w1c_and_irq_follows_enable():
    off = offsets()

    async def body(ctx, dut, m):
        ctx.set(dut.irq_set, 0b11)
        await ctx.tick()
        ctx.set(dut.irq_set, 0)
        assert (await m.read(off["IRQ_STATUS"]))[0] == 0b11
        assert ctx.get(dut.irq) == 0                      # nothing enabled yet
        await m.write(off["IRQ_ENABLE"], 0b10)
        assert ctx.get(dut.irq) == 1
        await m.write(off["IRQ_STATUS"], 0b01)            # clear done only
        assert (await m.read(off["IRQ_STATUS"]))[0] == 0b10
        assert ctx.get(dut.irq) == 1
        await m.write(off["IRQ_STATUS"], 0b00)            # writing 0 clears nothing
        assert (await m.read(off["IRQ_STATUS"]))[0] == 0b10
        await m.write(off["IRQ_STATUS"], 0b10)
        assert (await m.read(off["IRQ_STATUS"]))[0] == 0
        assert ctx.get(dut.irq) == 0
        # A new event after the clear raises the interrupt again.
        await m.write(off["IRQ_ENABLE"], 0b01)
        ctx.set(dut.irq_set, 0b01)
        await ctx.tick()
        ctx.set(dut.irq_set, 0)
        assert ctx.get(dut.irq) == 1

    run_csr(body)


def test_control_pulses_start_once_and_not_while_busy():
    off = offsets()
    pulses = []

    async def watch(ctx, dut):
        for _ in range(400):
            pulses.append((ctx.get(dut.start), ctx.get(dut.soft_reset)))
            await ctx.tick()

    async def body(ctx, dut, m):
        await m.write(off["CONTROL"], 0b01)
        n_start = sum(p[0] for p in pulses)
        ctx.set(dut.busy, 1)
        await m.write(off["CONTROL"], 0b01)               # ignored while busy
        ctx.set(dut.busy, 0)
        await m.write(off["CONTROL"], 0b10)
        assert (await m.read(off["CONTROL"]))[0] == 0     # W1P reads 0
        assert n_start == 1

    dut = Csr(NpuConfig())
    sim = Simulator(dut)
    sim.add_clock(1e-8)

    async def bench(ctx):
        await body(ctx, dut, AxiLiteMaster(ctx, dut.bus, random.Random(5)))

    async def mon(ctx):
        await watch(ctx, dut)

    sim.add_testbench(bench)
    sim.add_testbench(mon, background=True)
    sim.run()
    assert sum(p[0] for p in pulses) == 1
    assert sum(p[1] for p in pulses) == 1


def test_counters_count_increments_and_clear_on_start():
    off = offsets()

    async def body(ctx, dut, m):
        ctx.set(dut.count.cycles, 1)
        ctx.set(dut.count.dram_rd_bytes, 200)
        for _ in range(37):
            await ctx.tick()
        ctx.set(dut.count.cycles, 0)
        ctx.set(dut.count.dram_rd_bytes, 0)
        lo, _ = await m.read(off["CNT_CYCLES_LO"])
        hi, _ = await m.read(off["CNT_CYCLES_HI"])
        assert (lo, hi) == (37, 0)
        assert (await m.read(off["CNT_DRAM_RD_BYTES_LO"]))[0] == 37 * 200
        assert (await m.read(off["CNT_MAC_ACTIVE_LO"]))[0] == 0
        await m.write(off["CONTROL"], 1)
        assert (await m.read(off["CNT_DRAM_RD_BYTES_LO"]))[0] == 0

    run_csr(body)


@pytest.mark.parametrize("addr", [0x4C, 0x7C, 0x200, 0xFFC])
def test_unmapped_address_answers_slverr(addr):
    assert addr not in {r.offset for r in register_map(NpuConfig())}

    async def body(ctx, dut, m):
        data, resp = await m.read(addr)
        assert (data, resp) == (0, Resp.SLVERR)
        assert await m.write(addr, 0xFFFF_FFFF) is Resp.SLVERR
        # The slave still answers afterwards.
        assert (await m.read(0))[1] is Resp.OKAY

    run_csr(body)


def test_register_map_has_unique_word_offsets_and_fields_fit():
    regs = register_map(NpuConfig())
    assert len({r.offset for r in regs}) == len(regs)
    for r in regs:
        assert r.offset % 4 == 0 and r.offset < 0x1000
        used = 0
        for f in r.fields:
            bits = ((1 << f.width) - 1) << f.lsb
            assert bits < 1 << 32 and not used & bits, r.name
            used |= bits
