"""Drive the NPU top as a device driver would: program the CSRs, start, wait, read back.

``run_gemv_amaranth`` runs :class:`hw.NpuTop` in Amaranth's simulator with a Python AXI4
memory model (slow, per-cycle Python: for small shapes and error paths). The register
offsets come from ``hw.csr.register_map``; the DRAM image and command list from
``golden.compile.compile_gemv``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from golden.compile import Program, compile_gemv
from hw.axi import Resp
from hw.commands import ErrorCode
from hw.config import NpuConfig
from hw.csr import COUNTERS, register_map

__all__ = ["AxiMemory", "GemvRun", "run_gemv", "run_gemv_amaranth", "run_program_amaranth",
           "run_program_verilator"]


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
    answers that response (reads return zeros, writes are dropped). ``read_bursts`` logs
    every AR handshake as (arid, araddr, beats).
    """

    def __init__(self, base: int, image: bytearray, bus_bytes: int, *, errors=None,
                 rng: random.Random | None = None, p_ready: float = 1.0):
        self.base, self.mem, self.nb = base, image, bus_bytes
        self.errors = dict(errors or {})
        self.rng, self.p_ready = rng or random.Random(0), p_ready
        self.reads = self.writes = 0
        self.read_bursts = []

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
            # W is ready only while a write burst's address is known; decided before this
            # cycle's AW handshake is counted, so W's ready and its acceptance agree.
            w_rdy = bool(aw)
            ctx.set(bus.wready, w_rdy)
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
                self.read_bursts.append((ar[-1][0], ar[-1][1], ar[-1][2] + 1))
            awf = rdy and ctx.get(bus.awvalid)
            if awf:
                aw.append([ctx.get(bus.awid), ctx.get(bus.awaddr), ctx.get(bus.awlen) + 1,
                           0, Resp.OKAY])
            wf = w_rdy and ctx.get(bus.wvalid)
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
        out["first_read_bursts"] = list(mem.read_bursts)
        if then is not None:
            mem.mem = bytearray(then.image)
            mem.base = then.dram_base
            out["then"] = await drive_program(ctx, dut, then, max_cycles=max_cycles,
                                              soft_reset_first=True)
            out["then_image"] = bytearray(mem.mem)
            out["then_read_bursts"] = mem.read_bursts[len(out["first_read_bursts"]):]

    sim.add_testbench(memory, background=True)
    sim.add_testbench(host)
    sim.run()

    def result(p, key):
        status, counters = out[key]
        image = out[f"{key}_image"]
        return GemvRun(y=p.y_from_image(image), cycles=counters["cycles"], counters=counters,
                       status=status, bound_cycles=p.bound_cycles, image=image, program=p,
                       extra={"read_bursts": out.get(f"{key}_read_bursts", [])})

    first = result(prog, "first")
    return first if then is None else (first, result(then, "then"))


def run_gemv_amaranth(w, x, *, sparse=False, config=None, **kw) -> GemvRun:
    """Compile and run one GEMV on NpuTop in Amaranth's simulator."""
    if config is None:  # the default NPU, built for the operands' block size and scale format
        config = NpuConfig(block_size=w.block, scale_format=w.scale_format)
    prog = compile_gemv(w, x, config=config, sparse=sparse)
    return run_program_amaranth(prog, **kw)


# ---- Verilator: HDL clock, HDL DRAM model preloaded from the compiler's image -----------------

DRAM_MODEL_V = r"""
// AXI4 slave memory for lutnpu cosimulation. Preloaded with $readmemh(+DRAM_HEX=file),
// dumped with $writememh(+DRAM_DUMP=file, words +DUMP_LO..+DUMP_HI) on a rising `dump`.
// One read burst and one write burst at a time, one beat per cycle, back-to-back bursts.
// Beats whose address lies in [+ERR_LO, +ERR_HI) answer +ERR_RESP (2 = SLVERR, 3 = DECERR);
// addresses outside the memory answer DECERR.
module lutnpu_dram #(parameter DW = 64, parameter AW = 32, parameter IW = 4,
                     parameter DEPTH_LOG2 = 20, parameter [AW-1:0] BASE = 0) (
    input clk, input rst, input dump,
    input [IW-1:0] awid, input [AW-1:0] awaddr, input [7:0] awlen, input [2:0] awsize,
    input [1:0] awburst, input awvalid, output awready,
    input [DW-1:0] wdata, input [DW/8-1:0] wstrb, input wlast, input wvalid, output wready,
    output reg [IW-1:0] bid, output reg [1:0] bresp, output reg bvalid, input bready,
    input [IW-1:0] arid, input [AW-1:0] araddr, input [7:0] arlen, input [2:0] arsize,
    input [1:0] arburst, input arvalid, output arready,
    output [IW-1:0] rid, output [DW-1:0] rdata, output [1:0] rresp, output rlast,
    output rvalid, input rready);
    localparam SH = $clog2(DW / 8);
    reg [DW-1:0] mem [0:(1 << DEPTH_LOG2) - 1];
    reg [63:0] err_lo, err_hi, err_resp;
    reg [63:0] dump_lo, dump_hi;
    string hexfile, dumpfile;
    initial begin
        err_lo = 0; err_hi = 0; err_resp = 2; dump_lo = 0; dump_hi = 0;
        if ($value$plusargs("DRAM_HEX=%s", hexfile)) $readmemh(hexfile, mem);
        if (!$value$plusargs("DRAM_DUMP=%s", dumpfile)) dumpfile = "dram_dump.hex";
        void'($value$plusargs("ERR_LO=%d", err_lo));
        void'($value$plusargs("ERR_HI=%d", err_hi));
        void'($value$plusargs("ERR_RESP=%d", err_resp));
        void'($value$plusargs("DUMP_LO=%d", dump_lo));
        void'($value$plusargs("DUMP_HI=%d", dump_hi));
    end
    always @(posedge dump) $writememh(dumpfile, mem, dump_lo[DEPTH_LOG2-1:0],
                                      dump_hi[DEPTH_LOG2-1:0]);

    // a < BASE is constant when BASE = 0; that is intended.
    /* verilator lint_off UNSIGNED */
    function automatic [1:0] resp_of(input [AW-1:0] a);
        reg [AW-1:0] off;
        begin
            off = a - BASE;
            if ({32'b0, a} >= err_lo && {32'b0, a} < err_hi) resp_of = err_resp[1:0];
            else if (a < BASE || (off >> SH) >= (1 << DEPTH_LOG2)) resp_of = 2'b11;
            else resp_of = 2'b00;
        end
    endfunction
    /* verilator lint_on UNSIGNED */
    wire [AW-1:0] r_off_w;

    // Read channel.
    reg r_active;
    reg [AW-1:0] r_addr;
    reg [7:0] r_left;
    reg [IW-1:0] r_id;
    wire r_end = r_active && rready && r_left == 0;
    assign arready = !r_active || r_end;
    assign rvalid = r_active;
    assign rid = r_id;
    assign rlast = r_left == 0;
    assign r_off_w = r_addr - BASE;
    assign rresp = resp_of(r_addr);
    assign rdata = rresp == 2'b00 ? mem[r_off_w[SH + DEPTH_LOG2 - 1:SH]] : {DW{1'b0}};
    always @(posedge clk) begin
        if (rst) r_active <= 0;
        else if (arvalid && arready) begin
            r_active <= 1; r_addr <= araddr; r_left <= arlen; r_id <= arid;
        end else if (r_active && rready) begin
            if (r_left == 0) r_active <= 0;
            else begin r_left <= r_left - 1; r_addr <= r_addr + DW / 8; end
        end
    end

    // Write channel.
    reg w_active, w_err;
    reg [1:0] w_resp;
    reg [AW-1:0] w_addr;
    reg [IW-1:0] w_id;
    wire [AW-1:0] w_off = w_addr - BASE;
    wire [1:0] w_beat_resp = resp_of(w_addr);
    assign awready = !w_active && !bvalid;
    assign wready = w_active;
    integer i;
    always @(posedge clk) begin
        if (rst) begin w_active <= 0; bvalid <= 0; end
        else begin
            if (awvalid && awready) begin
                w_active <= 1; w_addr <= awaddr; w_id <= awid; w_err <= 0; w_resp <= 0;
            end
            if (w_active && wvalid) begin
                if (w_beat_resp == 2'b00) begin
                    for (i = 0; i < DW / 8; i = i + 1)
                        if (wstrb[i]) mem[w_off[SH + DEPTH_LOG2 - 1:SH]][i * 8 +: 8]
                            <= wdata[i * 8 +: 8];
                end else if (!w_err) begin
                    w_err <= 1; w_resp <= w_beat_resp;
                end
                w_addr <= w_addr + DW / 8;
                if (wlast) begin
                    w_active <= 0; bvalid <= 1; bid <= w_id;
                    bresp <= (w_err || w_beat_resp == 2'b00) ? w_resp : w_beat_resp;
                end
            end
            if (bvalid && bready) bvalid <= 0;
        end
    end
endmodule
"""


def _ports(component, prefix):
    from amaranth.hdl import Shape

    out = []
    for path, mem in component.signature.members.flatten():
        if mem.is_port and path[0] == prefix:
            out.append(("__".join(path), mem.flow.name, Shape.cast(mem.shape).width))
    return out


def sim_wrapper_verilog(component, npu_name: str, config: NpuConfig, *, base: int,
                        depth_log2: int) -> str:
    """Verilog top ``lutnpu_npu_sim``: HDL clock (10 ns), the NPU, the DRAM model. Its ports
    are the CSR port, ``rst``, ``irq`` and ``dump``."""
    csr = _ports(component, "csr")
    axi = _ports(component, "axi")
    decl = ["input rst", "input dump", "output irq"]
    for name, flow, width in csr:
        d = "input" if flow == "In" else "output"
        decl.append(f"{d} [{width - 1}:0] {name}")
    lines = ["module lutnpu_npu_sim(", "    " + ",\n    ".join(decl),
             ");", "    reg clk = 0;", "    always #5 clk = ~clk;"]
    for name, _, width in axi:
        lines.append(f"    wire [{width - 1}:0] {name};")
    conns = [".clk(clk)", ".rst(rst)", ".irq(irq)"] + [f".{n}({n})" for n, _, _ in csr + axi]
    lines.append(f"    {npu_name} npu(" + ", ".join(conns) + ");")
    dconns = [".clk(clk)", ".rst(rst)", ".dump(dump)"] + \
        [f".{n.split('__', 1)[1]}({n})" for n, _, _ in axi]
    lines.append(f"    lutnpu_dram #(.DW({config.bus_data_bits}), .AW({config.bus_addr_bits}), "
                 f".IW(4), .DEPTH_LOG2({depth_log2}), .BASE({base})) dram(" +
                 ", ".join(dconns) + ");")
    lines.append("endmodule")
    return "\n".join(lines) + "\n"


def _image_hex(image: bytes, bus_bytes: int) -> str:
    n = -(-len(image) // bus_bytes)
    buf = bytes(image) + bytes(n * bus_bytes - len(image))
    words = np.frombuffer(buf, dtype=np.uint8).reshape(n, bus_bytes)[:, ::-1]
    return "\n".join(w.tobytes().hex() for w in words) + "\n"


def run_program_verilator(prog: Program, *, image=None, errors=None, waves=None,
                          timeout_cycles=None, soft_reset_first=False,
                          progress_cycles=None, waves_name=None) -> GemvRun:
    """Run ``prog`` on NpuTop in Verilator (cocotb, HDL clock, HDL DRAM preloaded).

    ``errors``: optional ``(lo, hi, resp)`` DRAM byte range that answers an AXI error.
    ``progress_cycles``: print the DRAM bytes read so far every this many cycles.
    ``waves``: None reads ``WAVES`` from the environment; True picks VCD for short runs and
    FST for long ones, ``"vcd"``/``"fst"`` force one (``cosim.waves.waves_format``). The trace
    goes to ``build/waves/<waves_name>.vcd|fst`` with a ``.gtkw`` beside it
    (``cosim.gtkw.write_npu_gtkw``); its path is ``run.extra["waves"]``.
    """
    import json
    import os
    import tempfile
    import time

    from cosim.runner import BUILD_ROOT, build_verilator, emit_verilog

    cfg = prog.config
    from hw.top import NpuTop

    dut = NpuTop(cfg)
    npu_name = "lutnpu_npu"
    img = bytes(prog.image if image is None else image)
    words = -(-len(img) // cfg.bus_bytes)
    # One build serves every image up to 2^21 bus words (16 MiB at 64 bits).
    depth_log2 = max(21, (words - 1).bit_length())
    verilog = emit_verilog(dut, npu_name)
    wrapper = sim_wrapper_verilog(dut, npu_name, cfg, base=prog.dram_base,
                                  depth_log2=depth_log2)
    from cosim.waves import waves_format

    # `or False`: an untraced build keeps the cache key it had before waves_format.
    waves = waves_format(waves, prog.estimate_cycles()) or False
    src_dir = BUILD_ROOT / "npu_src"
    src_dir.mkdir(parents=True, exist_ok=True)
    extra = []
    for name, text in (("lutnpu_dram.sv", DRAM_MODEL_V), ("lutnpu_npu_sim.sv", wrapper)):
        p = src_dir / name
        if not p.exists() or p.read_text() != text:
            p.write_text(text)
        extra.append(p)
    t0 = time.time()
    # --timing for the HDL clock (C++20 coroutines).
    runner = build_verilator(verilog + "\n", "lutnpu_npu_sim", extra_sources=extra,
                             build_args=["--timing", "-CFLAGS", "-std=c++20"], waves=waves)
    t_build = time.time() - t0
    run_dir = Path(tempfile.mkdtemp(prefix="npu_run_", dir=runner.build_dir))
    (run_dir / "dram.hex").write_text(_image_hex(img, cfg.bus_bytes))
    y_off = prog.y_addr - prog.dram_base
    y_lo = y_off // cfg.bus_bytes
    y_hi = -(-(y_off + 4 * prog.rows_padded) // cfg.bus_bytes) - 1
    job = {
        "cmd_addr": prog.cmd_addr, "cmd_count": prog.cmd_count, "win_base": prog.dram_base,
        "win_size": len(prog.image), "timeout_cycles": timeout_cycles or
        max(100_000, 4 * prog.estimate_cycles()), "result": str(run_dir / "result.json"),
        "soft_reset_first": soft_reset_first,
        "progress_cycles": progress_cycles, "expected_rd_bytes": prog.min_dram_bytes,
        "registers": {r.name: r.offset for r in register_map(cfg)},
        "counters": list(COUNTERS),
    }
    (run_dir / "job.json").write_text(json.dumps(job))
    plusargs = [f"+DRAM_HEX={run_dir / 'dram.hex'}", f"+DRAM_DUMP={run_dir / 'dump.hex'}",
                f"+DUMP_LO={y_lo}", f"+DUMP_HI={y_hi}"]
    if errors:
        lo, hi, resp = errors
        plusargs += [f"+ERR_LO={lo}", f"+ERR_HI={hi}", f"+ERR_RESP={Resp(resp).value}"]
    from cocotb_tools.check_results import get_results

    results = run_dir / "results.xml"
    test_args, wave_file = [], None
    if waves:
        if waves_name is None:      # stable per shape, so `make waves` overwrites its last trace
            worker = os.environ.get("PYTEST_XDIST_WORKER")
            waves_name = (f"npu_{prog.m}x{prog.k}_{'sparse' if prog.sparse else 'dense'}"
                          + (f"_{worker}" if worker else ""))
        wave_file = BUILD_ROOT / "waves" / f"{waves_name}.{waves}"
        wave_file.parent.mkdir(parents=True, exist_ok=True)
        test_args = ["--trace-file", str(wave_file)]
    t1 = time.time()
    runner.test(test_module="cosim.tb.npu", hdl_toplevel="lutnpu_npu_sim",
                extra_env={"LUTNPU_NPU_JOB": str(run_dir / "job.json"),
                           "PYTHONWARNINGS": "error::DeprecationWarning"},
                plusargs=plusargs, waves=bool(waves), build_dir=runner.build_dir,
                test_dir=run_dir, results_xml=str(results), test_args=test_args)
    t_run = time.time() - t1
    if wave_file is not None:
        from cosim.gtkw import write_npu_gtkw

        write_npu_gtkw(wave_file, dut)
    tests, failed = get_results(results)
    assert tests > 0 and failed == 0, f"cocotb NPU run failed; see {results}" + (
        f"; waveform: {wave_file}" if wave_file else "")
    res = json.loads((run_dir / "result.json").read_text())
    dumped = bytearray()
    for line in (run_dir / "dump.hex").read_text().split():
        if line.startswith("//"):
            continue
        dumped += bytes.fromhex(line.rjust(2 * cfg.bus_bytes, "0"))[::-1]
    y_image = bytearray(img)
    start = y_lo * cfg.bus_bytes
    y_image[start:start + len(dumped)] = dumped[:len(y_image) - start]
    if not waves:       # the images are big (14 MiB for 4096 x 4096); keep only results
        (run_dir / "dram.hex").unlink()
        (run_dir / "dump.hex").unlink()
    status = res["status"]
    status["error"] = ErrorCode(status["error"])
    return GemvRun(y=prog.y_from_image(y_image), cycles=res["counters"]["cycles"],
                   counters=res["counters"], status=status, bound_cycles=prog.bound_cycles,
                   image=y_image, program=prog,
                   extra={"build_s": t_build, "run_s": t_run, "sim_time_ns": res["sim_ns"],
                          "waves": wave_file})


def run_gemv(w, x, *, sparse=False, config=None, simulator="verilator", waves=None, **kw):
    """SPEC section 8: compile W x with the golden compiler, run it on the NPU, return y,
    cycles, counters and bound_cycles (a :class:`GemvRun`).

    ``simulator``: ``"verilator"`` (cocotb, HDL clock and DRAM; fast) or ``"amaranth"``.
    """
    if config is None:  # the default NPU, built for the operands' block size and scale format
        config = NpuConfig(block_size=w.block, scale_format=w.scale_format)
    prog = compile_gemv(w, x, config=config, sparse=sparse)
    if simulator == "verilator":
        return run_program_verilator(prog, waves=waves, **kw)
    if simulator == "amaranth":
        return run_program_amaranth(prog, **kw)
    raise ValueError(f"simulator must be 'verilator' or 'amaranth', not {simulator!r}")


def measure_targets(*, seed: int = 0) -> dict:
    """The issue-5 performance numbers, measured in Verilator (flat dict for bench.json).

    - ``npu_mac_util_tcm``: mac_active / compute_busy for a 2:4 GEMV with W in the TCM
      (32 x 4096, one tile: LOAD everything, then one GEMV).
    - ``npu_sparse_speedup``: compute_busy(dense) / compute_busy(2:4), same shape, data in TCM.
    - ``npu_e2e_ratio_1024x4096``: cycles / bound_cycles, 1024 x 4096 2:4 MXFP4 from DRAM.
    - ``npu_4096x4096_*``: cycles, bound, ratio, run wall seconds and the bit-exact verdict.
    """
    import time

    from golden import gemv_reference, quant
    from golden import sparse as sp

    rng = np.random.default_rng(seed)
    cfg = NpuConfig()

    def operands(m, k):
        w = quant.quantize_mxfp4(sp.prune_2_4(rng.standard_normal((m, k)).astype(np.float32)))
        x = quant.quantize_mxfp4(rng.standard_normal(k).astype(np.float32))
        return w, x

    def exact(run, w, x):
        return bool(np.array_equal(run.y.view(np.uint32), gemv_reference(w, x).view(np.uint32)))

    out = {}
    w, x = operands(32, 4096)
    run = run_program_verilator(compile_gemv(w, x, config=cfg, sparse=True, tile_rows=4))
    out["npu_mac_util_tcm"] = run.counters["mac_active"] / run.counters["compute_busy"]
    out["npu_tcm_util_exact"] = int(exact(run, w, x))
    w, x = operands(16, 4096)
    busy = {}
    for s in (True, False):
        prog = compile_gemv(w, x, config=cfg, sparse=s, tile_rows=2)
        run = run_program_verilator(prog)
        busy[s] = run.counters["compute_busy"]
        out[f"npu_tcm_{'sparse' if s else 'dense'}_exact"] = int(exact(run, w, x))
    out["npu_sparse_speedup"] = busy[False] / busy[True]
    w, x = operands(1024, 4096)
    run = run_gemv(w, x, sparse=True, config=cfg)
    out["npu_e2e_ratio_1024x4096"] = run.cycles / run.bound_cycles
    w, x = operands(4096, 4096)
    t = time.time()
    run = run_gemv(w, x, sparse=True, config=cfg)
    out["npu_4096x4096_wall_s"] = time.time() - t - run.extra["build_s"]
    out["npu_4096x4096_cycles"] = run.cycles
    out["npu_4096x4096_bound_cycles"] = run.bound_cycles
    out["npu_4096x4096_ratio"] = run.cycles / run.bound_cycles
    out["npu_4096x4096_exact"] = int(exact(run, w, x))
    return out
