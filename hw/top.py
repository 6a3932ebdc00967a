"""NPU top: CSR + command processor + Dma + Tcm + GEMV feeder/engine, one AXI4 master.

See docs/architecture.md for the block diagram and the TCM layout the feeder reads. The
command set is hw/commands.py; errors and their fault addresses are those of
``golden.compile.execute`` (the tests compare both).

LUT runs on :class:`hw.vlut16.VLutEngine` in the compute unit (it shares the TCM vec port
with the GEMV y writer; the compute unit runs one command at a time).
"""

import operator
from functools import reduce

from amaranth import Array, Cat, Const, Module, Mux, ResetInserter, Signal
from amaranth.lib import data, enum, wiring
from amaranth.lib.fifo import SyncFIFO, SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .axi import Axi4Signature, AxiLiteSignature, Burst, Resp, axi_size
from .commands import COMMAND_BITS, Command, ErrorCode, Opcode
from .config import NpuConfig
from .csr import CSR_ADDR_BITS, Csr
from .dma import Dma, DmaDir, DmaError
from .gemv import GemvEngine
from .plane_reader import PlaneReader
from .skid import StreamSkid
from .tcm import Tcm, TcmRequestFifo, tcm_addr_bits
from .vlut16 import VLutEngine, VLutError

__all__ = ["NpuTop"]

#: Beats each reader set's step FIFO (by the GemvEngine) holds: the set's credits. Four keep
#: one step per cycle (a credit is back four cycles after the step that used it, if the
#: engine side takes it at once); more let a set run ahead.
STEP_FIFO_DEPTH = 8


def _log2(n: int) -> int:
    return n.bit_length() - 1


class _State(enum.Enum, shape=3):
    IDLE = 0
    CHECK = 1
    RUN = 2
    WAIT = 3      # SYNC / END waiting for units
    DRAIN = 4     # error: let outstanding AXI traffic finish


MUL_LATENCY = 3


def _mul_registered(m, a, b, name):
    """``a * b`` (unsigned) in a register, ``MUL_LATENCY`` cycles after ``a`` and ``b``.

    The operands are registered first (their copies sit by the DSP blocks), ``b`` is split in
    halves of at most 12 bits whose products (one MULT18X18D each) are registered, and their
    sum is the result. Timing: in one cycle the multiply -- routing into the DSP block, its
    3.9 ns and the carry chain adding the two blocks' products -- was the NPU's longest
    path at one placement seed. Only for values that are stable while they are read.
    """
    a_w, b_w = len(a), len(b)
    assert a_w <= 17, "one operand must fit a MULT18X18D's unsigned input"
    half = (b_w + 1) // 2
    assert half <= 12
    a_q = Signal(a_w, name=f"{name}_a")
    b_q = Signal(b_w, name=f"{name}_b")
    lo = Signal(a_w + half, name=f"{name}_lo")
    hi = Signal(a_w + b_w - half, name=f"{name}_hi")
    prod = Signal(a_w + b_w, name=name)
    m.d.sync += [a_q.eq(a), b_q.eq(b), lo.eq(a_q * b_q[:half]), hi.eq(a_q * b_q[half:]),
                 prod.eq(lo + (hi << half))]
    return prod


class NpuTop(wiring.Component):
    """The lutnpu NPU.

    Parameters
    ----------
    config : NpuConfig

    Members
    -------
    csr : In(AxiLiteSignature(addr_width=12, data_width=32))
        Host register port (docs/registers.md).
    axi : Out(Axi4Signature.from_config(config))
        DRAM master: the Dma (ID 0) and the command fetcher (ID 1) share it.
    irq : Out(1)
        Interrupt (level): ``|(IRQ_STATUS & IRQ_ENABLE)``.

    Raises
    ------
    ValueError
        If the L value bytes of a step do not fit one TCM line (``lanes * 8 >
        tcm_banks * tcm_word_bits``) or y words cannot be whole (``lanes * 32 <
        tcm_word_bits``).
    """

    def __init__(self, config: NpuConfig):
        line_bits = config.tcm_banks * config.tcm_word_bits
        if config.lanes * 8 > line_bits:
            raise ValueError(f"NpuTop needs lanes * 8 <= tcm_banks * tcm_word_bits "
                             f"({line_bits}), not lanes = {config.lanes}")
        if config.lanes * 32 < config.tcm_word_bits:
            raise ValueError(f"NpuTop needs lanes * 32 >= tcm_word_bits "
                             f"({config.tcm_word_bits}), not lanes = {config.lanes}")
        self._config = config
        super().__init__({
            "csr": In(AxiLiteSignature(addr_width=CSR_ADDR_BITS, data_width=32)),
            "axi": Out(Axi4Signature.from_config(config)),
            "irq": Out(1),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes, bs = cfg.lanes, cfg.block_size
        wb = cfg.tcm_word_bits // 8                 # TCM word bytes = bus bytes
        ln = cfg.tcm_banks * wb                     # TCM line bytes
        lnb = _log2(ln)
        wbb = _log2(wb)
        abits = cfg.bus_addr_bits
        line_bits = ln * 8
        waddr_bits = tcm_addr_bits(cfg)
        laddr_bits = waddr_bits - _log2(cfg.tcm_banks)
        tcm_bytes = cfg.tcm_bytes

        m.submodules.csr = csr = Csr(cfg)
        wiring.connect(m, wiring.flipped(self.csr), csr.bus)
        m.d.comb += self.irq.eq(csr.irq)

        # Everything but the CSR restarts on a soft reset. Timing: each unit's reset is one
        # flip-flop (ORed only with the domain's own reset), not a chain of ORs from the Csr
        # across the die to thousands of flip-flops; so the soft reset acts a cycle after the
        # CSR write (the NPU is idle then: nothing else happens in that cycle).
        core = Module()
        core_rst = Signal()
        m.d.sync += core_rst.eq(csr.soft_reset)
        m.submodules.core = ResetInserter(core_rst)(core)
        # The compute unit also restarts on start and after an error: its own reset register
        # (beside the core, not inside it) covers the soft reset too.
        comp = Module()
        comp_clear = Signal()
        m.submodules.comp = ResetInserter(comp_clear)(comp)

        core.submodules.tcm = tcm = Tcm(cfg)
        core.submodules.dma = dma = Dma(cfg)
        # Timing: each TCM request port has a small FIFO of its own beside the Tcm (the units'
        # register slices sit by the units): the Tcm's arbitration (valids and banks ->
        # grants -> readies) then loops within these three, not across the die through the
        # Dma's, the readers' and the vec port's slices. Each is a TcmRequestFifo: the head's
        # valid, bank and write come from a small register slice refilled on its own ready,
        # the rest of the request from distributed RAM, so a grant moves that slice and one
        # pointer (not a FIFO level shared with the writer, nor the enables of the request's
        # data registers, which as plain register slices the placer pulled towards the banks'
        # write data). Two cycles more per TCM access than with no FIFO.
        core.submodules.dma_tcm_fifo = dma_tcm_fifo = TcmRequestFifo(cfg)
        wiring.connect(core, dma.tcm_req, dma_tcm_fifo.i)
        wiring.connect(core, dma_tcm_fifo.o, tcm.dma_req)
        wiring.connect(core, tcm.dma_resp, dma.tcm_resp)
        # The GemvEngine and the VLutEngine are cleared by reset registers of their own, loaded
        # like comp_clear, outside the compute unit's reset (timing: comp_clear's one net
        # reached the set/reset of 6,072 flip-flops, 5,059 of them in these two). Their init
        # is 1 (a clear in the first cycle after reset, which changes nothing) so that Yosys
        # does not merge them with comp_clear, whose inputs are the same.
        eng_clear, vlut_clear = Signal(init=1), Signal(init=1)
        engine, vlut = GemvEngine(cfg), VLutEngine(cfg)
        m.submodules.engine = ResetInserter(eng_clear)(engine)
        m.submodules.vlut = ResetInserter(vlut_clear)(vlut)

        # ---- run state, errors, status --------------------------------------------------
        state = Signal(_State)
        running = Signal()
        done = Signal()
        err_code = Signal(ErrorCode)
        err_addr = Signal(64)
        m.d.comb += [csr.busy.eq(running), csr.done.eq(done), csr.error.eq(err_code),
                     csr.fault_addr.eq(err_addr)]
        # Timing: the error sites' flags, codes and addresses are registered per unit (see
        # the end of elaborate) and latched one cycle later -- combinationally they joined the
        # dispatcher's decode to the DMA handshake and the fetcher. While an error is pending
        # (err_pend) the dispatcher waits.
        err_pend = Signal()
        pend_code = Signal(ErrorCode)
        pend_addr = Signal(64)
        first_err = err_pend & (err_code == ErrorCode.NONE) & running
        with core.If(first_err):
            core.d.sync += [err_code.eq(pend_code), err_addr.eq(pend_addr)]

        errs = {}                                   # unit -> [(flag, code, addr)]

        def report(mod, unit, code, addr):
            """Raise an error from the current context of ``mod``. Earlier sites win: units in
            the order of their first report, then sites in report order."""
            sites = errs.setdefault(unit, [])
            flag = Signal(name=f"err_{unit}{len(sites)}")
            sites.append((flag, code, addr))
            mod.d.comb += flag.eq(1)

        cmd_base, cmd_count = Signal(64), Signal(32)
        # Timing: the window's end and the Dma's limit are free-running registers (up to three
        # cycles behind the CSR; a run starts later than that after a CSR write). Computed in the
        # same cycle as their uses, the 64-bit sums fed the Dma's window check and the list
        # check (the small top's longest path, 20.4 ns).
        win_lo, win_hi = Signal(65), Signal(65)     # [win_lo, win_hi)
        m.d.sync += [win_lo.eq(csr.win_base), win_hi.eq(csr.win_base + csr.win_size)]
        # The window's last byte is a register of its own, a cycle behind win_hi (timing: the
        # 65-bit decrement, the range compare and the clamp in one cycle took 8.8 ns on ECP5).
        dma_limit = Signal(65)
        m.d.sync += dma_limit.eq(win_hi - 1)
        win_base_q, win_limit_q = Signal(abits), Signal(abits)
        m.d.sync += [win_base_q.eq(win_lo),
                     win_limit_q.eq(Mux(dma_limit >> abits != 0, (1 << abits) - 1, dma_limit))]
        m.d.comb += [dma.window_base.eq(win_base_q), dma.window_limit.eq(win_limit_q)]

        # ---- AXI read sharing: Dma (ID 0) and fetcher (ID 1) ----------------------------
        bus = self.axi
        f_arvalid, f_araddr, f_arlen = Signal(), Signal(abits), Signal(8)
        f_rready = Signal()
        # The two read-address streams meet in a register slice before the bus: the bus's
        # arready then reaches only the slice, and each source sees the slice's registered
        # ready (timing: the held-selection multiplexer and the bus's arready ran into the
        # Dma's burst issue and its write credit). The fetcher goes first; a source's request
        # is only taken while the slice has room, so neither can lose one.
        ar_layout = data.StructLayout({"addr": abits, "len": 8, "id": 1})
        core.submodules.ar_skid = ar_skid = StreamSkid(ar_layout)
        shift = axi_size(cfg.bus_data_bits)
        ar_in = ar_skid.i
        m.d.comb += [
            ar_in.valid.eq(f_arvalid | dma.axi.arvalid),
            ar_in.payload.addr.eq(Mux(f_arvalid, f_araddr, dma.axi.araddr)),
            ar_in.payload.len.eq(Mux(f_arvalid, f_arlen, dma.axi.arlen)),
            ar_in.payload.id.eq(f_arvalid),
            dma.axi.arready.eq(ar_in.ready & ~f_arvalid),
            bus.arvalid.eq(ar_skid.o.valid),
            bus.araddr.eq(ar_skid.o.payload.addr),
            bus.arlen.eq(ar_skid.o.payload.len),
            bus.arid.eq(ar_skid.o.payload.id),
            bus.arsize.eq(shift),
            bus.arburst.eq(Burst.INCR),
            ar_skid.o.ready.eq(bus.arready),
        ]
        f_arready = ar_in.ready & f_arvalid
        r_to_f = bus.rid == 1
        m.d.comb += [
            dma.axi.rid.eq(bus.rid), dma.axi.rdata.eq(bus.rdata), dma.axi.rresp.eq(bus.rresp),
            dma.axi.rlast.eq(bus.rlast), dma.axi.rvalid.eq(bus.rvalid & ~r_to_f),
            bus.rready.eq(Mux(r_to_f, f_rready, dma.axi.rready)),
        ]
        for name in ("awid", "awaddr", "awlen", "awsize", "awburst", "awvalid", "wdata",
                     "wstrb", "wlast", "wvalid", "bready"):
            m.d.comb += getattr(bus, name).eq(getattr(dma.axi, name))
        for name in ("awready", "wready", "bid", "bresp", "bvalid"):
            m.d.comb += getattr(dma.axi, name).eq(getattr(bus, name))

        # ---- command fetcher --------------------------------------------------------------
        beats_per_cmd = COMMAND_BITS // cfg.bus_data_bits
        fifo_depth = 8
        # Buffered (its head word in a register; timing: the distributed RAM's read and the
        # head's decode went into the dispatch register h in one cycle).
        core.submodules.cmd_fifo = cmd_fifo = SyncFIFOBuffered(width=COMMAND_BITS,
                                                               depth=fifo_depth)
        f_next = Signal(64)          # next command word address to request
        f_left = Signal(32)          # words not yet requested
        f_busy = Signal()            # a burst is in flight
        f_err = Signal()             # an error response was seen in this burst
        f_err_addr = Signal(64)
        f_err_code = Signal(ErrorCode)
        f_beat = Signal(range(max(2, beats_per_cmd)))
        f_word = Signal(COMMAND_BITS)
        f_beat_addr = Signal(64)
        # Timing: the next burst's length (words to the 64-byte boundary, at most the words
        # left) and whether any are left are free-running registers of f_next and f_left,
        # valid (f_sized) from the second cycle after those change: in the issuing cycle, the
        # length and the next address made three carry chains (the whole NPU's longest path),
        # and in one cycle the length's compare of the 32-bit f_left was 8.5 ns at one seed.
        # The words to the boundary, and f_left split into "under 4" and its low bits, are
        # registered first; the length is picked from them a cycle later.
        to64 = Signal(3)
        left_lt4 = Signal()
        left_lo = Signal(2)
        core.d.sync += [to64.eq((64 - f_next[:6]) >> 4), left_lt4.eq(f_left[2:] == 0),
                        left_lo.eq(f_left[:2])]
        n_words = Signal(3)
        f_any_left = Signal()
        f_sized, f_sized_1 = Signal(), Signal()
        core.d.sync += [n_words.eq(Mux(left_lt4 & (left_lo < to64), left_lo, to64)),
                        f_any_left.eq(f_left != 0), f_sized_1.eq(1), f_sized.eq(f_sized_1)]
        fetching = Signal()
        can_issue = fetching & f_sized & f_any_left & ~f_busy & ~f_arvalid & \
            (cmd_fifo.level <= fifo_depth - 4) & (err_code == ErrorCode.NONE) & ~err_pend
        # The burst's address and length load whenever no burst is being
        # requested (or in flight), not on can_issue, so that its fan-out stays small (timing:
        # can_issue reached ~230 load enables, 8.3-8.5 ns at two seeds); they are read only
        # while the burst they describe is requested or in flight.
        with core.If(~f_arvalid):
            core.d.sync += [f_araddr.eq(f_next), f_arlen.eq(n_words * beats_per_cmd - 1)]
        with core.If(~f_busy):
            core.d.sync += f_beat_addr.eq(f_next)
        with core.If(can_issue):
            core.d.sync += [f_arvalid.eq(1), f_busy.eq(1),
                            f_next.eq(f_next + (n_words << 4)), f_left.eq(f_left - n_words),
                            f_sized_1.eq(0), f_sized.eq(0)]
        with core.If(f_arvalid & f_arready):
            core.d.sync += f_arvalid.eq(0)
        m.d.comb += f_rready.eq(1)
        r_fire_f = bus.rvalid & r_to_f
        m.d.comb += cmd_fifo.w_data.eq(Cat(f_word[cfg.bus_data_bits:], bus.rdata)
                                       if beats_per_cmd > 1 else bus.rdata)
        with core.If(r_fire_f):
            core.d.sync += f_beat_addr.eq(f_beat_addr + wb)
            with core.If(bus.rresp != Resp.OKAY), core.If(~f_err):
                core.d.sync += [f_err.eq(1), f_err_addr.eq(f_beat_addr),
                                f_err_code.eq(Mux(bus.rresp == Resp.DECERR,
                                                  ErrorCode.AXI_DECERR,
                                                  ErrorCode.AXI_SLVERR))]
            if beats_per_cmd > 1:
                core.d.sync += [f_word.eq(Cat(f_word[cfg.bus_data_bits:], bus.rdata)),
                                f_beat.eq(Mux(f_beat == beats_per_cmd - 1, 0, f_beat + 1))]
                last_beat = f_beat == beats_per_cmd - 1
            else:
                last_beat = Const(1)
            with core.If(last_beat & ~f_err & (bus.rresp == Resp.OKAY)):
                core.d.comb += cmd_fifo.w_en.eq(1)
            with core.If(bus.rlast):
                core.d.sync += f_busy.eq(0)
        with core.If(f_err & ~f_busy):
            report(core, "fetch", f_err_code, f_err_addr)

        # ---- DMA unit -------------------------------------------------------------------------
        dma_busy = Signal()
        dma_cmd = Signal(Command, reset_less=True)      # loaded while the Dma is free
        dma_dir = Signal(DmaDir)
        d_desc_valid = Signal()
        m.d.comb += [
            dma.desc.valid.eq(d_desc_valid),
            dma.desc.payload.dir.eq(dma_dir),
            dma.desc.payload.dram_addr.eq(dma_cmd.dma.dram_addr),
            dma.desc.payload.tcm_addr.eq(dma_cmd.dma.tcm_addr[wbb:]),
            dma.desc.payload.row_bytes.eq(dma_cmd.dma.length),
            dma.desc.payload.rows.eq(1),
            dma.desc.payload.dram_stride.eq(0),
            dma.desc.payload.tcm_stride.eq(0),
            dma.done.ready.eq(1),
        ]
        with core.If(dma.desc.valid & dma.desc.ready):
            core.d.sync += d_desc_valid.eq(0)
        dma_err_map = {
            DmaError.SLVERR: ErrorCode.AXI_SLVERR, DmaError.DECERR: ErrorCode.AXI_DECERR,
            DmaError.ZERO_LENGTH: ErrorCode.BAD_LENGTH, DmaError.MISALIGNED: ErrorCode.BAD_LENGTH,
            DmaError.TCM_RANGE: ErrorCode.TCM_RANGE, DmaError.DRAM_WINDOW: ErrorCode.DRAM_RANGE,
        }
        dma_cmd_addr = Signal(64, reset_less=True)
        # Timing: the Dma's completion is registered before it frees the unit and picks the
        # error site (its state decode fed the DMA unit's error address mux). dma_busy stays
        # set for that cycle, so dma_cmd is still the finished command's.
        d_done = Signal()
        d_result = Signal.like(dma.done.payload, reset_less=True)   # read with d_done
        core.d.sync += [d_done.eq(dma.done.valid), d_result.eq(dma.done.payload)]
        with core.If(d_done):
            core.d.sync += dma_busy.eq(0)
            with core.Switch(d_result.error):
                for de, ec in dma_err_map.items():
                    with core.Case(de):
                        if ec in (ErrorCode.AXI_SLVERR, ErrorCode.AXI_DECERR):
                            a = d_result.fault_addr
                        elif ec == ErrorCode.TCM_RANGE:
                            a = dma_cmd.dma.tcm_addr
                        elif ec == ErrorCode.DRAM_RANGE:
                            a = dma_cmd.dma.dram_addr
                        else:
                            a = dma_cmd_addr
                        report(core, "dma", ec, a)

        # ---- compute unit: GEMV feeder, engine, y writer ----------------------------------------
        # g follows h while the compute unit is free and is read from c_go: not reset.
        g = Signal(Command, reset_less=True)   # the GEMV or LUT command being run
        g_addr = Signal(64, reset_less=True)   # its byte address (for error reports)
        c_start = Signal()               # dispatcher issues a GEMV this cycle
        # The compute unit starts a GEMV a cycle after its dispatch, from a register (timing:
        # the dispatch decision reached the reset of every compute register it clears);
        # c_go counts as busy, so nothing else is dispatched to the unit in that cycle.
        c_go = Signal()
        comp.d.sync += c_go.eq(c_start)
        c_active = Signal()
        sparse = g.gemv.flags.sparse
        nb = g.gemv.k_blocks
        rts = g.gemv.row_tiles
        sp_log, dn_log = _log2(bs // 4), _log2(bs // 2)
        steps = Signal(26)
        m.d.comb += steps.eq(Mux(sparse, nb << sp_log, nb << dn_log))
        # Timing: free-running from g (stable from c_start, four cycles before feeding), so
        # the row tile's last step compares with a register, not with a shift and a subtract.
        steps_m2 = Signal(26)
        steps_one = Signal()             # one step per row tile
        m.d.sync += [steps_m2.eq(steps - 2), steps_one.eq(steps == 1)]

        def lines(nbytes):
            return (nbytes + ln - 1) >> lnb

        v_lines, p_lines, s_lines = Signal(24), Signal(24), Signal(24)
        xc_lines, xs_lines = Signal(24), Signal(24)
        panel_lines = Signal(24)
        m.d.comb += [
            v_lines.eq(lines(steps * lanes)),
            p_lines.eq(Mux(sparse, lines((steps * lanes + 1) >> 1), 0)),
            s_lines.eq(lines(nb * lanes)),
            xc_lines.eq(lines(nb * (bs // 2))),
            xs_lines.eq(lines(nb)),
        ]
        # Timing: each plane's line count, the panel size, the range check's multiply and the
        # fault address's multiply are registered (free-running from g), and the range check
        # waits for them and its registered outcomes (c_wait) -- in one cycle
        # they made the NPU's longest path (the line counts and their sum: five carry chains).
        lines_q = {n: Signal(24, name=f"{n}_lines_q") for n in ("val", "pat", "wsc", "xc", "xs")}
        m.d.sync += [lines_q["val"].eq(v_lines), lines_q["pat"].eq(p_lines),
                     lines_q["wsc"].eq(s_lines), lines_q["xc"].eq(xc_lines),
                     lines_q["xs"].eq(xs_lines)]
        m.d.sync += panel_lines.eq(lines_q["val"] + lines_q["pat"] + lines_q["wsc"])
        w_span = _mul_registered(m, rts, panel_lines, "w_span")
        w_line, x_line = Signal(laddr_bits + 1), Signal(laddr_bits + 1)
        m.d.comb += [w_line.eq(g.gemv.w_addr >> lnb), x_line.eq(g.gemv.x_addr >> lnb)]
        w_end = Signal(48)
        x_end = Signal(32)
        y_end = Signal(32)
        # Registered (a sum, then its compare, each a carry chain): the checks read them
        # 5 + MUL_LATENCY cycles after g is loaded.
        m.d.sync += [
            w_end.eq(g.gemv.w_addr + (w_span << lnb)),
            x_end.eq(g.gemv.x_addr + ((lines_q["xc"] + lines_q["xs"]) << lnb)),
            y_end.eq(g.gemv.y_addr + ((rts * lanes) << 2)),
        ]

        # Two sets of five plane readers: row tile r reads through set r % 2, so the next
        # row tile's lines are fetched while this one is consumed (no bubble between them).
        names = ("val", "pat", "wsc", "xc", "xs")
        elem = {"val": 8 * lanes, "pat": 4 * lanes, "wsc": 8 * lanes, "xc": 16, "xs": 8}
        sets = []
        rq = {}                          # (set, name) -> the reader's request slice
        ro = {}                          # (set, name) -> the reader's elements
        # arm_q: set si was armed in the previous cycle: its readers start (which empties
        # their output FIFOs), and only then is it marked armed.
        arm_q = Signal(2)
        for si in range(2):
            rs = {}
            for n in names:
                # Credit for one line per cycle per reader (PlaneReader: L + 3), L being the
                # four request slices (4) and the TCM's read latency and response buffer
                # (read_latency + 1). The buffer is distributed RAM: 16 lines cost no more.
                rs[n] = PlaneReader(line_bits=line_bits, elem_bits=elem[n], addr_bits=laddr_bits,
                                    depth=tcm.read_latency + 8)
                comp.submodules[f"rd{si}_{n}"] = rs[n]
                # Timing: each reader's requests pass a register slice, so the arbiter sees
                # only flip-flops and its grant ends at flip-flops (one cycle more: + 1 above).
                # Two slices, so that the arbiter's (the second ones') can sit by the arbiter
                # while the first ones sit by the readers, which are spread over the die.
                rq_first = StreamSkid(laddr_bits)
                comp.submodules[f"rq{si}_{n}_first"] = rq_first
                wiring.connect(comp, rs[n].req, rq_first.i)
                rq[si, n] = StreamSkid(laddr_bits)
                comp.submodules[f"rq{si}_{n}"] = rq[si, n]
                wiring.connect(comp, rq_first.o, rq[si, n].i)
                # Its elements come out of its output FIFO (distributed RAM), which the
                # join reads: taking an element moves two pointers and a level, and the
                # reader fills the FIFO on a credit of its own (PlaneReader), so the join's
                # loop reaches a few flip-flops and none of the reader's line registers.
                ro[si, n] = rs[n].out
            sets.append(rs)
        order = [(si, n) for si in range(2) for n in names]
        cur = Signal()                   # the set feeding the engine now
        # Line read arbiter: the feeding set's readers first, in round-robin order, then the
        # other set's in fixed order. Every reader is credit-limited, so none can hog the
        # port; the round robin matters at a GEMV's start, where in fixed order the values
        # reader filled its whole credit before the next reader got a line (the first step
        # waited ~50 cycles). Responses come back in order.
        # Timing: the decision is registered (win, one-hot over `order`): the winner is
        # chosen a cycle ahead from the request slices' valids, leaving out the current
        # winner, so a chosen request is still there when it is taken (a stream's valid
        # holds until taken, and only this arbiter takes). The readies and the address mux
        # then come from flip-flops: computed in the taking cycle, the choice ran from the
        # request valids through the priority logic into all ten slices (the NPU's deepest
        # path, nine LUT levels). A reader is served at most every other cycle, far above
        # what any plane needs.
        comp.submodules.rid_fifo = rid_fifo = SyncFIFO(width=4, depth=16)
        nn = len(names)
        win = Signal(2 * nn)             # one-hot over `order`; 0: no request chosen
        rr = Signal(range(nn))           # the feeding set's plane chosen last
        # Timing: the line request passes a register slice before the TCM, so the TCM's
        # arbitration (and its ready) sees only flip-flops and the readers' request logic
        # ends at the slice's registered ready: together they made the small top's longest
        # path (plane reader -> arbiter -> TCM grant -> readers and the vec port's users).
        # One cycle more per line read; the readers' credit covers it.
        # It carries the line address only: every compute read is wide, and a constant `wide`
        # at the TCM (not a flip-flop of the slice) lets synthesis drop the narrow-read logic
        # from the TCM's arbitration.
        comp.submodules.creq_skid = creq_skid = StreamSkid(laddr_bits)
        comp.submodules.creq_tcm_fifo = creq_tcm_fifo = TcmRequestFifo(cfg, shape=laddr_bits)
        wiring.connect(m, creq_skid.o, creq_tcm_fifo.i)
        creq_tcm = creq_tcm_fifo.o
        m.d.comb += [
            tcm.compute_req.valid.eq(creq_tcm.valid),
            tcm.compute_req.payload.addr.eq(creq_tcm.payload << _log2(cfg.tcm_banks)),
            tcm.compute_req.payload.wide.eq(1),
            creq_tcm.ready.eq(tcm.compute_req.ready),
        ]
        creq = creq_skid.i
        # rid_room: the rid FIFO has room for this cycle's push; a register (the FIFO's level
        # compare fed the arbiter), kept one entry short of full, so it is never stale.
        rid_room = Signal()
        comp.d.sync += rid_room.eq(rid_fifo.level < rid_fifo.depth - 1)
        go = Signal()                    # the chosen request (if any) is taken this cycle
        m.d.comb += go.eq(creq.ready & rid_room)
        # The next winner is chosen among the requests other than this cycle's winner, and
        # taken as the next one only if this one goes: so the choice comes from flip-flops
        # alone and `go` is only its load enable.
        reqs = Signal(2 * nn)
        m.d.comb += reqs.eq(Cat(*[rq[k].o.valid for k in order]) & ~win)
        # Per set, both candidates are computed from the set's own requests (the round robin
        # for when it feeds, the lowest plane for when it does not), and `cur` only picks
        # between them at the end (timing: a multiplexer on `cur` in front of the round robin
        # cost a LUT level).
        rr_oh, low_oh, any_req = [], [], []
        for si in range(2):
            r = reqs[si * nn:(si + 1) * nn]
            oh = Signal(nn, name=f"rr_pick{si}")
            with comp.Switch(rr):
                for last in range(nn):
                    with comp.Case(last):
                        for ni in reversed([(last + 1 + j) % nn for j in range(nn)]):
                            with comp.If(r[ni]):
                                comp.d.comb += oh.eq(1 << ni)
            lo = Signal(nn, name=f"low_pick{si}")
            for ni in reversed(range(nn)):   # later assignments win: the lowest plane first
                with comp.If(r[ni]):
                    comp.d.comb += lo.eq(1 << ni)
            rr_oh.append(oh)
            low_oh.append(lo)
            any_req.append(r.any())
        next_win = Signal(2 * nn)
        m.d.comb += next_win.eq(Cat(Mux(cur, Mux(any_req[1], 0, low_oh[0]), rr_oh[0]),
                                    Mux(cur, rr_oh[1], Mux(any_req[0], 0, low_oh[1]))))
        feed_oh = Mux(cur, rr_oh[1], rr_oh[0])
        feed_sel = Signal(range(nn))     # feed_oh as an index
        m.d.comb += feed_sel.eq(reduce(operator.or_, [Mux(feed_oh[i], i, 0) for i in range(nn)]))
        # A chosen request waits (win holds) until the TCM side takes it.
        with comp.If(~win.any() | go):
            comp.d.sync += win.eq(next_win)
            with comp.If(Mux(cur, any_req[1], any_req[0])):    # feed_oh != 0, shallower
                comp.d.sync += rr.eq(feed_sel)
        # win is one-hot: the chosen request's address and index are ORs over all ten.
        req_addr = Signal(laddr_bits)
        win_index = Signal(4)
        m.d.comb += [
            req_addr.eq(reduce(operator.or_, [Mux(win[i], rq[k].o.payload, 0)
                                              for i, k in enumerate(order)])),
            win_index.eq(reduce(operator.or_, [Mux(win[i], i, 0) for i in range(2 * nn)])),
        ]
        m.d.comb += [
            creq.valid.eq(win.any() & rid_room),
            creq.payload.eq(req_addr),
            rid_fifo.w_data.eq(win_index),
            rid_fifo.w_en.eq(creq.valid & creq.ready),
        ]
        for i, k in enumerate(order):
            m.d.comb += rq[k].o.ready.eq(win[i] & go)
        m.d.comb += tcm.compute_resp.ready.eq(1)
        resp_line = Cat(*[tcm.compute_resp.payload[i] for i in range(cfg.tcm_banks)])
        for i, (si, n) in enumerate(order):
            m.d.comb += [sets[si][n].resp_valid.eq(tcm.compute_resp.valid &
                                                   (rid_fifo.r_data == i)),
                         sets[si][n].resp_data.eq(resp_line)]
        m.d.comb += rid_fifo.r_en.eq(tcm.compute_resp.valid)

        # Row-tile sequencer: arm set (r % 2) for row tile r as soon as that set is free.
        arm_rt = Signal(17)              # next row tile to arm
        arm_base = Signal(laddr_bits + 24)
        armed = Signal(2)
        feeding = Signal()
        job_sent = Signal()
        set_idle = [Signal(name=f"set{si}_idle") for si in range(2)]
        for si in range(2):
            m.d.comb += set_idle[si].eq(Cat(*[r.idle for r in sets[si].values()]).all())
        all_idle = Signal()
        m.d.comb += all_idle.eq(set_idle[0] & set_idle[1])
        # Timing: arming (the readers' start, which also empties their output FIFOs) is
        # decided from registers only. set_idle_q lags set_idle by a cycle, which is safe: a
        # set idle a cycle ago is idle now unless it was armed then, and then arm_rt has
        # moved on to the other set (and `armed` holds it from the cycle after). arm_more
        # (arm_rt < rts) is kept as a register, and each plane's base line has a register of
        # its own (the sums were carry chains in front of the readers).
        set_idle_q = Signal(2, init=0b11)
        comp.d.sync += set_idle_q.eq(Cat(*set_idle))
        arm_more = Signal()
        rts_m1 = Signal(16)
        m.d.sync += rts_m1.eq(rts - 1)
        # Row tile r's planes start at w_line + r * panel_lines (+ the planes before them).
        pat_off, wsc_off, xs_base = Signal(24), Signal(24), Signal(laddr_bits + 1)
        m.d.sync += [pat_off.eq(lines_q["val"]), wsc_off.eq(lines_q["val"] + lines_q["pat"]),
                     xs_base.eq(x_line + lines_q["xc"])]
        pat_base, wsc_base = Signal.like(arm_base), Signal.like(arm_base)
        arm_set = arm_rt[0]
        # The readers start from arm_q, a cycle after the arming decision (timing: the
        # decision, a LUT, went into the set and clear logic of every reader's registers,
        # beside the compute unit's reset); the bases they start from are those of the
        # arming cycle, registered (the running bases have moved on by then).
        start_base = {n: Signal.like(b, name=f"{n}_start_base")
                      for n, b in (("val", arm_base), ("pat", pat_base), ("wsc", wsc_base))}
        m.d.sync += [start_base["val"].eq(arm_base), start_base["pat"].eq(pat_base),
                     start_base["wsc"].eq(wsc_base)]
        for si in range(2):
            rs = sets[si]
            for n in names:
                m.d.comb += rs[n].lines.eq(lines_q[n])
            m.d.comb += [rs["val"].base.eq(start_base["val"]),
                         rs["pat"].base.eq(start_base["pat"]),
                         rs["wsc"].base.eq(start_base["wsc"]), rs["xc"].base.eq(x_line),
                         rs["xs"].base.eq(xs_base)]
            can_arm = feeding & arm_more & (arm_set == si) & ~armed[si] & set_idle_q[si]
            comp.d.sync += arm_q[si].eq(can_arm)
            comp.d.comb += [r.start.eq(arm_q[si]) for r in rs.values()]
            with comp.If(arm_q[si]):
                comp.d.sync += armed[si].eq(1)
            with comp.If(can_arm):
                comp.d.sync += [arm_rt.eq(arm_rt + 1),
                                arm_more.eq(arm_rt < rts_m1),
                                arm_base.eq(arm_base + panel_lines),
                                pat_base.eq(pat_base + panel_lines),
                                wsc_base.eq(wsc_base + panel_lines)]
        # Join each set's planes into step beats.
        # Timing: nothing in a set's join loop (its output slices' valids -> the join -> their
        # readies) is shared with the other set or sits by the engine, so the loop stays
        # among the set's own flip-flops (its loop through one register slice by the engine
        # crossed the die twice and was the NPU's worst path). Each set
        #   - counts its own steps (a row tile's steps restart at each arming),
        #   - joins whenever it is armed and has a credit, into a register (step_p) and a
        #     FIFO by the engine (step_fifo) of STEP_FIFO_DEPTH beats; a credit comes back
        #     (registered) for each beat the engine side takes, so no ready crosses the die,
        #   - may run ahead of the other set: beats carry `rt_last` (a row tile's last step)
        #     and the engine side takes from one set's FIFO until it sees one, then from the
        #     other's, so the engine gets the row tiles in order.
        step_shape = engine.step.payload.shape()
        beat_layout = data.StructLayout({"step": step_shape, "rt_last": 1})
        # The FIFOs' heads reach the engine's input register slice (its step_slice), so the
        # engine's take decision starts from the slice's valid flip-flop and the FIFOs' pops
        # from its ready flip-flop (timing: the FIFO heads' RAM read, the pattern check and
        # the engine's counters were one path).
        step_in = engine.step
        out_cur = Signal()               # the set whose FIFO the engine takes from now
        blk_last_at = Mux(sparse, bs // 4 - 1, bs // 2 - 1)
        blk_one = (bs // 4 == 1) & sparse | (bs // 2 == 1) & ~sparse    # one step per block
        fifos, tile_done = [], []
        # The joins' own copy of the GEMV's sparse flag (timing: g's flip-flop sits by its
        # many loads, far from the joins). g is stable from long before the first join.
        join_sparse = Signal()
        m.d.sync += join_sparse.eq(sparse)
        for si in range(2):
            fifo = SyncFIFO(width=beat_layout.size, depth=STEP_FIFO_DEPTH)
            comp.submodules[f"step_fifo{si}"] = fifo
            fifos.append(fifo)
            # The set's step counters; blk_last (s_in_blk == steps per block - 1) and
            # rt_last (step == steps - 1) are registers kept with them.
            step = Signal(26, name=f"set{si}_step")
            s_in_blk = Signal(8, name=f"set{si}_s_in_blk")
            blk_last = Signal(name=f"set{si}_blk_last")
            rt_last = Signal(name=f"set{si}_rt_last")
            # The credits as a thermometer code (bit k: more than k credits), so taking or
            # returning one shifts it and has_credit is its bit 0 (timing: a count, its
            # adder and a compare were behind the join's decision).
            credit = Signal(STEP_FIFO_DEPTH, init=(1 << STEP_FIFO_DEPTH) - 1,
                            name=f"set{si}_credit")
            has_credit = credit[0]
            parity = step[0]
            cond = {"val": 1, "pat": join_sparse, "xc": join_sparse | parity, "wsc": blk_last,
                    "xs": blk_last}
            v = Signal(name=f"set{si}_step_valid")
            m.d.comb += v.eq(armed[si] & has_credit & ro[si, "val"].valid &
                             (ro[si, "pat"].valid | ~join_sparse) & ro[si, "xc"].valid &
                             ro[si, "wsc"].valid & ro[si, "xs"].valid)
            for n in names:
                m.d.comb += ro[si, n].ready.eq(v & cond[n])
            # The beat: loaded every cycle (only its valid bit says whether it is one).
            beat = Signal(beat_layout, name=f"set{si}_step_p", reset_less=True)
            beat_valid = Signal(name=f"set{si}_step_p_valid")
            val_p, pat_p, wsc_p, xc_p, xs_p = (ro[si, n].payload for n in names)
            sp = beat.step
            comp.d.sync += [sp.w.eq(val_p), sp.scale_w.eq(wsc_p), sp.scale_x.eq(xs_p),
                            beat.rt_last.eq(rt_last), beat_valid.eq(v)]
            for i in range(lanes):
                nib = pat_p[4 * i:4 * i + 4]
                comp.d.sync += sp.pattern[i].eq(Mux(nib[3], 7, nib[:3]))
            comp.d.sync += sp.x.as_value().eq(
                Mux(join_sparse, xc_p, Mux(parity, xc_p[8:16], xc_p[0:8])))
            m.d.comb += [fifo.w_en.eq(beat_valid), fifo.w_data.eq(beat)]
            with comp.If(v):
                comp.d.sync += [step.eq(step + 1),
                                s_in_blk.eq(Mux(blk_last, 0, s_in_blk + 1)),
                                blk_last.eq(Mux(blk_last, blk_one, s_in_blk == blk_last_at - 1)),
                                rt_last.eq(step == steps_m2)]
                with comp.If(rt_last):
                    comp.d.sync += armed[si].eq(0)
            # The set's counters restart as it is armed (arm_q: its slices are being cleared
            # and it is not armed yet, so it takes no step in this cycle).
            with comp.If(arm_q[si]):
                comp.d.sync += [step.eq(0), s_in_blk.eq(0), blk_last.eq(blk_one),
                                rt_last.eq(steps_one)]
            tile_done.append(Signal(name=f"set{si}_tile_done"))
            comp.d.sync += tile_done[si].eq(v & rt_last)
            # Credits: one per FIFO entry; each pop of the engine side returns one a cycle
            # later (so the FIFO never overflows: a beat in step_p holds its credit).
            pop = Signal(name=f"set{si}_pop")
            ret = Signal(name=f"set{si}_credit_back")
            m.d.comb += [pop.eq(step_in.ready & (out_cur == si) & fifo.r_rdy),
                         fifo.r_en.eq(pop)]
            comp.d.sync += ret.eq(pop)
            with comp.If(v & ~ret):
                comp.d.sync += credit.eq(credit >> 1)
            with comp.Elif(ret & ~v):
                comp.d.sync += credit.eq(Cat(1, credit[:-1]))
        heads = [Signal(beat_layout, name=f"step_fifo{si}_head") for si in range(2)]
        m.d.comb += [heads[si].eq(fifos[si].r_data) for si in range(2)]
        m.d.comb += [step_in.valid.eq(Mux(out_cur, fifos[1].r_rdy, fifos[0].r_rdy)),
                     step_in.payload.eq(Mux(out_cur, heads[1].step, heads[0].step))]
        with comp.If(step_in.valid & step_in.ready &
                     Mux(out_cur, heads[1].rt_last, heads[0].rt_last)):
            comp.d.sync += out_cur.eq(~out_cur)
        # `cur`: the set whose row tile is the oldest not yet joined (the arbiter serves its
        # readers first); it moves on a cycle after that set's last step.
        with comp.If(Mux(cur, tile_done[1], tile_done[0])):
            comp.d.sync += cur.eq(~cur)
        # Feeding ends when every row tile has been armed and joined.
        with comp.If(feeding & ~arm_more & ~arm_q.any() & ~armed.any()):
            comp.d.sync += feeding.eq(0)
        # Engine job (all row tiles at once).
        c_ok = Signal()
        m.d.comb += [engine.job.valid.eq(c_ok & ~job_sent),
                     engine.job.payload.sparse.eq(sparse),
                     engine.job.payload.last.eq(g.gemv.flags.last),
                     engine.job.payload.row_tiles.eq(rts),
                     engine.job.payload.k_blocks.eq(nb)]
        with comp.If(engine.job.valid & engine.job.ready):
            comp.d.sync += job_sent.eq(1)
        # y writer: one y beat -> lanes*4/wb TCM words through the vec port.
        wpr = lanes * 4 // wb
        y_j = Signal(range(max(2, wpr)))
        y_rt = Signal(16)
        y_words = Array(engine.y.payload.as_value()[j * wb * 8:(j + 1) * wb * 8]
                        for j in range(wpr))
        lut_active = Signal()
        # Timing: the vec port's requests pass a register slice too, so the TCM's ready
        # does not reach the y writer, the GemvEngine's output handshake or the VLutEngine's
        # state (its `chunks` enable was on the small top's longest path). A write still in
        # the slice keeps the compute unit busy (comp_busy), so a later command sees it.
        comp.submodules.vreq_skid = vreq_skid = StreamSkid(tcm.vec_req.payload.shape())
        comp.submodules.vreq_tcm_fifo = vreq_tcm_fifo = TcmRequestFifo(cfg)
        wiring.connect(m, vreq_skid.o, vreq_tcm_fifo.i)
        wiring.connect(m, vreq_tcm_fifo.o, tcm.vec_req)
        vreq = vreq_skid.i
        # The VLutEngine makes requests only during its job (lut_active), so its ready need
        # not look at lut_active (timing: lut_active reached its FSM's enables through it).
        m.d.comb += vlut.tcm_req.ready.eq(vreq.ready)
        with m.If(lut_active):
            m.d.comb += [
                vreq.valid.eq(vlut.tcm_req.valid),
                vreq.payload.eq(vlut.tcm_req.payload),
            ]
        with m.Else():
            m.d.comb += [
                vreq.valid.eq(engine.y.valid),
                vreq.payload.write.eq(1),
                vreq.payload.addr.eq((g.gemv.y_addr >> wbb) + y_rt * wpr + y_j),
                vreq.payload.data.eq(y_words[y_j]),
            ]
        m.d.comb += [vlut.tcm_resp.valid.eq(tcm.vec_resp.valid),
                     vlut.tcm_resp.payload.eq(tcm.vec_resp.payload),
                     tcm.vec_resp.ready.eq(Mux(lut_active, vlut.tcm_resp.ready, 1))]
        y_last_word = y_j == wpr - 1
        # y is never valid during a LUT job: a LUT command is dispatched only while the compute
        # unit is free, and c_active (in comp_busy) holds until the engine's last y has left;
        # so y's ready does not look at lut_active (timing: from lut_active, through y's ready,
        # to every lane's accumulator was 11.1 ns at one seed).
        m.d.comb += engine.y.ready.eq(vreq.ready & y_last_word)
        # The y words' counters move on the y writer's own beats (the VLutEngine's requests
        # share vreq but leave them alone; timing: its state decode reached their enables).
        with comp.If(engine.y.valid & vreq.ready & ~lut_active):
            comp.d.sync += y_j.eq(Mux(y_last_word, 0, y_j + 1))
            with comp.If(y_last_word):
                comp.d.sync += y_rt.eq(y_rt + 1)
        # Start / finish of a GEMV.
        c_checking = Signal()
        # c_checking comes when chk_fail holds this GEMV's checks: g is read from c_go, then
        # lines_q (1), panel_lines (1), w_span (MUL_LATENCY), w_end (1), chk_* (1) and
        # chk_fail (1); c_checking is 1 + len(c_wait) cycles after c_go.
        c_wait = Signal(4 + MUL_LATENCY)
        comp.d.sync += [c_wait.eq(c_wait << 1), c_checking.eq(c_wait[-1])]
        with comp.If(c_go):
            comp.d.sync += [c_active.eq(1), c_wait.eq(1), job_sent.eq(0), c_ok.eq(0),
                            y_rt.eq(0), y_j.eq(0), arm_rt.eq(0), armed.eq(0), cur.eq(0),
                            arm_more.eq(0), out_cur.eq(0)]
        # The checks' outcomes are free-running registers (one cycle after w_span), and so is
        # the first failing check's code and address (one more cycle), read by c_checking as
        # one error site: sums, compares and the checks' priority in the checking cycle fed
        # the error registers.
        misaligned = (g.gemv.w_addr[:lnb] != 0) | (g.gemv.x_addr[:lnb] != 0) | \
            (g.gemv.y_addr[:wbb] != 0)
        chk_len, chk_gemv = Signal(), Signal()
        chk_x, chk_w, chk_y = Signal(), Signal(), Signal()
        m.d.sync += [chk_len.eq((rts == 0) | (nb == 0) | misaligned),
                     chk_gemv.eq((rts > 1) & ~(g.gemv.flags.first & g.gemv.flags.last)),
                     chk_x.eq(x_end > tcm_bytes), chk_w.eq(w_end > tcm_bytes),
                     chk_y.eq(g.gemv.flags.last & (y_end > tcm_bytes))]
        chk_fail = Signal()
        chk_code = Signal(ErrorCode)
        chk_addr = Signal(64)
        m.d.sync += chk_fail.eq(chk_len | chk_gemv | chk_x | chk_w | chk_y)
        with m.If(chk_len):
            m.d.sync += [chk_code.eq(ErrorCode.BAD_LENGTH), chk_addr.eq(g_addr)]
        with m.Elif(chk_gemv):
            m.d.sync += [chk_code.eq(ErrorCode.BAD_GEMV), chk_addr.eq(g_addr)]
        with m.Else():
            m.d.sync += [chk_code.eq(ErrorCode.TCM_RANGE),
                         chk_addr.eq(Mux(chk_x, g.gemv.x_addr,
                                         Mux(chk_w, g.gemv.w_addr, g.gemv.y_addr)))]
        with comp.If(c_checking):
            comp.d.sync += c_checking.eq(0)
            with comp.If(chk_fail):
                report(comp, "compute", chk_code, chk_addr)
            with comp.Else():
                comp.d.sync += [feeding.eq(1), arm_base.eq(w_line), c_ok.eq(1),
                                pat_base.eq(w_line + pat_off), wsc_base.eq(w_line + wsc_off),
                                arm_more.eq(1)]     # rts >= 1 (checked)
        # LUT: one VLutEngine job per command.
        # Like a GEMV, a LUT command starts a cycle after its dispatch, from a register
        # (timing: the dispatcher's decision, behind the units' error flags, reached
        # lut_active's and lut_job_sent's enables; 8.3-8.5 ns at two seeds). l_go counts as
        # busy.
        l_start, l_go = Signal(), Signal()
        comp.d.sync += l_go.eq(l_start)
        lut_job_sent = Signal()
        with comp.If(l_go):
            comp.d.sync += [lut_active.eq(1), lut_job_sent.eq(0)]
        m.d.comb += [vlut.job.valid.eq(lut_active & ~lut_job_sent),
                     vlut.job.payload.src_addr.eq(g.lut.src_addr),
                     vlut.job.payload.dst_addr.eq(g.lut.dst_addr),
                     vlut.job.payload.table_addr.eq(g.lut.table_addr),
                     vlut.job.payload.count.eq(g.lut.count),
                     vlut.done.ready.eq(1)]
        with comp.If(vlut.job.valid & vlut.job.ready):
            comp.d.sync += lut_job_sent.eq(1)
        # Which range the VLutEngine's TCM_RANGE came from: free-running registers of g (it
        # is stable for the whole command; the sums fed the error mux in one cycle), the ends
        # and then their compares (a sum and a compare in one cycle, from g across the die,
        # was a long path too). The engine's own checks take more cycles than these two.
        lut_table_end, lut_src_end = Signal(33), Signal(33)
        lut_table_out, lut_src_out = Signal(), Signal()
        m.d.sync += [lut_table_end.eq(g.lut.table_addr + 32),
                     lut_src_end.eq(g.lut.src_addr + ((g.lut.count + 1) >> 1)),
                     lut_table_out.eq(lut_table_end > tcm_bytes),
                     lut_src_out.eq(lut_src_end > tcm_bytes)]
        # Timing: the VLutEngine's completion is registered before it ends the command and
        # picks the error site (its state decode fed the compute unit's error address mux).
        # lut_active stays set for that cycle, so nothing is dispatched before it is seen.
        lut_done, lut_err = Signal(), Signal(VLutError)
        comp.d.sync += [lut_done.eq(vlut.done.valid), lut_err.eq(vlut.done.payload)]
        with comp.If(lut_done):
            comp.d.sync += lut_active.eq(0)
            with comp.If(lut_err == VLutError.TCM_RANGE):
                with comp.If(lut_table_out):
                    report(comp, "compute", ErrorCode.TCM_RANGE, g.lut.table_addr)
                with comp.Elif(lut_src_out):
                    report(comp, "compute", ErrorCode.TCM_RANGE, g.lut.src_addr)
                with comp.Else():
                    report(comp, "compute", ErrorCode.TCM_RANGE, g.lut.dst_addr)
            with comp.Elif(lut_err != VLutError.NONE):
                report(comp, "compute", ErrorCode.BAD_LENGTH, g_addr)
        comp_busy = Signal()
        m.d.comb += comp_busy.eq(c_go | c_active | l_go | lut_active | vreq_skid.o.valid |
                              vreq_tcm_fifo.busy)
        with comp.If(c_active & ~c_wait.any() & ~c_checking & ~feeding & job_sent &
                     ~engine.busy & ~c_go):
            comp.d.sync += c_active.eq(0)
        # Invalid pattern: fault address as golden.compile.execute reports it.
        f = engine.fault
        # Registered in steps (multiply, then sums); the error is reported once they are done
        # (it is sticky and the engine takes no more steps, so f is stable).
        pat_fault = Signal(64)
        pf_rows = _mul_registered(m, f.row_tile, panel_lines, "pf_rows")
        pf_line = Signal(64)             # the fault's line (timing: three sums in one cycle)
        pf_err = Signal(MUL_LATENCY + 2)
        m.d.sync += [pf_line.eq(pf_rows + lines_q["val"]),
                     pat_fault.eq(g.gemv.w_addr + (pf_line << lnb) +
                                  ((f.step * lanes + f.lane) >> 1))]
        comp.d.sync += pf_err.eq(Cat(engine.error, pf_err[:-1]))
        with comp.If(pf_err[-1]):
            report(comp, "compute", ErrorCode.INVALID_PATTERN, pat_fault)

        # ---- dispatcher --------------------------------------------------------------------------
        # Timing: the FIFO's head word is taken into a dispatch register (h) with its checks
        # decoded, so no path runs from the FIFO's distributed RAM through the decode into
        # the DMA, the compute unit or the error logic.
        head = Signal(Command)
        m.d.comb += head.as_value().eq(cmd_fifo.r_data)
        h = Signal(Command, reset_less=True)        # read with h_valid: not reset
        h_valid = Signal()
        h_addr = Signal(64, reset_less=True)        # byte address of the command in h
        h_is = Signal(data.StructLayout({           # h's opcode, one flag per kind
            "dma": 1, "store": 1, "gemv": 1, "lut": 1, "sync": 1, "end": 1}))
        # h's own error (LOAD/STORE: length, alignment or dram_addr bad; unknown opcode),
        # its code and fault address decided when h is loaded, so that the dispatcher has
        # one error site for h (timing: the checks' priority sat behind the dispatch).
        h_bad = Signal()
        h_bad_code = Signal(ErrorCode, reset_less=True)
        h_bad_addr = Signal(64, reset_less=True)
        loaded = Signal(32)                         # words taken from the FIFO into h
        next_addr = Signal(64)                      # byte address of the FIFO's head word
        sync_mask = Signal(2)
        is_end = Signal()
        take = Signal()                             # h's command is dispatched this cycle
        load = Signal()                             # h takes the FIFO's head word
        # Timing: g follows the dispatch register h while the compute unit is free, rather
        # than loading in the dispatch cycle (its 192-bit load enable was the end of the
        # dispatch decision). A command dispatched in cycle t is h(t), which g holds from
        # t + 1 -- the first cycle the compute unit reads it -- until the unit is free again.
        with core.If(~comp_busy):
            core.d.sync += [g.eq(h), g_addr.eq(h_addr)]
        # The same for the DMA unit's command (dma_cmd holds it from the cycle after the
        # dispatch, when the descriptor is first offered, until the unit is free).
        with core.If(~dma_busy):
            core.d.sync += [dma_cmd.eq(h), dma_cmd_addr.eq(h_addr),
                            dma_dir.eq(Mux(h_is.store, DmaDir.TO_DRAM, DmaDir.TO_TCM))]
        start = csr.start
        # The drain ends a cycle after everything was seen idle in DRAIN (timing: the ten
        # readers' in-flight counts, across the die, reached the state register, the IRQ and
        # the compute unit's reset). In DRAIN nothing starts but the readers, whose first
        # request after a start is still in the compute unit's slices when its reset comes.
        drain_done, drain_idle = Signal(), Signal()
        core.d.sync += drain_idle.eq((state == _State.DRAIN) & ~dma_busy & ~dma_tcm_fifo.busy &
                                     ~f_busy & ~f_arvalid & all_idle)
        m.d.comb += drain_done.eq((state == _State.DRAIN) & drain_idle)
        # Timing: the compute unit's reset reaches thousands of flip-flops (lanes, readers),
        # so it leaves from a register, a cycle after the start or the drain; no command
        # reaches the compute unit that early (the command list is still being fetched).
        clear_next = csr.soft_reset | start | drain_done
        m.d.sync += [comp_clear.eq(clear_next), eng_clear.eq(clear_next),
                     vlut_clear.eq(clear_next)]
        # The command list's checks are free-running registers of cmd_base and cmd_count
        # (set by the start); CHECK waits a cycle for them (timing: 64-bit sums and compares
        # in front of the error mux).
        # All words of the list taken into h: a register (a 32-bit compare in front of the
        # error logic); a cycle late at worst, which only delays the list-ran-out error.
        all_loaded = Signal()
        core.d.sync += all_loaded.eq(loaded == cmd_count)
        check_wait = Signal(2)           # CHECK waits two cycles: the sum, then the compares
        list_empty, list_outside = Signal(), Signal()
        cmd_end = Signal(65)
        m.d.sync += cmd_end.eq(cmd_base + (cmd_count << 4))
        # Each compare (a 65-bit carry chain) ends in a register of its own (timing: the two
        # chains and their OR into one register, 8.9 ns at one seed).
        list_below, list_above = Signal(), Signal()
        m.d.sync += [list_empty.eq(cmd_count == 0), list_below.eq(cmd_base < win_lo),
                     list_above.eq(cmd_end > win_hi)]
        m.d.comb += list_outside.eq(list_below | list_above)
        # The list ran out (every word fetched and taken, none left in the FIFO), a cycle
        # late: once true in RUN it stays so until the run ends, and it is false in RUN's first
        # cycle (timing: the fetcher's and the FIFO's state, behind the state decode, reached
        # the dispatch error's registers, 10.2 ns on ECP5).
        list_out = Signal()
        core.d.sync += list_out.eq((state == _State.RUN) & ~cmd_fifo.r_rdy & f_sized &
                                   ~f_any_left & ~f_busy & all_loaded)
        # h refills only once it is empty, not in the cycle its command is taken: the refill
        # enable (h's 128 bits) then comes from flip-flops instead of the dispatch decision
        # (timing; one cycle per command, which the units' run times hide).
        m.d.comb += load.eq(cmd_fifo.r_rdy & (state != _State.IDLE) & ~h_valid)
        with core.If(take):
            core.d.sync += h_valid.eq(0)
        head_is_dma = (head.dma.op == Opcode.LOAD) | (head.dma.op == Opcode.STORE)
        head_unknown = ~head.dma.op.as_value().matches(*[op.value for op in Opcode])
        head_bad_len = (head.dma.length >> 24 != 0) | (head.dma.tcm_addr[:wbb] != 0)
        head_bad_dram = head.dma.dram_addr >> abits != 0
        with core.If(load):
            core.d.sync += [h.eq(head), h_valid.eq(1), h_addr.eq(next_addr),
                            h_is.dma.eq(head_is_dma),
                            h_is.store.eq(head.dma.op == Opcode.STORE),
                            h_is.gemv.eq(head.dma.op == Opcode.GEMV),
                            h_is.lut.eq(head.dma.op == Opcode.LUT),
                            h_is.sync.eq(head.dma.op == Opcode.SYNC),
                            h_is.end.eq(head.dma.op == Opcode.END),
                            h_bad.eq(head_unknown | head_is_dma & (head_bad_len | head_bad_dram)),
                            h_bad_code.eq(Mux(head_unknown, ErrorCode.UNKNOWN_OPCODE,
                                              Mux(head_bad_len, ErrorCode.BAD_LENGTH,
                                                  ErrorCode.DRAM_RANGE))),
                            h_bad_addr.eq(Mux(head_unknown | head_bad_len, next_addr,
                                              head.dma.dram_addr)),
                            loaded.eq(loaded + 1), next_addr.eq(next_addr + 16)]
        # Timing: SYNC / END wait on `waiting` registered (the units' busy flags, masked): in
        # WAIT no unit is given work and the fetcher is stopped (END), so busy flags only
        # fall and a cycle-old `waiting` can only be late, never early; wait_hold skips the
        # first WAIT cycle, whose registered `waiting` was computed before the mask was set.
        waiting_q, wait_hold = Signal(), Signal()
        core.d.sync += [waiting_q.eq((sync_mask[0] & (dma_busy | d_desc_valid |
                                                    dma_tcm_fifo.busy)) |
                                     (sync_mask[1] & comp_busy) |
                                     (is_end & (f_busy | f_arvalid))),
                        wait_hold.eq(0)]
        wait_done = Signal()
        m.d.comb += wait_done.eq((state == _State.WAIT) & ~wait_hold & ~waiting_q & ~err_pend)
        with core.Switch(state):
            with core.Case(_State.IDLE):
                core.d.sync += h_valid.eq(0)
                with core.If(start):
                    core.d.sync += [state.eq(_State.CHECK), running.eq(1), done.eq(0),
                                    err_code.eq(ErrorCode.NONE), err_addr.eq(0),
                                    cmd_base.eq(csr.cmd_base), cmd_count.eq(csr.cmd_count),
                                    loaded.eq(0), next_addr.eq(csr.cmd_base),
                                    f_err.eq(0), check_wait.eq(0b11)]
            with core.Case(_State.CHECK):
                with core.If(check_wait.any()):
                    core.d.sync += check_wait.eq(check_wait >> 1)
                with core.Elif(list_empty):
                    report(core, "dispatch", ErrorCode.BAD_LENGTH, cmd_base)
                with core.Elif(list_outside):
                    report(core, "dispatch", ErrorCode.DRAM_RANGE, cmd_base)
                with core.Else():
                    core.d.sync += [state.eq(_State.RUN), fetching.eq(1), f_next.eq(cmd_base),
                                    f_left.eq(cmd_count), f_sized_1.eq(0), f_sized.eq(0)]
            with core.Case(_State.RUN), core.If(~err_pend):
                with core.If(~h_valid & list_out):        # the list ran out before END
                    report(core, "dispatch", ErrorCode.BAD_LENGTH, cmd_base)
                with core.Elif(h_valid):
                    # h's opcode, decoded when h was loaded: one flag each (timing: the
                    # decision into the units' start registers is two LUT levels).
                    # A bad LOAD/STORE is reported once the DMA unit is free (its running
                    # command's errors come first), an unknown opcode at once.
                    with core.If(h_bad & ~(h_is.dma & dma_busy)):
                        report(core, "dispatch", h_bad_code, h_bad_addr)
                    with core.If(h_is.dma & ~dma_busy & ~h_bad):
                        core.d.comb += take.eq(1)
                        core.d.sync += [dma_busy.eq(1), d_desc_valid.eq(1)]
                    with core.If(h_is.gemv & ~comp_busy):
                        core.d.comb += [take.eq(1), c_start.eq(1)]
                    with core.If(h_is.lut & ~comp_busy):
                        core.d.comb += [take.eq(1), l_start.eq(1)]
                    with core.If(h_is.sync):
                        core.d.comb += take.eq(1)
                        core.d.sync += [state.eq(_State.WAIT), is_end.eq(0), wait_hold.eq(1),
                                        sync_mask.eq(Cat(h.sync.mask.dma,
                                                         h.sync.mask.compute))]
                    with core.If(h_is.end):
                        core.d.comb += take.eq(1)
                        # Nothing after END is fetched: the fetcher stops here.
                        core.d.sync += [state.eq(_State.WAIT), is_end.eq(1), wait_hold.eq(1),
                                        sync_mask.eq(0b11), fetching.eq(0)]
            with core.Case(_State.WAIT), core.If(wait_done):
                with core.If(is_end):
                    core.d.sync += [state.eq(_State.IDLE), running.eq(0), done.eq(1)]
                with core.Else():
                    core.d.sync += state.eq(_State.RUN)
            with core.Case(_State.DRAIN), core.If(drain_done):
                core.d.sync += [state.eq(_State.IDLE), running.eq(0), fetching.eq(0)]
        with core.If(first_err):
            core.d.sync += [state.eq(_State.DRAIN), fetching.eq(0), d_desc_valid.eq(0)]
            with core.If(~(dma.desc.valid & dma.desc.ready) & d_desc_valid):
                core.d.sync += dma_busy.eq(0)      # never issued: nothing to wait for
        # The fetcher's FIFO is emptied between runs.
        fifo_flush = Signal()
        m.d.comb += fifo_flush.eq((state == _State.IDLE) & cmd_fifo.r_rdy)
        m.d.comb += cmd_fifo.r_en.eq(load | fifo_flush)

        # Timing: each unit's sites meet in that unit's registers, and the units' registered
        # errors in a 4-way priority mux (one priority chain over all ~23 sites, behind the
        # sites' own compares, was the NPU's longest path).
        unit_errs = []
        for unit, sites in errs.items():
            pend = Signal(name=f"{unit}_err_pend")
            code_q = Signal(ErrorCode, name=f"{unit}_err_code")
            addr_q = Signal(64, name=f"{unit}_err_addr")
            core.d.sync += pend.eq(Cat(*[flag for flag, _, _ in sites]).any())
            for flag, code, addr in reversed(sites):
                with core.If(flag):
                    core.d.sync += [code_q.eq(code), addr_q.eq(addr)]
            unit_errs.append((pend, code_q, addr_q))
        m.d.comb += err_pend.eq(Cat(*[pend for pend, _, _ in unit_errs]).any())
        for pend, code_q, addr_q in reversed(unit_errs):
            with m.If(pend):
                m.d.comb += [pend_code.eq(code_q), pend_addr.eq(addr_q)]

        # ---- interrupt events and counters -----------------------------------------------------
        end_event = wait_done & is_end
        err_event = drain_done
        # Registered: the Csr sits apart from the dispatcher (IRQ_STATUS follows a cycle later).
        m.d.sync += csr.irq_set.eq(Cat(end_event, err_event))
        r_beat = bus.rvalid & bus.rready
        w_beat = bus.wvalid & bus.wready
        # The Tcm's per-cycle stall flags, registered once more (the cycle its counters
        # count them in): a 64-bit compare of its counters with their previous values did
        # this before, and tied the Tcm's arbitration flip-flops to the counters' placement.
        tcm_stall_q, tcm_stalled = Signal(), Signal()
        core.d.sync += [tcm_stall_q.eq(tcm.dma_stall | tcm.compute_stall),
                        tcm_stalled.eq(running & tcm_stall_q)]
        # Timing: the counters' increments come from all over the NPU, so they are registered
        # here and a counter lags its events by one cycle (a CSR read takes longer than that).
        c = Signal.like(csr.count)
        m.d.comb += csr.count.eq(c)
        m.d.sync += [
            c.cycles.eq(running),
            c.busy.eq(running & (dma_busy | comp_busy)),
            c.mac_active.eq(engine.mac_active),
            c.compute_busy.eq(running & comp_busy),
            c.stall_sync.eq(state == _State.WAIT),
            c.stall_operand.eq(engine.stall_operand),
            c.stall_tcm.eq(tcm_stalled),
            c.stall_axi.eq(dma_busy & ~r_beat & ~w_beat),
            c.stall_fetch.eq((state == _State.RUN) & ~h_valid),
            c.dram_rd_bytes.eq(Mux(r_beat, wb, 0)),
            c.dram_wr_bytes.eq(Mux(w_beat, wb, 0)),
        ]
        return m
