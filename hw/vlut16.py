"""vlut16: a programmable 16-entry x 16-bit table looked up by N 4-bit indices per cycle.

Uses (tables built by golden/kernels): INT4/E2M1/NF4 -> FP16 dequant with the group scale
(and zero point) baked into the table (``golden.kernels.dequant.lut16_tables``,
``golden.kernels.tman.level2_tables``); scale broadcast (all lanes index the same entry);
T-MAN's bit-serial -> bit-parallel repack (``golden.kernels.tman.LEVEL1``: the 4 bits of one
bit plane index a table that spreads them over 4 nibble positions; OR the lookups of the
planes).

:class:`VLutEngine` runs a whole LUT job (``hw.commands.LutCmd`` fields) over a TCM vector
through a VLut16 on one TCM port; see docs/memory.md.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Mux, Signal
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import NpuConfig

__all__ = ["VLut16", "VLutEngine", "VLutError", "vlut_job_layout", "vlut_write_layout"]

#: Payload of the table write port: entry ``index`` becomes ``value``.
vlut_write_layout = data.StructLayout({"index": 4, "value": 16})


class VLut16(wiring.Component):
    """N-lane 16-entry lookup unit, one vector per cycle, two register stages.

    The table is 16 registers (every lane reads every entry each cycle, which a RAM with one
    read port could not serve). A vector accepted on ``i`` in cycle t appears on ``o`` in
    cycle t + 2 (:attr:`latency`) and stays there until taken; ``i.ready`` is high whenever
    ``o`` is empty or being taken, so a vector per cycle flows without back-pressure.

    A table write and a lookup accepted in the same cycle: the lookup sees the old entry.

    Parameters
    ----------
    config : NpuConfig
        ``vlut_lanes`` (N) sets the lanes.
    init : sequence of int, optional
        The 16 table entries at power-up (default all zero); a reset leaves the table as
        it is.

    Members
    -------
    table_wr : In(stream.Signature(vlut_write_layout))
        Table writes (``index``, ``value``); always ready.
    i : In(stream.Signature(data.ArrayLayout(4, N)))
        Index vectors.
    o : Out(stream.Signature(data.ArrayLayout(16, N)))
        ``o.payload[k] = table[i.payload[k]]``.

    Raises
    ------
    ValueError
        If ``init`` does not hold 16 integers in 0..65535.
    """

    #: Cycles from a vector taken on ``i`` to its results on ``o``.
    latency = 2

    def __init__(self, config: NpuConfig, *, init=None):
        if init is None:
            init = [0] * 16
        init = list(init)
        if len(init) != 16 or not all(type(v) is int and 0 <= v < 1 << 16 for v in init):
            self._MustUse__silence = True  # never elaborated: do not warn about it
            raise ValueError(f"init must be 16 integers in 0..65535, not {init!r}")
        self._config = config
        self._init = init
        n = config.vlut_lanes
        super().__init__({
            "table_wr": In(stream.Signature(vlut_write_layout)),
            "i": In(stream.Signature(data.ArrayLayout(4, n))),
            "o": Out(stream.Signature(data.ArrayLayout(16, n))),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def lanes(self) -> int:
        return self._config.vlut_lanes

    def elaborate(self, platform):
        m = Module()
        # The table and the pipeline hold data only and are not reset (the valid bits are):
        # `init` is the table at power-up, and a reset leaves the entries as they are (fewer
        # loads on the VLutEngine's reset; timing).
        table = Array(Signal(16, name=f"entry{e}", init=self._init[e], reset_less=True)
                      for e in range(16))
        m.d.comb += self.table_wr.ready.eq(1)
        with m.If(self.table_wr.valid):
            m.d.sync += table[self.table_wr.payload.index].eq(self.table_wr.payload.value)

        # Two register stages: index bits 1..0 pick one entry of each group of four, then
        # bits 3..2 pick the group. One 16:1 mux per result bit in one cycle was the
        # VLutEngine's longest path (four LUT levels with the index fan-out, 9.5 ns on -6).
        # The whole pipeline moves when o is empty or taken; the registers load whether or
        # not their vector is valid, so no valid gates the enables of the N x 16 bits.
        n = self.lanes
        groups = [Array(table[4 * gi + j] for j in range(4)) for gi in range(4)]
        s1 = [[Signal(16, name=f"s1_{k}_{gi}", reset_less=True) for gi in range(4)]
              for k in range(n)]
        s1_hi = [Signal(2, name=f"s1_hi_{k}", reset_less=True) for k in range(n)]
        o_payload = Signal.like(self.o.payload, reset_less=True)
        m.d.comb += self.o.payload.eq(o_payload)
        s1_valid = Signal()
        advance = Signal()
        m.d.comb += [advance.eq(~self.o.valid | self.o.ready), self.i.ready.eq(advance)]
        with m.If(advance):
            m.d.sync += [s1_valid.eq(self.i.valid), self.o.valid.eq(s1_valid)]
            for k in range(n):
                idx = self.i.payload[k]
                m.d.sync += [s1_hi[k].eq(idx[2:]),
                             o_payload[k].eq(Array(s1[k])[s1_hi[k]])]
                m.d.sync += [s1[k][gi].eq(groups[gi][idx[:2]]) for gi in range(4)]
        return m


class VLutError(enum.Enum, shape=2):
    """Completion status of a :class:`VLutEngine` job."""

    NONE = 0
    ZERO_LENGTH = 1  #: count == 0
    MISALIGNED = 2   #: an address not a multiple of the word bytes, or count not a multiple
                     #: of the chunk (max(vlut_lanes, indices per word))
    TCM_RANGE = 3    #: the table, the indices or the results reach past the TCM


def vlut_job_layout() -> data.StructLayout:
    """A LUT job, the fields of ``hw.commands.LutCmd``: TCM *byte* addresses and a count."""
    return data.StructLayout({"src_addr": 24, "dst_addr": 24, "table_addr": 24, "count": 24})


class VLutEngine(wiring.Component):
    """Runs ``dst[i] = table[src[i]]`` over a TCM vector through a :class:`VLut16`.

    The job gives TCM byte addresses (as ``LutCmd`` does): the 16 x 16-bit table at
    ``table_addr`` (entry e in bytes ``2e, 2e+1``, little-endian), ``count`` 4-bit indices
    from ``src_addr`` (index i in byte ``i // 2``, low nibble first) and ``count`` 16-bit
    results to ``dst_addr`` (result i in bytes ``2i, 2i+1``). Addresses must be multiples of
    the word bytes and ``count`` a multiple of the chunk ``Q = max(vlut_lanes, word_bits/4)``
    (whole index words and whole lane vectors; 16 by default), so that every TCM write is a
    whole word and nothing outside the destination is written. Checks fail before any access.

    It loads the table (word reads, one entry written per cycle), then per chunk of Q indices
    reads Q/(word_bits/4) words, looks up Q/lanes vectors, writes Q/(word_bits/16) words; one
    TCM access per cycle at most (default config: about 12 cycles per 16 indices).

    Parameters
    ----------
    config : NpuConfig

    Members
    -------
    job : In(stream.Signature(vlut_job_layout()))
        Accepted when idle.
    done : Out(stream.Signature(VLutError))
        One completion per job.
    tcm_req : Out(stream.Signature(tcm_request_layout(config)))
        To a TCM read/write port (``Tcm.vec_req``).
    tcm_resp : In(stream.Signature(tcm_word_bits))
        From that port's responses (``Tcm.vec_resp``).
    busy : Out(1)
    """

    def __init__(self, config: NpuConfig):
        from .tcm import tcm_request_layout

        self._config = config
        super().__init__({
            "job": In(stream.Signature(vlut_job_layout())),
            "done": Out(stream.Signature(VLutError)),
            "tcm_req": Out(stream.Signature(tcm_request_layout(config))),
            "tcm_resp": In(stream.Signature(config.tcm_word_bits)),
            "busy": Out(1),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def chunk(self) -> int:
        """Indices per chunk, Q: ``count`` must be a multiple of it."""
        return max(self._config.vlut_lanes, self._config.tcm_word_bits // 4)

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        w = cfg.tcm_word_bits
        n = cfg.vlut_lanes
        q = self.chunk
        per_src = w // 4          # indices per word
        per_dst = w // 16         # results per word
        src_words = q // per_src  # words read per chunk
        vectors = q // n          # lane vectors per chunk
        dst_words = q // per_dst  # words written per chunk
        table_words = 256 // w
        wshift = (w // 8).bit_length() - 1
        total = cfg.tcm_banks * cfg.tcm_bank_words

        m.submodules.lut = lut = VLut16(cfg)
        # The job, its addresses and the data words are loaded before they are read (IDLE,
        # CHECK, the responses), so they are not reset (fewer loads on the reset; timing).
        job = Signal(vlut_job_layout(), reset_less=True)
        err = Signal(VLutError)
        src = Signal(25, reset_less=True)
        dst = Signal(25, reset_less=True)
        tab = Signal(25, reset_less=True)
        chunks = Signal(24, reset_less=True)
        src_end = Signal(26, reset_less=True)                  # word addresses
        dst_end = Signal(26, reset_less=True)
        tab_end = Signal(26, reset_less=True)
        cnt = Signal(range(max(table_words, src_words, vectors, dst_words, per_dst) + 1))
        outs = Signal(range(max(vectors, per_dst) + 1))
        word = Signal(w, reset_less=True)
        ib = Signal(4 * q, reset_less=True)
        rb = Signal(16 * q, reset_less=True)
        rb_words = Array(rb[i * w:(i + 1) * w] for i in range(dst_words))

        # The index vector is ib's bottom whatever the state (only i.valid depends on it), so
        # the FSM does not sit in front of the lookup's mux.
        m.d.comb += [self.done.payload.eq(err), lut.o.ready.eq(1), lut.i.payload.eq(ib[:4 * n])]
        # Results shift in at the top: after the chunk, result 0 is at the bottom.
        with m.If(lut.o.valid):
            m.d.sync += [rb.eq(Cat(rb[16 * n:], lut.o.payload)), outs.eq(outs + 1)]

        # The TCM handshake's outputs are registers, set as the FSM enters a request or a
        # response state (timing: the state decode and the address and data multiplexers
        # reached the vec port's register slice and, through the response's ready, the
        # Tcm's occupancy counter, 9.3-9.6 ns on ECP5).
        req_valid, req_write, resp_ready = Signal(), Signal(), Signal()
        req_addr = Signal.like(self.tcm_req.payload.addr, reset_less=True)
        req_data = Signal(w, reset_less=True)
        m.d.comb += [self.tcm_req.valid.eq(req_valid), self.tcm_req.payload.addr.eq(req_addr),
                     self.tcm_req.payload.write.eq(req_write),
                     self.tcm_req.payload.data.eq(req_data), self.tcm_resp.ready.eq(resp_ready)]

        # Table writes reach the VLut16 a cycle late, from registers (timing: the state
        # decode and the index's decode met in the 256 entry flip-flops' enables, 8.1-8.5 ns
        # at three seeds). The first lookup comes at least three cycles after the last write.
        tw_valid = Signal()
        tw_valid_q = Signal()
        tw_q = Signal.like(lut.table_wr.payload, reset_less=True)
        m.d.sync += [tw_valid_q.eq(tw_valid), tw_q.index.eq(cnt * per_dst + outs),
                     tw_q.value.eq(word[:16])]
        m.d.comb += [lut.table_wr.valid.eq(tw_valid_q), lut.table_wr.payload.eq(tw_q)]
        # The last chunk, a register of chunks (read in DST_REQ only, many cycles after
        # chunks last moved; timing: the 24-bit compare was in the FSM's enables).
        chunks_one = Signal()
        m.d.sync += chunks_one.eq(chunks == 1)

        def request(*, write=0):
            """Go to the state after this one with a request on tcm_req. Its address (and a
            write's data) are loaded in this state without a condition where they are known
            (timing: the handshakes and compares behind the conditions reached 90 enables)."""
            m.d.sync += [req_valid.eq(1), req_write.eq(write)]

        def sent():
            """This cycle's request is taken: a response (a read) or nothing is awaited."""
            m.d.sync += [req_valid.eq(0), resp_ready.eq(~req_write)]

        mask = (w // 8) - 1
        with m.FSM():
            with m.State("IDLE"):
                m.d.comb += self.job.ready.eq(1)
                with m.If(self.job.valid):
                    m.d.sync += job.eq(self.job.payload)
                    m.next = "CHECK"
            with m.State("CHECK"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += [src.eq(job.src_addr >> wshift), dst.eq(job.dst_addr >> wshift),
                             tab.eq(job.table_addr >> wshift), chunks.eq(job.count // q),
                             cnt.eq(0),
                             src_end.eq((job.src_addr >> wshift) + job.count // per_src),
                             dst_end.eq((job.dst_addr >> wshift) + job.count // per_dst),
                             tab_end.eq((job.table_addr >> wshift) + table_words)]
                with m.If(job.count == 0):
                    m.d.sync += err.eq(VLutError.ZERO_LENGTH)
                    m.next = "DONE"
                with m.Elif(((job.src_addr & mask) != 0) | ((job.dst_addr & mask) != 0) |
                            ((job.table_addr & mask) != 0) | (job.count % q != 0)):
                    m.d.sync += err.eq(VLutError.MISALIGNED)
                    m.next = "DONE"
                with m.Else():
                    m.next = "RANGE"
            # The range check compares the ends registered in CHECK: sum and compare in one
            # cycle were the engine's longest path.
            with m.State("RANGE"):
                m.d.comb += self.busy.eq(1)
                out_of_range = (src_end > total) | (dst_end > total) | (tab_end > total)
                m.d.sync += [req_addr.eq(tab), req_write.eq(0), req_valid.eq(~out_of_range)]
                with m.If(out_of_range):
                    m.d.sync += err.eq(VLutError.TCM_RANGE)
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += err.eq(VLutError.NONE)
                    m.next = "TABLE_REQ"

            # -- table: read a word, write its entries one per cycle ----------------------
            with m.State("TABLE_REQ"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.tcm_req.ready):
                    sent()
                    m.d.sync += tab.eq(tab + 1)
                    m.next = "TABLE_RESP"
            with m.State("TABLE_RESP"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.tcm_resp.valid):
                    m.d.sync += [word.eq(self.tcm_resp.payload), outs.eq(0), resp_ready.eq(0)]
                    m.next = "TABLE_WRITE"
            with m.State("TABLE_WRITE"):
                m.d.comb += [self.busy.eq(1), tw_valid.eq(1)]
                m.d.sync += [word.eq(word >> 16), outs.eq(outs + 1),
                             req_addr.eq(Mux(cnt == table_words - 1, src, tab))]
                with m.If(outs == per_dst - 1):
                    m.d.sync += [cnt.eq(cnt + 1), outs.eq(0)]
                    with m.If(cnt == table_words - 1):
                        m.d.sync += cnt.eq(0)
                        request()
                        m.next = "SRC_REQ"
                    with m.Else():
                        request()
                        m.next = "TABLE_REQ"

            # -- one chunk: read indices, look up, write results ---------------------------
            with m.State("SRC_REQ"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.tcm_req.ready):
                    sent()
                    m.d.sync += src.eq(src + 1)
                    m.next = "SRC_RESP"
            with m.State("SRC_RESP"):
                m.d.comb += self.busy.eq(1)
                m.d.sync += req_addr.eq(src)
                with m.If(self.tcm_resp.valid):
                    m.d.sync += [ib.eq(Cat(ib[w:], self.tcm_resp.payload)), cnt.eq(cnt + 1),
                                 resp_ready.eq(0)]
                    with m.If(cnt == src_words - 1):
                        m.d.sync += [cnt.eq(0), outs.eq(0)]
                        m.next = "LOOKUP"
                    with m.Else():
                        request()
                        m.next = "SRC_REQ"
            with m.State("LOOKUP"):
                m.d.comb += self.busy.eq(1)
                # The first result word, loaded every cycle: rb is final when LOOKUP ends.
                m.d.sync += [req_addr.eq(dst), req_data.eq(rb_words[0])]
                with m.If(cnt != vectors):
                    m.d.comb += lut.i.valid.eq(1)
                    with m.If(lut.i.ready):
                        m.d.sync += [ib.eq(ib >> (4 * n)), cnt.eq(cnt + 1)]
                # rb is complete once no result is left in the lookup (none arrives now).
                with m.If((outs == vectors) & ~lut.o.valid):
                    m.d.sync += cnt.eq(0)
                    request(write=1)
                    m.next = "DST_REQ"
            # The word written is picked by cnt rather than shifted out of rb: the write's
            # handshake then moves counters only, not the enables of rb's 16*Q flip-flops
            # (timing: that enable, behind the FSM and the vec port's ready, was placed by
            # rb while its other loads sat across the die).
            with m.State("DST_REQ"):
                m.d.comb += self.busy.eq(1)
                with m.If(self.tcm_req.ready):
                    sent()
                    # The next word's address and data load whatever cnt is (timing: cnt's
                    # compare was in their enables); after the last word they are not read,
                    # or the address is overridden below.
                    m.d.sync += [dst.eq(dst + 1), cnt.eq(cnt + 1), req_addr.eq(dst + 1),
                                 req_data.eq(rb_words[(cnt + 1)[:len(cnt)]])]
                    with m.If(cnt == dst_words - 1):
                        m.d.sync += [cnt.eq(0), chunks.eq(chunks - 1)]
                        with m.If(chunks_one):
                            m.next = "DONE"
                        with m.Else():
                            m.d.sync += req_addr.eq(src)
                            request()
                            m.next = "SRC_REQ"
                    with m.Else():
                        request(write=1)
            with m.State("DONE"):
                m.d.comb += [self.busy.eq(1), self.done.valid.eq(1)]
                with m.If(self.done.ready):
                    m.next = "IDLE"
        return m
