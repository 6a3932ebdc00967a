"""cocotb bench for the NPU top in Verilator (``cosim.npu.run_program_verilator``).

The clock and the DRAM model are in the HDL wrapper; this test only programs the CSRs over
AXI4-Lite (sampling at falling edges, driving after rising edges), waits for the interrupt
with one trigger (no per-cycle Python), reads status and counters, and asks the DRAM model
to dump the y area. The job comes from the JSON file named by ``LUTNPU_NPU_JOB``.
"""

import json
import os

import cocotb
from cocotb.triggers import FallingEdge, First, RisingEdge, Timer


class CsrPort:
    """AXI4-Lite master on the wrapper's ``csr__*`` ports."""

    def __init__(self, dut, regs):
        self.dut, self.regs, self.clk = dut, regs, dut.clk
        for n in ("awaddr", "awprot", "awvalid", "wdata", "wstrb", "wvalid", "bready",
                  "araddr", "arprot", "arvalid", "rready"):
            getattr(dut, f"csr__{n}").value = 0

    def sig(self, n):
        return getattr(self.dut, f"csr__{n}")

    async def write(self, name, value):
        s = self.sig
        s("awaddr").value = self.regs[name]
        s("wdata").value = value & 0xFFFF_FFFF
        s("wstrb").value = 0xF
        s("awvalid").value = 1
        s("wvalid").value = 1
        aw = w = False
        while not (aw and w):
            await FallingEdge(self.clk)
            a_ok = bool(s("awready").value) and not aw
            w_ok = bool(s("wready").value) and not w
            await RisingEdge(self.clk)
            aw, w = aw or a_ok, w or w_ok
            s("awvalid").value = int(not aw)
            s("wvalid").value = int(not w)
        s("bready").value = 1
        while True:
            await FallingEdge(self.clk)
            if s("bvalid").value:
                resp = int(s("bresp").value)
                await RisingEdge(self.clk)
                s("bready").value = 0
                assert resp == 0, f"CSR write {name}: bresp {resp}"
                return

    async def read(self, name):
        s = self.sig
        s("araddr").value = self.regs[name]
        s("arvalid").value = 1
        while True:
            await FallingEdge(self.clk)
            ok = bool(s("arready").value)
            await RisingEdge(self.clk)
            if ok:
                break
        s("arvalid").value = 0
        s("rready").value = 1
        while True:
            await FallingEdge(self.clk)
            if s("rvalid").value:
                data, resp = int(s("rdata").value), int(s("rresp").value)
                await RisingEdge(self.clk)
                s("rready").value = 0
                assert resp == 0, f"CSR read {name}: rresp {resp}"
                return data

    async def write64(self, name, value):
        await self.write(f"{name}_LO", value & 0xFFFF_FFFF)
        await self.write(f"{name}_HI", value >> 32)

    async def read64(self, name):
        lo = await self.read(f"{name}_LO")
        return lo | (await self.read(f"{name}_HI")) << 32


@cocotb.test()
async def npu_run_job(dut):
    """Program, start, wait for the interrupt, read status and counters, dump y."""
    with open(os.environ["LUTNPU_NPU_JOB"]) as f:  # noqa: ASYNC230 (sim time is frozen)
        job = json.load(f)
    csr = CsrPort(dut, job["registers"])
    dut.dump.value = 0
    dut.rst.value = 1
    for _ in range(4):
        await RisingEdge(dut.clk)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    if job["soft_reset_first"]:
        await csr.write("CONTROL", 2)
    await csr.write64("CMD_BASE", job["cmd_addr"])
    await csr.write("CMD_COUNT", job["cmd_count"])
    await csr.write64("WIN_BASE", job["win_base"])
    await csr.write64("WIN_SIZE", job["win_size"])
    await csr.write("IRQ_ENABLE", 3)
    await csr.write("CONTROL", 1)
    t0 = cocotb.utils.get_sim_time("ns")
    # Wait for the interrupt in chunks: one trigger per chunk keeps Python off the clock.
    # With a progress interval the driver reads the DRAM-read counter between chunks, as a
    # host polling the NPU would; without one the whole timeout is one chunk.
    progress = job.get("progress_cycles") or job["timeout_cycles"]
    waited = 0
    while not dut.irq.value:
        assert waited < job["timeout_cycles"], "no interrupt before the timeout"
        chunk = min(progress, job["timeout_cycles"] - waited)
        await First(RisingEdge(dut.irq), Timer(10 * chunk, "ns"))
        waited += chunk
        if not dut.irq.value and job.get("progress_cycles"):
            rd = await csr.read64("CNT_DRAM_RD_BYTES")
            total = max(job.get("expected_rd_bytes") or 1, 1)
            print(f"  ... {waited:>9,} cycles, {rd:>11,} DRAM bytes read "
                  f"({min(100.0, 100 * rd / total):5.1f} %)", flush=True)
    sim_ns = cocotb.utils.get_sim_time("ns") - t0
    st = await csr.read("STATUS")
    status = {"busy": st & 1, "done": st >> 1 & 1, "error": (st >> 4) & 0xF,
              "fault_addr": await csr.read64("FAULT_ADDR"),
              "irq_status": await csr.read("IRQ_STATUS")}
    counters = {n: await csr.read64(f"CNT_{n.upper()}") for n in job["counters"]}
    await csr.write("IRQ_STATUS", 3)
    dut.dump.value = 1
    await RisingEdge(dut.clk)
    await RisingEdge(dut.clk)
    with open(job["result"], "w") as f:  # noqa: ASYNC230 (sim time is frozen)
        json.dump({"status": status, "counters": counters, "sim_ns": sim_ns}, f)
