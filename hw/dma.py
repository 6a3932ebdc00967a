"""AXI4 DMA between DRAM and the TCM: 1-D and 2-D descriptors, 4 KiB-safe INCR bursts.

A descriptor moves ``rows`` rows of ``row_bytes`` bytes. Row ``r`` starts at DRAM byte address
``dram_addr + r * dram_stride`` and at TCM word address ``tcm_addr + r * tcm_stride``; a 1-D
transfer is ``rows = 1``. ``dir`` selects DRAM -> TCM (``TO_TCM``, AXI reads) or TCM -> DRAM
(``TO_DRAM``, AXI writes).

Alignment: the TCM word is the bus word, so ``dram_addr``, ``row_bytes`` and ``dram_stride``
must be multiples of the bus width in bytes (``config.bus_bytes``); TCM addresses and strides
are in words and always aligned. Every beat is a full-width beat (all write strobes set).

Checks before any transfer (the descriptor is answered with an error, no AXI access issued):
``rows == 0`` or ``row_bytes == 0`` -> ZERO_LENGTH; misaligned DRAM address, row length or
stride -> MISALIGNED; any TCM word outside the TCM -> TCM_RANGE; any DRAM byte outside
``window_base ..= window_limit`` (inclusive; beyond the address space counts as outside) ->
DRAM_WINDOW. They are checked in this order and the first failing one is reported.

Bursts: each row is cut into INCR bursts of at most ``config.dma_max_burst`` beats that end at
the row end or at a 4 KiB boundary, whichever comes first, so no burst crosses 4 KiB. All
bursts use AXI ID 0, so read data returns in order. Up to ``config.dma_max_outstanding``
bursts (read or write) are in flight.

Errors: an SLVERR or DECERR response stops the issue of new bursts; the DMA still takes every
outstanding read beat (without writing it to the TCM) or sends every write beat of the bursts
already issued and waits for their responses, then reports the first error with its address:
the DRAM address of the faulting read beat, or the start address of the faulting write burst.
The read beat that carried the error and every later one are not written to the TCM.
"""

from __future__ import annotations

from amaranth import Const, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .axi import Axi4Signature, Burst, Resp, axi_size
from .config import NpuConfig
from .skid import StreamSkid
from .tcm import tcm_request_layout

__all__ = ["Dma", "DmaDir", "DmaError", "dma_descriptor_layout", "dma_status_layout"]


class DmaDir(enum.Enum, shape=1):
    """Transfer direction."""

    TO_TCM = 0   #: DRAM -> TCM (AXI reads)
    TO_DRAM = 1  #: TCM -> DRAM (AXI writes)


class DmaError(enum.Enum, shape=3):
    """Completion status of a descriptor."""

    NONE = 0         #: completed
    SLVERR = 1       #: AXI slave error response
    DECERR = 2       #: AXI decode error response
    ZERO_LENGTH = 3  #: rows == 0 or row_bytes == 0
    MISALIGNED = 4   #: dram_addr, row_bytes or dram_stride not a multiple of the bus width
    TCM_RANGE = 5    #: a TCM word outside the TCM
    DRAM_WINDOW = 6  #: a DRAM byte outside window_base ..= window_limit


def dma_descriptor_layout(config: NpuConfig) -> data.StructLayout:
    """Descriptor: dir(1) dram_addr(A) tcm_addr(24) row_bytes(24) rows(16) dram_stride(A)
    tcm_stride(24), fields from bit 0 up, A = ``config.bus_addr_bits``."""
    a = config.bus_addr_bits
    return data.StructLayout({
        "dir": DmaDir,
        "dram_addr": a,
        "tcm_addr": 24,
        "row_bytes": 24,
        "rows": 16,
        "dram_stride": a,
        "tcm_stride": 24,
    })


def dma_status_layout(config: NpuConfig) -> data.StructLayout:
    """Completion: ``error`` (DmaError) and ``fault_addr`` (valid when error != NONE)."""
    return data.StructLayout({"error": DmaError, "fault_addr": config.bus_addr_bits})


class Dma(wiring.Component):
    """AXI4 master DMA between DRAM and the TCM's ``dma`` port.

    Parameters
    ----------
    config : NpuConfig
        ``bus_data_bits``, ``bus_addr_bits``, ``dma_max_burst``, ``dma_max_outstanding`` and the
        TCM size.

    Members
    -------
    desc : In(stream.Signature(dma_descriptor_layout(config)))
        Descriptors; accepted only when the DMA is idle (one at a time).
    done : Out(stream.Signature(dma_status_layout(config)))
        One completion per descriptor; the DMA takes the next descriptor after it is taken.
    axi : Out(Axi4Signature)
        AXI4 master (``bus_addr_bits`` / ``bus_data_bits``, ID width 4, always ID 0).
    tcm_req : Out(stream.Signature(tcm_request_layout(config)))
        To ``Tcm.dma_req``; driven by a two-entry register slice (``valid`` and payload are
        registers, ``ready`` only loads the slice).
    tcm_resp : In(stream.Signature(tcm_word_bits))
        From ``Tcm.dma_resp``.
    window_base, window_limit : In(bus_addr_bits)
        Allowed DRAM byte range, inclusive; by default (unconnected) the whole address space.
    busy : Out(1)
        A descriptor is being checked, transferred or reported.
    error, fault_addr : Out
        Status of the last completed descriptor (held until the next completion).
    rd_bytes, wr_bytes : Out(32)
        DRAM bytes read (R beats taken) and written (W beats sent), wrapping.
    busy_cycles : Out(32)
        Cycles with ``busy`` high, wrapping.
    """

    def __init__(self, config: NpuConfig):
        self._config = config
        a = config.bus_addr_bits
        super().__init__({
            "desc": In(stream.Signature(dma_descriptor_layout(config))),
            "done": Out(stream.Signature(dma_status_layout(config))),
            "axi": Out(Axi4Signature.from_config(config)),
            "tcm_req": Out(stream.Signature(tcm_request_layout(config))),
            "tcm_resp": In(stream.Signature(config.tcm_word_bits)),
            "window_base": In(a),
            "window_limit": In(a, init=(1 << a) - 1),
            "busy": Out(1),
            "error": Out(DmaError),
            "fault_addr": Out(a),
            "rd_bytes": Out(32),
            "wr_bytes": Out(32),
            "busy_cycles": Out(32),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        axi = self.axi
        nbytes = cfg.bus_bytes
        shift = axi_size(cfg.bus_data_bits)
        abits = cfg.bus_addr_bits
        total_words = cfg.tcm_banks * cfg.tcm_bank_words
        max_out = cfg.dma_max_outstanding

        # The descriptor, the range check's steps and the address walkers are loaded (IDLE,
        # CHECK .. LAST) before a job reads them, so they are not reset: after a reset they
        # hold what a finished job leaves, which the Dma already meets (timing: fewer loads on
        # the core's reset).
        d = Signal(dma_descriptor_layout(cfg), reset_less=True)
        row_words = Signal(24 - shift)
        m.d.comb += row_words.eq(d.row_bytes[shift:])
        is_write = d.dir == DmaDir.TO_DRAM

        err = Signal(DmaError)
        stop = Signal()  # an error response arrived: issue nothing more, write nothing more
        # Read only while err != NONE, and loaded with it: not reset, and not cleared as a
        # descriptor is taken (timing: the state decode and the error sites met in front of
        # its 64 inputs, 8.1-8.6 ns at three seeds).
        fault = Signal(abits, reset_less=True)
        tcm_last = Signal(24 + 16 + 2, reset_less=True)
        dram_last = Signal(abits + 16 + 2, reset_less=True)
        pp_dram = [Signal(32, name=f"pp_dram{k}", reset_less=True)
                   for k in range(-(-abits // 16))]
        pp_tcm = [Signal(32, name=f"pp_tcm{k}", reset_less=True) for k in range(2)]
        prod_dram = Signal(abits + 16, reset_less=True)
        prod_tcm = Signal(24 + 16, reset_less=True)
        # rows - 1 in two copies, one per product (DRAM, TCM), so that each drives only its
        # own multipliers and can sit next to them (timing: one copy fanning out to all four
        # MULT18X18D limited Fmax to 135 MHz). ``rm1_tcm`` is loaded every cycle, ``rm1`` in
        # CHECK: their different enables keep Yosys from merging them back into one.
        rm1 = Signal(16, reset_less=True)
        rm1_tcm = Signal(16, reset_less=True)
        m.d.sync += rm1_tcm.eq(d.rows - 1)
        # The strides' copies for the multipliers, loaded in CHECK, so that the descriptor
        # register's stride bits (also feeding the walkers' adders) do not drive them (timing).
        mul_dram_stride = Signal(abits, reset_less=True)
        mul_tcm_stride = Signal(24, reset_less=True)
        bad_zero, bad_align, bad_tcm, bad_window = Signal(), Signal(), Signal(), Signal()
        bad_any = Signal()
        fault_at_tcm = Signal()  # the first failing check is the TCM range: report tcm_addr

        # --- address walker (AR or AW): one burst per step --------------------------------
        a_addr = Signal(abits, reset_less=True)
        a_row_base = Signal(abits, reset_less=True)
        a_words_left = Signal(24, reset_less=True)
        a_rows_left = Signal(16, reset_less=True)
        a_done = Signal()
        # Registered "== 1" flags of the down-counters (row count, beats left in the row), so
        # that no wide compare sits between a handshake and the counters' enables (timing).
        a_last_row = Signal()   # a_rows_left == 1
        words_one = Signal()    # row_words == 1
        # The next burst's length is computed from the walker's registers in two registered
        # steps into ``blen`` (and ``row_end``: the burst ends the row) before it can be issued,
        # so the 4 KiB distance and the minimum never feed ``load``, the AR/AW register, the
        # walker and the burst-address FIFO in the same cycle (timing: that chain limited Fmax
        # to 77 MHz, and in one registered step to 123 MHz). ``blen_ok`` drops for the two
        # cycles after each issue, so bursts issue at most every third cycle; a burst of three
        # or more beats occupies the data channel at least that long.
        # cap = min(max_burst, words to the 4 KiB boundary) without a 12-bit subtract and
        # compare: with max_burst = 2**mb, the boundary is nearer only when the page offset's
        # bits above mb are all ones, and then it is 2**mb - (offset mod 2**mb) away.
        mb = (cfg.dma_max_burst - 1).bit_length()
        off = a_addr[shift:12]
        near = off[mb:].all() if mb < len(off) else Const(1, 1)
        cap = Signal(mb + 1)
        wl = Signal(mb + 1)  # a_words_left, valid when not wl_big
        wl_big = Signal()    # a_words_left > max_burst
        m.d.sync += [
            cap.eq(cfg.dma_max_burst - Mux(near, off[:mb], 0)),
            wl.eq(a_words_left[:mb + 1]),
            wl_big.eq((a_words_left[mb + 1:] != 0) | (a_words_left[mb] & (a_words_left[:mb] != 0))),
        ]
        blen = Signal(range(cfg.dma_max_burst + 1))
        row_end = Signal()
        blen_ok = Signal()
        load_d = Signal()
        fits = ~wl_big & (wl <= cap)
        m.d.sync += [row_end.eq(fits), blen.eq(Mux(fits, wl, cap))]

        outstanding = Signal(range(max_out + 1))
        ax_valid = Signal()
        ax_addr = Signal(abits)
        ax_len = Signal(8)
        # In RUN; and in RUN reading (TO_TCM) or writing (TO_DRAM): registers of their own
        # rather than decodes of the state (timing: they gate every handshake).
        running = Signal()
        rd_mode = Signal()
        wr_mode = Signal()
        load = Signal()    # a new burst enters the AR/AW register this cycle
        retire = Signal()  # a burst completes (rlast or B) this cycle
        ax_ready = Mux(is_write, axi.awready, axi.arready)
        m.d.comb += load.eq(running & ~a_done & blen_ok & ~stop &
                            (outstanding < max_out) & (~ax_valid | ax_ready))
        m.d.sync += [load_d.eq(load), blen_ok.eq(~load & ~load_d)]
        with m.If(load):
            m.d.sync += [ax_valid.eq(1), ax_addr.eq(a_addr), ax_len.eq(blen - 1),
                         a_addr.eq(a_addr + (blen << shift)),
                         a_words_left.eq(a_words_left - blen)]
            with m.If(row_end):
                with m.If(a_last_row):
                    m.d.sync += a_done.eq(1)
                with m.Else():
                    m.d.sync += [a_rows_left.eq(a_rows_left - 1), a_last_row.eq(a_rows_left == 2),
                                 a_row_base.eq(a_row_base + d.dram_stride),
                                 a_addr.eq(a_row_base + d.dram_stride),
                                 a_words_left.eq(row_words)]
        with m.Elif(ax_ready):
            m.d.sync += ax_valid.eq(0)
        m.d.sync += outstanding.eq(outstanding + load - retire)

        m.d.comb += [
            axi.arid.eq(0), axi.araddr.eq(ax_addr), axi.arlen.eq(ax_len),
            axi.arsize.eq(shift), axi.arburst.eq(Burst.INCR),
            axi.arvalid.eq(ax_valid & ~is_write),
            axi.awid.eq(0), axi.awaddr.eq(ax_addr), axi.awlen.eq(ax_len),
            axi.awsize.eq(shift), axi.awburst.eq(Burst.INCR),
            axi.awvalid.eq(ax_valid & is_write),
        ]

        # An error response sets ``stop`` in the cycle it arrives (no more bursts, no more TCM
        # writes) and is registered with its code and address into ``ev_*``; ``err`` and
        # ``fault`` take the first one a cycle later (timing: ``err`` gating the R channel and
        # the fault-address multiplexer in one cycle limited Fmax to 121 MHz).
        ev_valid = Signal()
        ev_code = Signal(DmaError)
        ev_addr = Signal(abits, reset_less=True)

        def record(code, addr):
            m.d.sync += [stop.eq(1), ev_valid.eq(1), ev_code.eq(code), ev_addr.eq(addr)]

        def resp_error(resp):
            return Mux(resp == Resp.DECERR, DmaError.DECERR, DmaError.SLVERR)

        m.d.sync += ev_valid.eq(0)  # record() overrides
        with m.If(ev_valid & (err == DmaError.NONE)):
            m.d.sync += [err.eq(ev_code), fault.eq(ev_addr)]

        # --- read data: R beats -> TCM writes, in order ------------------------------------
        r_tcm = Signal(24, reset_less=True)
        r_tcm_base = Signal(24, reset_less=True)
        r_dram = Signal(abits, reset_less=True)
        r_dram_base = Signal(abits, reset_less=True)
        r_left = Signal(24, reset_less=True)
        r_one = Signal()  # r_left == 1
        # TCM requests (R beats to write, reads for W beats) go through a register slice
        # (hw.skid.StreamSkid) into ``tcm_req``, so no combinational path runs from the AXI
        # R channel through the TCM's arbitration back into the R handshake and the counters
        # (timing, at the top level).
        m.submodules.tcm_skid = tcm_skid = StreamSkid(tcm_request_layout(cfg))
        wiring.connect(m, tcm_skid.o, wiring.flipped(self.tcm_req))
        sk_in_valid, sk_in, sk_in_ready = tcm_skid.i.valid, tcm_skid.i.payload, tcm_skid.i.ready

        r_ok = axi.rresp == Resp.OKAY
        write_beat = rd_mode & axi.rvalid & r_ok & ~stop
        m.d.comb += [
            axi.rready.eq(rd_mode & (~write_beat | sk_in_ready)),
        ]
        r_take = axi.rvalid & axi.rready
        with m.If(r_take):
            m.d.sync += [r_tcm.eq(r_tcm + 1), r_dram.eq(r_dram + nbytes), r_left.eq(r_left - 1),
                         r_one.eq(r_left == 2), self.rd_bytes.eq(self.rd_bytes + nbytes)]
            with m.If(r_one):
                m.d.sync += [r_tcm_base.eq(r_tcm_base + d.tcm_stride),
                             r_tcm.eq(r_tcm_base + d.tcm_stride),
                             r_dram_base.eq(r_dram_base + d.dram_stride),
                             r_dram.eq(r_dram_base + d.dram_stride),
                             r_left.eq(row_words), r_one.eq(words_one)]
            with m.If(~r_ok):
                record(resp_error(axi.rresp), r_dram)

        # --- write path: TCM reads (only for issued bursts) -> W beats; B responses --------
        credit = Signal(range(max_out * cfg.dma_max_burst + 1))  # beats of issued bursts
        t_tcm = Signal(24, reset_less=True)
        t_tcm_base = Signal(24, reset_less=True)
        t_left = Signal(24, reset_less=True)
        t_one = Signal()  # t_left == 1
        t_req = Signal()
        m.d.comb += t_req.eq(wr_mode & (credit != 0))
        t_take = t_req & sk_in_ready & ~write_beat
        m.d.sync += credit.eq(credit + Mux(load & is_write, blen, 0) - t_take)
        with m.If(t_take):
            m.d.sync += [t_tcm.eq(t_tcm + 1), t_left.eq(t_left - 1), t_one.eq(t_left == 2)]
            with m.If(t_one):
                m.d.sync += [t_tcm_base.eq(t_tcm_base + d.tcm_stride),
                             t_tcm.eq(t_tcm_base + d.tcm_stride), t_left.eq(row_words),
                             t_one.eq(words_one)]

        m.d.comb += [
            sk_in_valid.eq(write_beat | t_req),
            sk_in.write.eq(write_beat),
            sk_in.addr.eq(Mux(write_beat, r_tcm, t_tcm)),
            sk_in.data.eq(axi.rdata),
        ]

        w_dram = Signal(abits, reset_less=True)
        w_dram_base = Signal(abits, reset_less=True)
        w_left = Signal(24, reset_less=True)
        w_one = Signal()  # w_left == 1
        w_beat = Signal(range(max(2, cfg.dma_max_burst)))  # >= 1 bit
        w_last = Signal()
        # (w_dram + nbytes)[:12] == 0 without the adder: the beat ends a 4 KiB page.
        m.d.comb += w_last.eq(w_one | (w_dram[shift:12] == (1 << (12 - shift)) - 1) |
                              (w_beat == cfg.dma_max_burst - 1))
        m.d.comb += [
            axi.wvalid.eq(wr_mode & self.tcm_resp.valid),
            axi.wdata.eq(self.tcm_resp.payload),
            axi.wstrb.eq((1 << nbytes) - 1),
            axi.wlast.eq(w_last),
            self.tcm_resp.ready.eq(wr_mode & axi.wready),
        ]
        with m.If(axi.wvalid & axi.wready):
            m.d.sync += [w_dram.eq(w_dram + nbytes), w_left.eq(w_left - 1), w_one.eq(w_left == 2),
                         w_beat.eq(Mux(w_last, 0, w_beat + 1)),
                         self.wr_bytes.eq(self.wr_bytes + nbytes)]
            with m.If(w_one):
                m.d.sync += [w_dram_base.eq(w_dram_base + d.dram_stride),
                             w_dram.eq(w_dram_base + d.dram_stride), w_left.eq(row_words),
                             w_one.eq(words_one)]

        # Start addresses of the write bursts in flight, for the address of a B error.
        bq = SyncFIFO(width=abits, depth=max(2, max_out))  # depth 1 emits zero-width wires
        m.submodules.burst_addrs = bq
        m.d.comb += [bq.w_en.eq(load & is_write), bq.w_data.eq(a_addr)]
        m.d.comb += axi.bready.eq(1)
        b_take = axi.bvalid & axi.bready
        m.d.comb += bq.r_en.eq(b_take & wr_mode)
        with m.If(b_take & wr_mode & (axi.bresp != Resp.OKAY)):
            record(resp_error(axi.bresp), bq.r_data)

        m.d.comb += retire.eq(Mux(is_write, b_take & wr_mode, r_take & axi.rlast))

        # --- control ------------------------------------------------------------------------
        m.d.comb += self.done.payload.error.eq(err)
        m.d.comb += self.done.payload.fault_addr.eq(fault)
        with m.If(self.busy):
            m.d.sync += self.busy_cycles.eq(self.busy_cycles + 1)

        mask = nbytes - 1
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.desc.ready.eq(1)
                with m.If(self.desc.valid):
                    m.d.sync += [d.eq(self.desc.payload), err.eq(DmaError.NONE), stop.eq(0)]
                    m.next = "CHECK"
            # The range check takes five registered steps (timing: a 16 x A-bit multiply and a
            # long add in one cycle limited Fmax to ~63 MHz, the wide compares in the error
            # priority chain to 98 MHz, rows - 1 into the multipliers to 107 MHz): CHECK
            # rows - 1, MUL 16 x 16-bit partial products, SUM them, LAST add the bases, CMP
            # compare; DECIDE acts on the flags. The walkers are loaded in CHECK (they only
            # move in RUN), so that the first burst's length is ready when RUN starts.
            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [mul_dram_stride.eq(d.dram_stride), mul_tcm_stride.eq(d.tcm_stride)]
                m.d.sync += [rm1.eq(d.rows - 1), words_one.eq(row_words == 1),
                             a_last_row.eq(d.rows == 1)]
                m.d.sync += [
                    a_addr.eq(d.dram_addr), a_row_base.eq(d.dram_addr),
                    a_words_left.eq(row_words), a_rows_left.eq(d.rows), a_done.eq(0),
                    r_tcm.eq(d.tcm_addr), r_tcm_base.eq(d.tcm_addr),
                    r_dram.eq(d.dram_addr), r_dram_base.eq(d.dram_addr), r_left.eq(row_words),
                    t_tcm.eq(d.tcm_addr), t_tcm_base.eq(d.tcm_addr), t_left.eq(row_words),
                    w_dram.eq(d.dram_addr), w_dram_base.eq(d.dram_addr), w_left.eq(row_words),
                    w_beat.eq(0),
                ]
                m.next = "MUL"
            with m.State("MUL"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [r_one.eq(words_one), t_one.eq(words_one), w_one.eq(words_one)]
                m.d.sync += [pp.eq(rm1 * mul_dram_stride[16 * k:16 * k + 16])
                             for k, pp in enumerate(pp_dram)]
                m.d.sync += [pp.eq(rm1_tcm * mul_tcm_stride[16 * k:16 * k + 16])
                             for k, pp in enumerate(pp_tcm)]
                m.next = "SUM"
            with m.State("SUM"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    prod_dram.eq(sum(pp << (16 * k) for k, pp in enumerate(pp_dram))),
                    prod_tcm.eq(sum(pp << (16 * k) for k, pp in enumerate(pp_tcm))),
                ]
                m.next = "LAST"
            with m.State("LAST"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    tcm_last.eq(d.tcm_addr + prod_tcm + row_words - 1),
                    dram_last.eq(d.dram_addr + prod_dram + d.row_bytes - 1),
                ]
                m.next = "CMP"
            with m.State("CMP"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [
                    bad_zero.eq((d.rows == 0) | (d.row_bytes == 0)),
                    bad_align.eq(((d.dram_addr & mask) != 0) | ((d.row_bytes & mask) != 0) |
                                 ((d.dram_stride & mask) != 0)),
                    bad_tcm.eq(tcm_last >= total_words),
                    bad_window.eq((d.dram_addr < self.window_base) |
                                  (dram_last > self.window_limit)),
                ]
                m.next = "DECIDE"
            with m.State("DECIDE"):
                m.d.comb += self.busy.eq(1)
                # The failing check's address, chosen from flip-flops before its load.
                m.d.comb += [bad_any.eq(bad_zero | bad_align | bad_tcm | bad_window),
                             fault_at_tcm.eq(~bad_zero & ~bad_align & bad_tcm)]
                with m.If(bad_any):
                    m.d.sync += fault.eq(Mux(fault_at_tcm, d.tcm_addr, d.dram_addr))
                    m.next = "DONE"
                with m.If(bad_zero):
                    m.d.sync += err.eq(DmaError.ZERO_LENGTH)
                with m.Elif(bad_align):
                    m.d.sync += err.eq(DmaError.MISALIGNED)
                with m.Elif(bad_tcm):
                    m.d.sync += err.eq(DmaError.TCM_RANGE)
                with m.Elif(bad_window):
                    m.d.sync += err.eq(DmaError.DRAM_WINDOW)
                with m.Else():
                    m.d.sync += [running.eq(1), rd_mode.eq(~is_write), wr_mode.eq(is_write)]
                    m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += self.busy.eq(1)
                # The last TCM writes may still sit in the register slice.
                finished = ((a_done | stop) & (outstanding == 0) & ~load & ~ev_valid &
                            ~tcm_skid.o.valid)
                with m.If(finished):
                    m.d.sync += [running.eq(0), rd_mode.eq(0), wr_mode.eq(0)]
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.valid.eq(1)]
                with m.If(self.done.ready):
                    m.d.sync += [self.error.eq(err), self.fault_addr.eq(fault)]
                    m.next = "IDLE"
        return m
