"""Pipelined IEEE 754 binary32 adder (SPEC sections 4, 5 and 8)."""

from amaranth import Cat, Const, Module, Mux, Signal, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["CANONICAL_NAN", "FP32", "POS_INF", "FP32Adder"]

#: The only NaN the hardware produces (SPEC section 4): quiet, positive, payload 0.
CANONICAL_NAN = 0x7FC00000
#: +Inf bit pattern (sign added separately).
POS_INF = 0x7F800000


class FP32(data.Struct):
    """IEEE 754 binary32 fields, LSB first."""

    frac: unsigned(23)
    exp: unsigned(8)
    sign: unsigned(1)


def _leading_zeros(m, value, width):
    """Combinational count of leading zeros of ``value[0:width]`` (``width`` if zero)."""
    lz = Signal(range(width + 1), init=width)
    # Later statements win in Amaranth: scanning LSB -> MSB leaves the highest set bit's count.
    for i in range(width):
        with m.If(value[i]):
            m.d.comb += lz.eq(width - 1 - i)
    return lz


class FP32Adder(wiring.Component):
    """Fully pipelined IEEE 754 binary32 adder: ``s = fl32(a + b)``, round to nearest even.

    One pair per cycle, no stall: the sum of the ``a``/``b`` presented in cycle t appears on
    ``s`` in cycle t + :attr:`latency` (= 4). Subnormal inputs and outputs are kept (no flush to
    zero); ``x + -x = +0``, ``-0 + -0 = -0``; ``Inf + -Inf``, and any NaN operand, give the
    canonical NaN 0x7FC00000; overflow rounds to +-Inf.

    Pipeline (one register after each stage, sized for ~125 MHz on ECP5):

    1. unpack, order operands by magnitude (31-bit compare), exponent difference, specials;
    2. align the smaller significand (barrel shift with sticky) and add/subtract (28 bits);
    3. leading-zero count and left normalise, limited at the subnormal exponent;
    4. round to nearest even, pack (a rounding carry ripples into the exponent), overflow to
       Inf, special-case select.

    Members
    -------
    a : In(32)
        Operand, binary32 bit pattern.
    b : In(32)
        Operand, binary32 bit pattern.
    s : Out(32)
        Sum of the operands presented :attr:`latency` cycles earlier (registered output).
    """

    a: In(32)
    b: In(32)
    s: Out(32)

    #: Cycles from ``a``/``b`` to ``s``.
    latency = 4

    def elaborate(self, platform):
        m = Module()
        a = FP32(self.a)
        b = FP32(self.b)

        # ---- stage 1: order by magnitude, unpack, classify -------------------------------
        swap = self.a[:31] < self.b[:31]
        big = FP32(Mux(swap, self.b, self.a))
        small = FP32(Mux(swap, self.a, self.b))
        e_big = Mux(big.exp == 0, 1, big.exp)      # subnormals share exponent 1
        e_small = Mux(small.exp == 0, 1, small.exp)
        big_nan = (big.exp == 0xFF) & (big.frac != 0)
        big_inf = (big.exp == 0xFF) & (big.frac == 0)
        small_inf = (small.exp == 0xFF) & (small.frac == 0)
        sub = a.sign ^ b.sign

        s1_sign, s1_sub, s1_zsign = Signal(), Signal(), Signal()
        s1_nan, s1_inf = Signal(), Signal()
        s1_e = Signal(8)
        s1_diff = Signal(8)
        s1_mb = Signal(24)
        s1_ms = Signal(24)
        # |big| >= |small| means a NaN operand is always `big` (its pattern is the largest).
        m.d.sync += [
            s1_sign.eq(big.sign),
            s1_sub.eq(sub),
            s1_zsign.eq(a.sign & b.sign),   # sign of an exact zero sum under RNE
            s1_nan.eq(big_nan | (big_inf & small_inf & sub)),
            s1_inf.eq(big_inf),
            s1_e.eq(e_big),
            s1_diff.eq(e_big - e_small),
            s1_mb.eq(Cat(big.frac, big.exp != 0)),
            s1_ms.eq(Cat(small.frac, small.exp != 0)),
        ]

        # ---- stage 2: align with guard/round/sticky, add or subtract -----------------------
        ms3 = Signal(27)
        m.d.comb += ms3.eq(s1_ms << 3)
        dist = Signal(5)
        m.d.comb += dist.eq(Mux(s1_diff > 31, 31, s1_diff))
        shifted = Signal(27)
        m.d.comb += shifted.eq(ms3 >> dist)
        sticky = (shifted << dist) != ms3          # some 1 bit was shifted out
        aligned = shifted | sticky
        mb3 = s1_mb << 3
        s2_r = Signal(28)
        s2_e, s2_sign, s2_zsign, s2_nan, s2_inf = Signal(8), Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            s2_r.eq(Mux(s1_sub, mb3 - aligned, mb3 + aligned)),
            s2_e.eq(s1_e), s2_sign.eq(s1_sign), s2_zsign.eq(s1_zsign),
            s2_nan.eq(s1_nan), s2_inf.eq(s1_inf),
        ]

        # ---- stage 3: normalise ----------------------------------------------------------
        lz = _leading_zeros(m, s2_r, 27)
        limit = s2_e - 1                           # never below exponent 1 (subnormal)
        lshift = Signal(8)
        m.d.comb += lshift.eq(Mux(lz <= limit, lz, limit))
        s3_n = Signal(27)
        s3_e = Signal(9)
        s3_zero, s3_sign, s3_zsign, s3_nan, s3_inf = Signal(), Signal(), Signal(), Signal(), Signal()
        with m.If(s2_r[27]):
            # Carry out of the addition: shift right one, keeping the lost bit as sticky.
            m.d.sync += [s3_n.eq(Cat(s2_r[0] | s2_r[1], s2_r[2:28])), s3_e.eq(s2_e + 1)]
        with m.Else():
            m.d.sync += [s3_n.eq(s2_r[:27] << lshift), s3_e.eq(s2_e - lshift)]
        m.d.sync += [
            s3_zero.eq(s2_r == 0), s3_sign.eq(s2_sign), s3_zsign.eq(s2_zsign),
            s3_nan.eq(s2_nan), s3_inf.eq(s2_inf),
        ]

        # ---- stage 4: round to nearest even, pack ------------------------------------------
        sig = s3_n[3:27]
        guard, rnd, stk = s3_n[2], s3_n[1], s3_n[0]
        round_up = guard & (rnd | stk | sig[0])
        # (E - 1) * 2^23 + significand-with-hidden-bit is the packed magnitude; a rounding
        # carry out of the significand increments the exponent (and subnormal -> normal).
        packed = Signal(33)
        m.d.comb += packed.eq(((s3_e - 1) << 23) + sig + round_up)
        with m.If(s3_nan):
            m.d.sync += self.s.eq(CANONICAL_NAN)
        with m.Elif(s3_inf | (packed >= POS_INF)):
            m.d.sync += self.s.eq(Cat(Const(POS_INF, 31), s3_sign))
        with m.Elif(s3_zero):
            m.d.sync += self.s.eq(Cat(Const(0, 31), s3_zsign))
        with m.Else():
            m.d.sync += self.s.eq(Cat(packed[:31], s3_sign))
        return m
