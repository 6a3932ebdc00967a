"""Tightly coupled memory: word-interleaved single-port SRAM banks shared by three requesters.

Organisation
------------
``config.tcm_banks`` (N) banks of ``config.tcm_bank_words`` words of ``config.tcm_word_bits``
bits. Word address ``a`` lives in bank ``a % N``, row ``a // N``, so N consecutive words (an
aligned *line*) sit one per bank. Each bank does at most one access (read or write) per cycle,
as a single-port SRAM would.

Requesters (fixed priority order, highest first)
------------------------------------------------
0. ``dma``: read/write, one word per cycle.
1. ``compute``: read only; narrow (one word) or wide (one aligned line of N words, one per
   bank, in one cycle; the low log2(N) address bits are ignored).
2. ``vec``: read/write, one word per cycle (vector unit).

Arbitration: every cycle each requester that is *eligible* (request valid, and for a read,
room in its response buffer) is ranked: *urgent* requesters (stalled by conflicts for
``starve_limit`` or more consecutive cycles) before the others, then by the fixed order
above. A requester is granted when no higher-ranked eligible requester wants any of its
banks. The DMA comes first because a streaming GEMV is bound by DRAM bandwidth; the aging
rule bounds every requester's wait (an urgent requester loses only to another urgent one of
higher fixed priority, and the winner's age restarts), so nothing starves. A wide compute
read reserves all banks against lower-ranked requesters, so narrow traffic cannot keep
cutting in front of it.

Posted DMA writes: a DMA *write* ranks last, and when it loses its bank it is accepted
anyway into a one-entry post buffer and written in the next cycle with absolute priority on
its bank (nothing else touches that bank in that cycle, so a later read of the address sees
the new word). DMA writes therefore never stall the AXI read stream behind wide compute reads:
a DMA write stream plus a wide-read stream run at 1 + N/2 words per cycle. Posting is refused
while another requester is urgent (then the DMA write waits like any other), so a stream of
posted writes cannot starve anyone. A posted write lands after any write that another port
made to the same address in the same cycle.

A conflict stalls the loser (its ``ready`` stays low); nothing is dropped, duplicated or
reordered: each port's requests are served in order and its read responses come back in
request order, one cycle after the grant at the earliest, through a two-entry buffer that a
read is granted only when it has room for.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import NpuConfig

__all__ = ["Tcm", "tcm_addr_bits", "tcm_compute_request_layout", "tcm_request_layout"]

PORTS = ("dma", "compute", "vec")


def tcm_addr_bits(config: NpuConfig) -> int:
    """Width of a TCM word address: log2(tcm_banks * tcm_bank_words)."""
    return (config.tcm_banks * config.tcm_bank_words - 1).bit_length()


def tcm_request_layout(config: NpuConfig) -> data.StructLayout:
    """Payload of the ``dma_req`` and ``vec_req`` streams: ``addr`` (word), ``write``, ``data``.

    ``data`` is ignored for reads; a read answers one ``tcm_word_bits`` word on ``*_resp``.
    """
    return data.StructLayout({
        "addr": tcm_addr_bits(config),
        "write": 1,
        "data": config.tcm_word_bits,
    })


def tcm_compute_request_layout(config: NpuConfig) -> data.StructLayout:
    """Payload of ``compute_req``: ``addr`` (word) and ``wide`` (read the whole aligned line)."""
    return data.StructLayout({"addr": tcm_addr_bits(config), "wide": 1})


class Tcm(wiring.Component):
    """Banked TCM with a DMA, a compute (narrow or wide) and a vector-unit port.

    Parameters
    ----------
    config : NpuConfig
        ``tcm_banks``, ``tcm_bank_words`` and ``tcm_word_bits`` size the memory.
    starve_limit : int
        Consecutive conflict-stall cycles after which a requester becomes urgent (default 8).

    Members
    -------
    dma_req : In(stream.Signature(tcm_request_layout(config)))
        DMA reads and writes, one word per handshake.
    dma_resp : Out(stream.Signature(tcm_word_bits))
        Read data of ``dma_req`` reads, in order.
    compute_req : In(stream.Signature(tcm_compute_request_layout(config)))
        Compute reads; ``wide`` reads the line ``addr // N``.
    compute_resp : Out(stream.Signature(data.ArrayLayout(tcm_word_bits, tcm_banks)))
        Compute read data in order: element i is word ``line * N + i`` for a wide read;
        element 0 is the word for a narrow read (other elements are unspecified).
    vec_req, vec_resp :
        Vector unit port, same layouts as ``dma_req``/``dma_resp``.
    dma_stall_cycles, compute_stall_cycles, vec_stall_cycles : Out(32)
        Cycles in which that requester was eligible but lost a bank conflict (wrapping).

    Raises
    ------
    ValueError
        If ``starve_limit`` is not an int in 1..255.
    """

    def __init__(self, config: NpuConfig, *, starve_limit: int = 8):
        if type(starve_limit) is not int or not 1 <= starve_limit <= 255:
            self._MustUse__silence = True  # never elaborated: do not warn about it
            raise ValueError(f"starve_limit must be an int in 1..255, not {starve_limit!r}")
        self._config = config
        self._starve_limit = starve_limit
        word = config.tcm_word_bits
        super().__init__({
            "dma_req": In(stream.Signature(tcm_request_layout(config))),
            "dma_resp": Out(stream.Signature(word)),
            "compute_req": In(stream.Signature(tcm_compute_request_layout(config))),
            "compute_resp": Out(stream.Signature(data.ArrayLayout(word, config.tcm_banks))),
            "vec_req": In(stream.Signature(tcm_request_layout(config))),
            "vec_resp": Out(stream.Signature(word)),
            "dma_stall_cycles": Out(32),
            "compute_stall_cycles": Out(32),
            "vec_stall_cycles": Out(32),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def starve_limit(self) -> int:
        return self._starve_limit

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        nb = cfg.tcm_banks
        bank_bits = (nb - 1).bit_length()
        word = cfg.tcm_word_bits

        rports, wports = [], []
        for b in range(nb):
            mem = Memory(shape=word, depth=cfg.tcm_bank_words, init=[])
            m.submodules[f"bank{b}"] = mem
            rports.append(mem.read_port())
            wports.append(mem.write_port())

        reqs = [self.dma_req, self.compute_req, self.vec_req]
        resps = [self.dma_resp, self.compute_resp, self.vec_resp]
        stalls = [self.dma_stall_cycles, self.compute_stall_cycles, self.vec_stall_cycles]
        resp_bits = [word, word * nb, word]

        banks, rows, writes, eligible, urgent, grant, accepted = [], [], [], [], [], [], []
        inflight, inflight_bank, inflight_wide = [], [], []
        for i, name in enumerate(PORTS):
            req = reqs[i]
            bank = req.payload.addr[:bank_bits] if bank_bits else Const(0, 1)
            row = req.payload.addr[bank_bits:]
            sel = Signal(nb, name=f"{name}_banks")
            if name == "compute":
                m.d.comb += sel.eq(Mux(req.payload.wide, (1 << nb) - 1, 1 << bank))
                is_write = Const(0, 1)
            else:
                m.d.comb += sel.eq(1 << bank)
                is_write = req.payload.write

            fifo = SyncFIFO(width=resp_bits[i], depth=2)
            m.submodules[f"{name}_resp_fifo"] = fifo
            infl = Signal(name=f"{name}_inflight")
            infl_bank = Signal(range(max(2, nb)), name=f"{name}_inflight_bank")
            infl_wide = Signal(name=f"{name}_inflight_wide")
            pop = Signal(name=f"{name}_pop")
            m.d.comb += [
                resps[i].valid.eq(fifo.r_rdy),
                resps[i].payload.eq(fifo.r_data),
                fifo.r_en.eq(resps[i].ready),
                pop.eq(fifo.r_rdy & fifo.r_en),
            ]
            # A read is granted only if its word has room when it arrives next cycle.
            room = fifo.level + infl < 2 + pop
            elig = Signal(name=f"{name}_eligible")
            m.d.comb += elig.eq(req.valid & (is_write | room))

            age = Signal(range(self._starve_limit + 1), name=f"{name}_age")
            urg = Signal(name=f"{name}_urgent")
            m.d.comb += urg.eq(age == self._starve_limit)

            banks.append(sel)
            rows.append(row)
            writes.append(is_write)
            eligible.append(elig)
            urgent.append(urg)
            grant.append(Signal(name=f"{name}_grant"))
            inflight.append(infl)
            inflight_bank.append(infl_bank)
            inflight_wide.append(infl_wide)

            # Read data comes out of the bank one cycle after the grant.
            if name == "compute":
                line = Cat(*(rp.data for rp in rports))
                narrow = Mux(infl_bank == 0, rports[0].data, 0)
                for b in range(1, nb):
                    narrow = Mux(infl_bank == b, rports[b].data, narrow)
                m.d.comb += fifo.w_data.eq(Mux(infl_wide, line, narrow))
            else:
                sel_data = rports[0].data
                for b in range(1, nb):
                    sel_data = Mux(infl_bank == b, rports[b].data, sel_data)
                m.d.comb += fifo.w_data.eq(sel_data)
            m.d.comb += fifo.w_en.eq(infl)
            m.d.sync += [
                infl.eq(grant[i] & ~is_write),
                infl_bank.eq(bank),
                infl_wide.eq(req.payload.wide if name == "compute" else 0),
            ]
            acc = Signal(name=f"{name}_accepted")
            accepted.append(acc)
            lost = elig & ~acc
            with m.If(lost):
                m.d.sync += stalls[i].eq(stalls[i] + 1)
                with m.If(~urg):
                    m.d.sync += age.eq(age + 1)
            with m.Else():
                m.d.sync += age.eq(0)

        # Posted DMA write: a DMA write that loses its bank is accepted anyway into this
        # one-entry buffer and written next cycle with absolute priority on its bank, so the
        # DMA (and with it the AXI R channel) does not stall behind a wide compute read.
        post_valid = Signal()
        post_bank = Signal(range(max(2, nb)))  # >= 1 bit: no zero-width wires
        post_row = Signal(len(rows[0]))
        post_data = Signal(word)
        post_mask = Signal(nb)
        m.d.comb += post_mask.eq(Mux(post_valid, 1 << post_bank, 0))
        dma_write = Signal()
        m.d.comb += dma_write.eq(self.dma_req.valid & self.dma_req.payload.write)

        # A requester that the posted write blocks this cycle reserves no bank either, so the
        # next DMA write can go straight in and the posted buffer empties.
        live = [eligible[j] & ~(banks[j] & post_mask).any() for j in range(len(PORTS))]
        for i in range(len(PORTS)):
            blocked = (banks[i] & post_mask).any()
            for j in range(len(PORTS)):
                if j == i:
                    continue
                # j outranks i: urgent first, then fixed order; a DMA write ranks last, since
                # losing costs it nothing (it is posted).
                if j < i:
                    beats = urgent[j] | ~urgent[i]
                else:
                    beats = urgent[j] & ~urgent[i]
                if PORTS[j] == "dma":
                    beats = beats & ~dma_write
                if PORTS[i] == "dma":
                    beats = beats | dma_write
                blocked = blocked | (live[j] & beats & (banks[j] & banks[i]).any())
            m.d.comb += grant[i].eq(eligible[i] & ~blocked)

        # Posting is refused while another requester is urgent, so that a stream of DMA
        # writes to one bank cannot starve it.
        others_urgent = Const(0, 1)
        for j in range(1, len(PORTS)):
            others_urgent = others_urgent | (eligible[j] & urgent[j])
        post = Signal()
        m.d.comb += post.eq(dma_write & ~grant[0] & ~others_urgent)
        m.d.sync += post_valid.eq(post)
        with m.If(post):
            m.d.sync += [
                post_bank.eq(self.dma_req.payload.addr[:bank_bits] if bank_bits else 0),
                post_row.eq(rows[0]),
                post_data.eq(self.dma_req.payload.data),
            ]
        for i in range(len(PORTS)):
            m.d.comb += [
                accepted[i].eq(grant[i] | post if PORTS[i] == "dma" else grant[i]),
                reqs[i].ready.eq(accepted[i]),
            ]

        for b in range(nb):
            rp, wp = rports[b], wports[b]
            m.d.comb += rp.en.eq(0)
            for i in range(len(PORTS)):
                with m.If(grant[i] & banks[i][b]):
                    m.d.comb += [rp.addr.eq(rows[i]), wp.addr.eq(rows[i])]
                    if PORTS[i] != "compute":
                        m.d.comb += [
                            wp.data.eq(reqs[i].payload.data),
                            wp.en.eq(writes[i]),
                            rp.en.eq(~writes[i]),
                        ]
                    else:
                        m.d.comb += rp.en.eq(1)
            with m.If(post_mask[b]):
                m.d.comb += [wp.addr.eq(post_row), wp.data.eq(post_data), wp.en.eq(1)]
        return m
