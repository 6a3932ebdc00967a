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
``starve_limit`` + 1 or more consecutive cycles: a stall is registered before it ages the
requester, and a win clears the urgency a cycle late) before the others, then by the fixed order
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
request order, ``read_latency`` cycles after the grant into a buffer of ``read_latency + 2``
entries that a read is granted only when it has room for (so each port still takes one read
per cycle), and out of it the cycle after. ``read_latency`` (timing on ECP5, where the banks'
block RAMs are spread over the chip):

* 1: the SRAM's read data goes through the bank-to-port multiplexers into the buffer in the
  cycle after the grant (block RAM clock-to-out + multiplexer: 79 MHz).
* 2: each bank's read data is registered straight after the SRAM; the arbitration still
  drives the SRAM address (86 MHz).
* 3: in addition each requester's grant, address and write data (and the posted
  write) are registered after the arbitration and the banks are accessed one cycle later,
  all alike, so their order and what each read sees are unchanged (121 MHz).
* 4 (default): in addition each bank's selected address, write data and enables are
  registered, so only flip-flops drive the block RAMs (129 MHz).
* 5: a second register on each bank's read data.
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .config import NpuConfig
from .skid import StreamSkid

__all__ = ["Tcm", "TcmRequestFifo", "tcm_addr_bits", "tcm_compute_request_layout",
           "tcm_request_layout"]

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
        A requester that lost a conflict in ``starve_limit`` + 1 consecutive cycles is urgent
        from the next cycle on until the cycle after it wins (default 8).
    read_latency : int
        Cycles from a read's grant (``ready`` high) to its word entering the response buffer,
        so ``resp.valid`` rises ``read_latency + 1`` cycles after the grant at the earliest:
        4 (default) registers each requester's access, each bank's access and the read
        data; 3 not the bank's access; 2 only the read data; 1 nothing; 5 as 4 with the
        read data registered twice.

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
        Cycles in which that requester was eligible but lost a bank conflict (wrapping;
        counted one cycle after the stall).
    dma_stall, compute_stall, vec_stall : Out(1)
        That requester was eligible but lost a bank conflict in the previous cycle (what
        the counters count; a flip-flop, for users that count elsewhere).

    Raises
    ------
    ValueError
        If ``starve_limit`` is not an int in 1..255, or ``read_latency`` not in 1..5.
    """

    def __init__(self, config: NpuConfig, *, starve_limit: int = 8, read_latency: int = 4):
        if type(starve_limit) is not int or not 1 <= starve_limit <= 255:
            self._MustUse__silence = True  # never elaborated: do not warn about it
            raise ValueError(f"starve_limit must be an int in 1..255, not {starve_limit!r}")
        if type(read_latency) is not int or read_latency not in (1, 2, 3, 4, 5):
            self._MustUse__silence = True
            raise ValueError(f"read_latency must be 1, 2, 3, 4 or 5, not {read_latency!r}")
        self._config = config
        self._starve_limit = starve_limit
        self._read_latency = read_latency
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
            "dma_stall": Out(1),
            "compute_stall": Out(1),
            "vec_stall": Out(1),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def starve_limit(self) -> int:
        return self._starve_limit

    @property
    def read_latency(self) -> int:
        return self._read_latency

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        nb = cfg.tcm_banks
        bank_bits = (nb - 1).bit_length()
        word = cfg.tcm_word_bits

        lat = self._read_latency
        rports, wports, rdata = [], [], []
        for b in range(nb):
            mem = Memory(shape=word, depth=cfg.tcm_bank_words, init=[])
            m.submodules[f"bank{b}"] = mem
            rports.append(mem.read_port())
            wports.append(mem.write_port())
            # Registers after the SRAM output (timing: the block RAM's ~5.7 ns clock-to-out
            # leaves no room for the bank-to-port multiplexer in the same cycle).
            q = rports[b].data
            for k in range({1: 0, 2: 1, 3: 1, 4: 1, 5: 2}[lat]):
                q_next = Signal(word, name=f"bank{b}_rdata{k}", reset_less=True)
                m.d.sync += q_next.eq(q)
                q = q_next
            rdata.append(q)

        reqs = [self.dma_req, self.compute_req, self.vec_req]
        resps = [self.dma_resp, self.compute_resp, self.vec_resp]
        stalls = [self.dma_stall_cycles, self.compute_stall_cycles, self.vec_stall_cycles]
        stall_flags = [self.dma_stall, self.compute_stall, self.vec_stall]
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

            fifo = SyncFIFO(width=resp_bits[i], depth=lat + 2)
            m.submodules[f"{name}_resp_fifo"] = fifo
            # Per read in flight, one stage per cycle of latency: valid, bank, wide.
            infl_v = [Signal(name=f"{name}_inflight{k}") for k in range(lat)]
            infl_b = [Signal(range(max(2, nb)), name=f"{name}_inflight_bank{k}")
                      for k in range(lat)]
            infl_w = [Signal(name=f"{name}_inflight_wide{k}") for k in range(lat)]
            infl, infl_bank, infl_wide = infl_v[-1], infl_b[-1], infl_w[-1]
            pop = Signal(name=f"{name}_pop")
            m.d.comb += [
                resps[i].valid.eq(fifo.r_rdy),
                resps[i].payload.eq(fifo.r_data),
                fifo.r_en.eq(resps[i].ready),
                pop.eq(fifo.r_rdy & fifo.r_en),
            ]
            # A read is granted only if its word has room when it arrives: ``occ`` counts the
            # reads granted and not yet popped, a register, so that neither the buffer's level
            # nor this cycle's pop feeds the arbitration (timing); one more entry than the
            # latency needs keeps one read per cycle.
            occ = Signal(range(lat + 3), name=f"{name}_occupancy")
            grant_read = Signal(name=f"{name}_grant_read")
            elig = Signal(name=f"{name}_eligible")
            m.d.comb += elig.eq(req.valid & (is_write | (occ < lat + 2)))
            m.d.sync += occ.eq(occ + grant_read - pop)

            # ``urg`` (age == starve_limit) is a register of its own (timing). Neither is
            # reset: ``lost`` is, and clears both a cycle later, before any request can be
            # granted (the request FIFOs are reset too); the core's reset reached them through
            # a LUT with ``lost`` into their set/reset (timing: 9.1 ns at one seed).
            age = Signal(range(self._starve_limit + 1), name=f"{name}_age", reset_less=True)
            urg = Signal(name=f"{name}_urgent", reset_less=True)

            banks.append(sel)
            rows.append(row)
            writes.append(is_write)
            eligible.append(elig)
            urgent.append(urg)
            grant.append(Signal(name=f"{name}_grant"))
            inflight.append(infl)
            inflight_bank.append(infl_bank)
            inflight_wide.append(infl_wide)

            # Read data reaches the port's multiplexer ``read_latency`` cycles after the grant.
            if name == "compute":
                line = Cat(*rdata)
                narrow = Mux(infl_bank == 0, rdata[0], 0)
                for b in range(1, nb):
                    narrow = Mux(infl_bank == b, rdata[b], narrow)
                m.d.comb += fifo.w_data.eq(Mux(infl_wide, line, narrow))
            else:
                sel_data = rdata[0]
                for b in range(1, nb):
                    sel_data = Mux(infl_bank == b, rdata[b], sel_data)
                m.d.comb += fifo.w_data.eq(sel_data)
            m.d.comb += fifo.w_en.eq(infl)
            m.d.comb += grant_read.eq(grant[i] & ~is_write)
            m.d.sync += [
                infl_v[0].eq(grant_read),
                infl_b[0].eq(bank),
                infl_w[0].eq(req.payload.wide if name == "compute" else 0),
            ]
            for k in range(1, lat):
                m.d.sync += [infl_v[k].eq(infl_v[k - 1]), infl_b[k].eq(infl_b[k - 1]),
                             infl_w[k].eq(infl_w[k - 1])]
            acc = Signal(name=f"{name}_accepted")
            accepted.append(acc)
            # ``lost`` is registered before it counts a stall and ages the requester, so that
            # the arbitration (eligible -> grant -> accepted) ends in one flip-flop rather than
            # in the age, urgency and stall-counter enables (timing: 121 MHz on ECP5). Urgency
            # therefore follows the losses one cycle late.
            lost = Signal(name=f"{name}_lost")
            m.d.sync += lost.eq(elig & ~acc)
            m.d.comb += stall_flags[i].eq(lost)
            with m.If(lost):
                m.d.sync += stalls[i].eq(stalls[i] + 1)
                with m.If(~urg):
                    m.d.sync += [age.eq(age + 1), urg.eq(age == self._starve_limit - 1)]
            with m.Else():
                m.d.sync += [age.eq(0), urg.eq(0)]

        # Posted DMA write: a DMA write that loses its bank is accepted anyway into this
        # one-entry buffer and written next cycle with absolute priority on its bank, so the
        # DMA (and with it the AXI R channel) does not stall behind a wide compute read.
        post_row = Signal(len(rows[0]), reset_less=True)
        post_data = Signal(word, reset_less=True)
        post_mask = Signal(nb)  # the bank of the posted write, a register (timing)
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
        # The posted write's row and data are taken every cycle (only post_mask says whether
        # they are a posted write; it is read in the next cycle alone): timing, ``post`` was
        # the load enable of the 64 data flip-flops, which sit by the DMA's side, and the
        # arbitration ran across the die to them.
        m.d.sync += [post_mask.eq(Mux(post, banks[0], 0)), post_row.eq(rows[0]),
                     post_data.eq(self.dma_req.payload.data)]
        for i in range(len(PORTS)):
            m.d.comb += [
                accepted[i].eq(grant[i] | post if PORTS[i] == "dma" else grant[i]),
                reqs[i].ready.eq(accepted[i]),
            ]

        # What each requester (and the posted write) does to the banks this cycle. With
        # read_latency >= 3 it is registered per requester -- before the per-bank selection --
        # and made one cycle later, every access alike, so their order (and what each read
        # sees) is kept (timing: the arbitration into the address pins of block RAMs spread
        # over the chip limited Fmax to 86 MHz on ECP5; registering the per-bank selection
        # instead left the arbitration routed across the chip, ~100 MHz).
        issue = []
        for i in range(len(PORTS)):
            is_read = Const(1, 1) if PORTS[i] == "compute" else ~writes[i]
            data_i = Const(0, word) if PORTS[i] == "compute" else reqs[i].payload.data
            issue.append({"sel": Mux(grant[i], banks[i], 0), "row": rows[i], "read": is_read,
                          "data": data_i})
        issue.append({"sel": post_mask, "row": post_row, "read": Const(0, 1), "data": post_data})
        if lat >= 3:
            registered = []
            for i, it in enumerate(issue):
                name = PORTS[i] if i < len(PORTS) else "post"
                # Only the bank selects are reset: the rest is data they qualify.
                q = {k: Signal(len(v), name=f"{name}_issue_{k}", reset_less=k != "sel")
                     for k, v in it.items() if not isinstance(v, Const)}
                m.d.sync += [q[k].eq(it[k]) for k in q]
                registered.append({**it, **q})
            issue = registered
        for b in range(nb):
            addr, wdata = Signal(len(rows[0]), name=f"bank{b}_addr"), Signal(word)
            ren, wen = Signal(name=f"bank{b}_ren"), Signal(name=f"bank{b}_wen")
            for it in issue:  # at most one of them selects the bank
                with m.If(it["sel"][b]):
                    m.d.comb += [addr.eq(it["row"]), wdata.eq(it["data"]), ren.eq(it["read"]),
                                 wen.eq(~it["read"])]
            if lat >= 4:
                # The bank's access is registered after its selection too, so that only a
                # flip-flop drives the block RAMs, which are spread over the chip (timing: the
                # selection plus that routing limited Fmax to 122 MHz on ECP5).
                q_addr = Signal.like(addr, name=f"bank{b}_addr_q", reset_less=True)
                q_wdata = Signal(word, reset_less=True)
                q_ren, q_wen = Signal(name=f"bank{b}_ren_q"), Signal(name=f"bank{b}_wen_q")
                m.d.sync += [q_addr.eq(addr), q_wdata.eq(wdata), q_ren.eq(ren), q_wen.eq(wen)]
                addr, wdata, ren, wen = q_addr, q_wdata, q_ren, q_wen
            # One address and the read enable on for writes too: the bank maps onto one block
            # RAM port (read-before-write), with no soft logic to hold the read data over a
            # write (nothing reads it then).
            m.d.comb += [
                rports[b].addr.eq(addr), rports[b].en.eq(ren | wen),
                wports[b].addr.eq(addr), wports[b].data.eq(wdata), wports[b].en.eq(wen),
            ]
        return m


def _ring_next(ptr, depth):
    """The pointer after ``ptr`` in a ring of ``depth`` entries."""
    return Mux(ptr == depth - 1, 0, ptr + 1)


class TcmRequestFifo(wiring.Component):
    """A small FIFO in front of a Tcm ``dma_req`` or ``vec_req`` port, built so that the Tcm's
    arbitration loop (head -> grant -> the next head) stays among a few flip-flops.

    The head's bank and ``write`` (what the arbitration reads) come out of a two-entry
    register slice (:class:`~hw.skid.StreamSkid`) that is refilled from the FIFO on its own
    registered ready, so the grant moves only that slice and one read pointer; the rest of
    the request (row, data), which the Tcm only takes into its registered issue, is read from
    distributed RAM at that pointer. The FIFO's write side counts free entries with the grant
    registered (a free entry shows a cycle late), so it never waits on the Tcm's arbitration
    either (timing: a distributed-RAM FIFO's head read and level, both on the arbitration's
    loop, were the NPU's longest paths on ECP5, 10.0-10.2 ns). A request can be granted two
    cycles after it is written (one more than a plain FIFO).

    Parameters
    ----------
    config : NpuConfig
        ``tcm_banks`` says which address bits are the bank.
    depth : int
        Entries (default 4).
    shape : shape-like, optional
        The requests' shape. Default ``tcm_request_layout(config)``, whose bank and ``write``
        pass the head slice; with any other shape only the valid does (the compute port's
        wide line reads, whose banks are all of them).

    Members
    -------
    i : In(stream.Signature(shape))
        Requests in.
    o : Out(stream.Signature(shape))
        Requests out, in order; ``o.valid`` (and the bank and ``write``) are flip-flops.
    busy : Out(1)
        The FIFO holds a request (a flip-flop; it falls a cycle after the last is taken).

    Raises
    ------
    ValueError
        If ``depth`` is not an int in 2..16.
    """

    def __init__(self, config: NpuConfig, *, depth: int = 4, shape=None):
        if type(depth) is not int or not 2 <= depth <= 16:
            self._MustUse__silence = True
            raise ValueError(f"depth must be an int in 2..16, not {depth!r}")
        self._config = config
        self._depth = depth
        self._tagged = shape is None
        layout = tcm_request_layout(config) if shape is None else shape
        super().__init__({"i": In(stream.Signature(layout)), "o": Out(stream.Signature(layout)),
                          "busy": Out(1)})

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def depth(self) -> int:
        return self._depth

    def elaborate(self, platform):
        m = Module()
        depth = self._depth
        bank_bits = (self._config.tcm_banks - 1).bit_length()
        if self._tagged:
            tag_layout = data.StructLayout({"bank": max(bank_bits, 1), "write": 1})
        else:
            # Only the valid passes: one constant bit (synthesis removes it), as a zero-width
            # payload becomes `[-1:0]` wires in the Verilog, which Verilator rejects.
            tag_layout = data.StructLayout({"none": 1})

        # The whole request in distributed RAM (and, with the default shape, its bank and write
        # in a second one written alike, read into the head slice).
        m.submodules.storage = storage = Memory(shape=self.i.payload.shape(), depth=depth,
                                                init=[])
        w_req, r_req = storage.write_port(), storage.read_port(domain="comb")
        produce = Signal(range(depth))      # next entry written
        tag_ptr = Signal(range(depth))      # next entry whose tag goes into the slice
        data_ptr = Signal(range(depth))     # the head: next entry granted
        used = Signal(range(depth + 1))     # written and not yet granted (a cycle late)
        unsent = Signal(range(depth + 1))   # written and not yet in the slice
        retire = Signal()                   # a request was granted in the previous cycle

        push = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(used != depth),
            w_req.addr.eq(produce), w_req.data.eq(self.i.payload), w_req.en.eq(push),
        ]
        with m.If(push):
            m.d.sync += produce.eq(_ring_next(produce, depth))

        m.submodules.head = head = StreamSkid(tag_layout)
        send = head.i.valid & head.i.ready
        m.d.comb += head.i.valid.eq(unsent != 0)
        if self._tagged:
            m.submodules.tags = tags = Memory(shape=tag_layout, depth=depth, init=[])
            w_tag, r_tag = tags.write_port(), tags.read_port(domain="comb")
            m.d.comb += [
                w_tag.addr.eq(produce), w_tag.en.eq(push),
                w_tag.data.bank.eq(self.i.payload.addr[:bank_bits] if bank_bits else 0),
                w_tag.data.write.eq(self.i.payload.write),
                r_tag.addr.eq(tag_ptr), head.i.payload.eq(r_tag.data),
            ]
        with m.If(send):
            m.d.sync += tag_ptr.eq(_ring_next(tag_ptr, depth))
        m.d.sync += unsent.eq(unsent + push - send)

        grant = self.o.valid & self.o.ready
        m.d.comb += [self.o.valid.eq(head.o.valid), head.o.ready.eq(self.o.ready),
                     r_req.addr.eq(data_ptr), self.o.payload.eq(r_req.data)]
        if self._tagged:
            m.d.comb += self.o.payload.write.eq(head.o.payload.write)
            if bank_bits:
                m.d.comb += self.o.payload.addr[:bank_bits].eq(head.o.payload.bank)
        with m.If(grant):
            m.d.sync += data_ptr.eq(_ring_next(data_ptr, depth))
        used_next = used + push - retire
        m.d.sync += [retire.eq(grant), used.eq(used_next), self.busy.eq(used_next != 0)]
        return m
