"""Block scale unit + FP32 accumulator (SPEC sections 4 and 5)."""

from amaranth import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import NpuConfig
from .fp32_add import CANONICAL_NAN, POS_INF, FP32Adder, _leading_zeros
from .sparse_mac import SUM_SHAPE

__all__ = ["BlockAccumulator", "PartialSum"]


class PartialSum(data.Struct):
    """One beat of the BlockAccumulator input stream (28 bits, LSB first).

    Members
    -------
    psum : signed(10)
        A partial sum in units of 1/4: one ``SparseMacPair.sum`` (a 2:4 group of 4
        elements, or a dense pair of 2 elements with pattern 0).
    block_last : 1
        This beat completes a scale block (block_size elements): every
        ``block_size // 4`` beats for 2:4 sparse weights, ``block_size // 2`` for dense.
    row_last : 1
        This block is the last of the output row (only meaningful with ``block_last``).
    scale_w : 8
        S_w code of the block (read on the ``block_last`` beat only).
    scale_x : 8
        S_x code of the block (read on the ``block_last`` beat only).
    """

    psum: SUM_SHAPE
    block_last: unsigned(1)
    row_last: unsigned(1)
    scale_w: unsigned(8)
    scale_x: unsigned(8)

def _data(shape=1):
    """A pipeline register that holds data only: not reset (its stage's valid bit is), so the
    GEMV engine's reset reaches fewer flip-flops (timing)."""
    return Signal(shape, reset_less=True, src_loc_at=1)

class BlockAccumulator(wiring.Component):
    """Exact block sums -> one exact scaling + RNE conversion per block -> FP32 row sums.

    For each output row, ``y = (((+0.0 + q0) + q1) + ...)`` with
    ``q_b = fl32(S_w * S_x * p_b)`` and ``p_b`` the exact integer sum of the block's partial
    sums (SPEC section 4). The integer block sum is kept exactly; ``S_w * S_x * p`` is an
    exact integer times a power of two (E8M0, or E4M3 with ``config.scale_format ==
    "e4m3"``), converted to binary32 with rounding (RNE) only where it leaves the normal
    range: overflow -> +-Inf, underflow -> subnormal or +-0. A NaN scale code (E8M0 255,
    E4M3 0x7F/0xFF) makes q, hence y, the canonical NaN 0x7FC00000.

    Pipeline: beat accept (integer sum) -> A: block sum and codes -> S: scale decode and
    exponent sum -> B: exact magnitude (E4M3 significand product) -> C: leading-zero count ->
    N: normalise -> R: exponent range -> D: subnormal shift -> E: round/pack q ->
    :class:`FP32Adder` (:attr:`adder_stages` deep) -> row result register -> ``o``. Blocks of
    one row are added sequentially; the next block's add may start in the cycle the previous
    sum leaves the adder (forwarded), so a block of at least :attr:`adder_stages` beats never
    stalls the input; shorter blocks are still correct (the input is held until the adder is
    free). The adder is as deep as the shortest block allows without a stall, at most
    :data:`MAX_ADDER_STAGES`: ``min(8, block_size // 4)`` (2:4 blocks are ``block_size // 4``
    beats), i.e. 8 stages for MXFP4 (block 32), 4 for NVFP4 (block 16). Latency from the
    cycle the ``row_last`` beat is transferred to the cycle ``o.valid`` rises:
    :attr:`latency` = 8 + :attr:`adder_stages` + 1 (8 scale-unit registers A, S, B, C, N, R,
    D, E; the adder; the output register), 17 for block 32 and 13 for block 16.

    Parameters
    ----------
    config : NpuConfig
        Uses ``block_size`` (sizes the exact block sum) and ``scale_format``.

    Members
    -------
    i : In(stream.Signature(PartialSum))
        Partial-sum beats; ``i.ready`` drops while the pipeline waits for the adder or for
        ``o`` to drain.
    o : Out(stream.Signature(32))
        One binary32 bit pattern per row (after its ``row_last`` block), in row order.

    Attributes
    ----------
    adder_stages : int
        Pipeline depth of the FP32Adder, :meth:`adder_stages_for` of ``config``.
    latency : int
        Cycles from the ``row_last`` beat's transfer to ``o.valid`` when nothing stalls,
        :meth:`latency_for` of ``config``.
    """

    #: Deepest adder used (FP32Adder.MAX_STAGES: every adder step in a stage of its own).
    MAX_ADDER_STAGES = 8

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            self._MustUse__silence = True   # not built: no "unused elaboratable" warning
            raise TypeError(f"BlockAccumulator takes an NpuConfig, not {config!r}")
        self._config = config
        self.adder_stages = self.adder_stages_for(config)
        self.latency = self.latency_for(config)
        # |p| <= 144 quarters per element (6 * 6 * 4) -> block sum bound.
        self._sum_bits = (144 * config.block_size).bit_length() + 1
        super().__init__({
            "i": In(stream.Signature(PartialSum)),
            "o": Out(stream.Signature(32)),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @classmethod
    def adder_stages_for(cls, config: NpuConfig) -> int:
        """Adder depth for ``config``: the deepest that a 2:4 block (``block_size // 4``
        beats, the fewest) covers, so the running sum never stalls the input, at most
        :data:`MAX_ADDER_STAGES` and at least ``FP32Adder.MIN_STAGES``."""
        return max(FP32Adder.MIN_STAGES, min(cls.MAX_ADDER_STAGES, config.block_size // 4))

    @classmethod
    def latency_for(cls, config: NpuConfig) -> int:
        """Cycles from the ``row_last`` beat's transfer to ``o.valid`` when nothing stalls:
        8 scale-unit registers + the adder + the output register."""
        return 8 + cls.adder_stages_for(config) + 1

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        e4m3 = cfg.scale_format == "e4m3"
        m.submodules.adder = adder = FP32Adder(self.adder_stages)
        L = adder.latency

        # ---- adder scheduling state ----------------------------------------------------------
        pend = Signal(L)           # pend[j]: an add issued j + 1 cycles ago
        pend_row_last = Signal(L)
        arrive = pend[L - 1]       # the add issued L cycles ago shows its sum on adder.s now
        arrive_row_last = pend_row_last[L - 1]
        # Data registers are not reset, only the valid bits and the control state are (fewer
        # loads on the GEMV engine's reset): y is read only after a row's first block.
        y = Signal(32, reset_less=True)  # running row sum (binary32)
        first = Signal(init=1)     # next block opens a row: add it to +0.0
        issue = Signal()

        # `busy` (an add other than the arriving one is in flight: pend[:L - 1].any()),
        # `o_free` and the global stall `advance` are registered one cycle ahead, computed
        # from the next values of the registers they stand for (same values in every cycle
        # as the combinational forms): `issue` is one LUT of four flip-flops, and `i.ready`
        # and the enables of the scale registers are a flip-flop.
        busy = Signal()
        busy_next = issue | pend[:L - 2].any()
        m.d.sync += busy.eq(busy_next)
        # o_free = ~o.valid & ~(arrive & arrive_row_last): from registers, not o.ready, which
        # would otherwise reach, through issue and the global stall, every pipeline register
        # of every lane of the GEMV engine in one cycle (o.ready now only reaches this
        # flip-flop and `advance`). A row result thus waits one cycle more when the previous
        # one is still held, which a row of >= 2 blocks never sees.
        o_free = Signal(init=1)
        o_valid_next = (arrive & arrive_row_last) | (self.o.valid & ~self.o.ready)
        o_free_next = ~o_valid_next & ~(pend[L - 2] & pend_row_last[L - 2])
        m.d.sync += o_free.eq(o_free_next)

        # ---- scale pipeline with one global stall -------------------------------------------
        e_valid = Signal()
        advance = Signal(init=1)   # = ~e_valid | issue (registered ahead, see above)
        m.d.comb += self.i.ready.eq(advance)

        beat = self.i.payload
        acc = Signal(signed(self._sum_bits))
        a_valid, a_row_last = Signal(), Signal()
        a_p = Signal(signed(self._sum_bits), reset_less=True)
        a_sw, a_sx = Signal(8, reset_less=True), Signal(8, reset_less=True)
        # E4M3 significands 1.mmm (or 0.mmm) * 8, decoded before the register so that the
        # multiply in S starts from flip-flops (the decode plus the DSP did not fit 7.4 ns).
        a_sw_sig, a_sx_sig = Signal(4, reset_less=True), Signal(4, reset_less=True)

        def e4m3_sig(code):
            return Cat(code[0:3], code[3:7] != 0)

        with m.If(advance):
            m.d.sync += a_valid.eq(0)
            with m.If(self.i.valid):
                with m.If(beat.block_last):
                    m.d.sync += [
                        acc.eq(0), a_valid.eq(1), a_p.eq(acc + beat.psum),
                        a_row_last.eq(beat.row_last), a_sw.eq(beat.scale_w),
                        a_sx.eq(beat.scale_x),
                    ]
                    if e4m3:
                        m.d.sync += [a_sw_sig.eq(e4m3_sig(beat.scale_w)),
                                     a_sx_sig.eq(e4m3_sig(beat.scale_x))]
                with m.Else():
                    m.d.sync += acc.eq(acc + beat.psum)

        # S: decode the scales: |S_w * S_x * p| = |p| * msc * 2^k exactly, sign, NaN.
        mag_bits = self._sum_bits - 1 + (8 if e4m3 else 0)
        s_valid, s_row_last = Signal(), Signal()
        s_sign, s_nan = _data(), _data()
        s_pabs = _data(self._sum_bits - 1)
        s_msc = _data(8)                                  # product of the scale significands
        s_k = _data(signed(10))
        p_neg = a_p < 0
        p_abs = Mux(p_neg, -a_p, a_p)
        if e4m3:
            def e4m3_parts(code):
                exp, man, sign = code[3:7], code[0:3], code[7]
                e = Mux(exp == 0, 1, exp)                # value = sig * 2^(e - 10)
                nan = (exp == 0xF) & (man == 0x7)
                return sign, e, nan
            sw_s, sw_e, sw_nan = e4m3_parts(a_sw)
            sx_s, sx_e, sx_nan = e4m3_parts(a_sx)
            msc = a_sw_sig * a_sx_sig
            k = sw_e + sx_e - 22                          # (e_w - 10) + (e_x - 10) - 2
            sign = p_neg ^ sw_s ^ sx_s
            nan = sw_nan | sx_nan
        else:
            msc = 1
            k = a_sw + a_sx - 256                         # 2^(cw-127) 2^(cx-127) / 4
            sign = p_neg
            nan = (a_sw == 0xFF) | (a_sx == 0xFF)
        with m.If(advance):
            m.d.sync += [s_valid.eq(a_valid), s_row_last.eq(a_row_last), s_pabs.eq(p_abs),
                         s_msc.eq(msc), s_k.eq(k), s_sign.eq(sign), s_nan.eq(nan)]

        # B: the exact magnitude (one small multiply for E4M3; none for E8M0).
        b_valid, b_row_last, b_sign, b_nan = Signal(), Signal(), _data(), _data()
        b_mag = _data(mag_bits)
        b_k = _data(signed(10))
        with m.If(advance):
            m.d.sync += [b_valid.eq(s_valid), b_row_last.eq(s_row_last),
                         b_mag.eq(s_pabs * s_msc if e4m3 else s_pabs),
                         b_k.eq(s_k), b_sign.eq(s_sign), b_nan.eq(s_nan)]

        # C: leading-zero count of the magnitude.
        c_valid, c_row_last = Signal(), Signal()
        c_sign, c_nan, c_zero = _data(), _data(), _data()
        c_mag = _data(mag_bits)
        c_k = _data(signed(10))
        c_lz = _data(range(mag_bits + 1))
        with m.If(advance):
            m.d.sync += [
                c_valid.eq(b_valid), c_row_last.eq(b_row_last), c_sign.eq(b_sign),
                c_nan.eq(b_nan), c_zero.eq(b_mag == 0), c_mag.eq(b_mag), c_k.eq(b_k),
                c_lz.eq(_leading_zeros(m, b_mag, mag_bits)),
            ]

        # N: normalise to a 24-bit significand with the leading 1 at bit 23, and the biased
        # exponent it would have as a normal number.
        n_valid, n_row_last = Signal(), Signal()
        n_sign, n_nan, n_zero = _data(), _data(), _data()
        n_sig = _data(24)
        n_e = _data(signed(11))
        with m.If(advance):
            m.d.sync += [
                n_valid.eq(c_valid), n_row_last.eq(c_row_last), n_sign.eq(c_sign),
                n_nan.eq(c_nan), n_zero.eq(c_zero),
                n_sig.eq((c_mag << (24 - mag_bits)) << c_lz),
                # leading 1 at bit (mag_bits - 1 - lz) of mag: value = 1.f * 2^(that + k)
                n_e.eq(c_k + (mag_bits - 1 + 127) - c_lz),
            ]

        # R: range: right shift for a subnormal result, exponent field, overflow. Timing: the
        # shift's 16 step and the sticky bit's mask are taken here from n_e (compares with
        # constants), so D shifts by 0..15 and ANDs the mask, no compare behind r_shift.
        # shift = 0 for n_e >= 1, else min(1 - n_e, 26) (>= 26 pushes even the leading 1
        # below the sticky position: same as 26); bit j of the 27-bit significand, guard,
        # round, sticky word is lost when shift > j, i.e. n_e < 1 - j (never for j = 26).
        r_valid, r_row_last = Signal(), Signal()
        r_sign, r_nan, r_zero, r_ovf = _data(), _data(), _data(), _data()
        r_sig = _data(24)
        r_wide = _data(27)                                # Cat(0, 0, 0, sig) >> (shift & 16)
        r_shift = _data(4)                                # shift & 15
        r_mask = _data(27)                                # bits that the shift drops
        r_efield = _data(8)
        n_wide = Cat(Const(0, 3), n_sig)
        with m.If(advance):
            m.d.sync += [
                r_valid.eq(n_valid), r_row_last.eq(n_row_last), r_sign.eq(n_sign),
                r_nan.eq(n_nan), r_zero.eq(n_zero), r_ovf.eq(n_e >= 255), r_sig.eq(n_sig),
                r_wide.eq(Mux(n_e < -14, n_wide >> 16, n_wide)),
                r_shift.eq(Mux(n_e >= 1, 0, Mux(n_e < -25, 26, 1 - n_e))[:4]),
                r_mask.eq(Cat(n_e < 1 - j for j in range(26))),
                r_efield.eq(Mux(n_e >= 1, n_e - 1, 0)),
            ]

        # D: subnormal right shift (the rest, 0..15); sticky from the mask, beside it.
        d_valid, d_row_last = Signal(), Signal()
        d_sign, d_nan, d_zero, d_ovf = _data(), _data(), _data(), _data()
        d_n3 = _data(27)                                  # significand, guard, round, sticky
        d_efield = _data(8)
        d_e253 = _data()                                  # efield 253: rounding may overflow
        wide = Cat(Const(0, 3), r_sig)
        n3 = Signal(27)
        m.d.comb += n3.eq(r_wide >> r_shift)
        lost = (wide & r_mask).any()
        with m.If(advance):
            m.d.sync += [
                d_valid.eq(r_valid), d_row_last.eq(r_row_last), d_sign.eq(r_sign),
                d_nan.eq(r_nan), d_zero.eq(r_zero), d_ovf.eq(r_ovf),
                d_n3.eq(n3 | lost), d_efield.eq(r_efield), d_e253.eq(r_efield == 253),
            ]

        # E: round to nearest even and pack (a rounding carry ripples into the exponent).
        e_row_last = Signal()
        q = _data(32)
        sig = d_n3[3:27]
        guard, rnd, stk = d_n3[2], d_n3[1], d_n3[0]
        round_up = guard & (rnd | stk | sig[0])
        packed = Signal(31)
        m.d.comb += packed.eq((d_efield << 23) + sig + round_up)
        # Rounding overflow (packed >= 0x7F800000), beside the carry chain rather than after
        # it: without d_ovf, efield <= 253 and packed <= 253 * 2^23 + 2^24, which reaches
        # 255 * 2^23 only for efield 253, an all-ones significand and a round-up.
        round_ovf = d_e253 & sig.all() & round_up
        q_next = Signal(32)
        with m.If(d_nan):
            m.d.comb += q_next.eq(CANONICAL_NAN)
        with m.Elif(d_zero):
            m.d.comb += q_next.eq(Cat(Const(0, 31), d_sign))
        with m.Elif(d_ovf | round_ovf):
            m.d.comb += q_next.eq(Cat(Const(POS_INF, 31), d_sign))
        with m.Else():
            m.d.comb += q_next.eq(Cat(packed[:31], d_sign))
        with m.If(advance):
            m.d.sync += [e_valid.eq(d_valid), e_row_last.eq(d_row_last), q.eq(q_next)]
        e_valid_next = Mux(advance, d_valid, e_valid)
        e_row_last_next = Mux(advance, d_row_last, e_row_last)
        issue_next = e_valid_next & ~busy_next & (~e_row_last_next | o_free_next)
        m.d.sync += advance.eq(~e_valid_next | issue_next)

        # ---- adder issue: one add per row in flight, forwarding the arriving sum ---------------
        m.d.comb += issue.eq(e_valid & ~busy & (~e_row_last | o_free))
        # Operand a: +0.0 for a row's first block, else the running sum -- forwarded straight
        # from the adder output in the cycle it arrives. The selects are registered one cycle
        # ahead (from pend[L-2] and the next `first`) so the forwarding mux is one LUT level.
        sel_s, sel_y = Signal(), Signal()
        first_next = Mux(issue, e_row_last, first)
        arrive_next = pend[L - 2] if L > 1 else issue
        m.d.sync += [sel_s.eq(arrive_next & ~first_next), sel_y.eq(~arrive_next & ~first_next)]
        m.d.comb += [
            adder.a.eq((adder.s & sel_s.replicate(32)) | (y & sel_y.replicate(32))),
            adder.b.eq(q),
        ]
        m.d.sync += [pend.eq(Cat(issue, pend[:L - 1])),
                     pend_row_last.eq(Cat(issue & e_row_last, pend_row_last[:L - 1]))]
        with m.If(issue):
            m.d.sync += first.eq(e_row_last)

        # ---- results ----------------------------------------------------------------------------
        with m.If(arrive & ~arrive_row_last):
            m.d.sync += y.eq(adder.s)
        o_payload = _data(32)
        m.d.comb += self.o.payload.eq(o_payload)
        with m.If(arrive & arrive_row_last):
            m.d.sync += [self.o.valid.eq(1), o_payload.eq(adder.s)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
