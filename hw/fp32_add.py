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


def _lzc_tree(bits):
    """(all_zero, count) of leading zeros of a power-of-two-wide list of 1-bit values,
    MSB first, as a balanced tree (log2(n) mux levels instead of an n-deep priority chain)."""
    if len(bits) == 1:
        return ~bits[0], Const(0, 0)
    half = len(bits) // 2
    hz, hc = _lzc_tree(bits[:half])
    lz_, lc = _lzc_tree(bits[half:])
    return hz & lz_, Mux(hz, Cat(lc, Const(1, 1)), Cat(hc, Const(0, 1)))


def _leading_zeros(m, value, width):
    """Combinational count of leading zeros of ``value[0:width]`` (``width`` if zero)."""
    size = 1 << max(width - 1, 0).bit_length()
    # MSB first, padded with ones below the LSB so a zero value counts exactly `width`.
    bits = [value[i] for i in reversed(range(width))] + [Const(1, 1)] * (size - width)
    zero, count = _lzc_tree(bits)
    lz = Signal(range(width + 1))
    m.d.comb += lz.eq(Mux(zero, width, count))
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
    3. leading-zero count and left normalise by its multiple-of-8 part, limited at the
       subnormal exponent;
    4. the last 0..7 bits of the normalising shift, round to nearest even, pack (a rounding
       carry ripples into the exponent), overflow to Inf, special-case select.

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
        big_nan = (big.exp == 0xFF) & (big.frac != 0)
        big_inf = (big.exp == 0xFF) & (big.frac == 0)
        small_inf = (small.exp == 0xFF) & (small.frac == 0)
        sub = a.sign ^ b.sign
        # Both exponent differences in parallel with the magnitude compare, then select.
        ea = Mux(a.exp == 0, 1, a.exp)
        eb = Mux(b.exp == 0, 1, b.exp)
        diff = Signal(8)
        m.d.comb += diff.eq(Mux(swap, eb - ea, ea - eb))

        s1_sign, s1_sub, s1_zsign = Signal(), Signal(), Signal()
        s1_nan, s1_inf = Signal(), Signal()
        s1_e = Signal(8)
        s1_dist = Signal(5)
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
            # Alignment distance, clamped: >= 31 shifts every significand bit into sticky.
            s1_dist.eq(Mux(diff[5:].any(), 31, diff[:5])),
            s1_mb.eq(Cat(big.frac, big.exp != 0)),
            s1_ms.eq(Cat(small.frac, small.exp != 0)),
        ]

        # ---- stage 2: align with guard/round/sticky, add or subtract -----------------------
        ms3 = Signal(27)
        m.d.comb += ms3.eq(s1_ms << 3)
        dist = s1_dist
        shifted = Signal(27)
        m.d.comb += shifted.eq(ms3 >> dist)
        # Sticky: any 1 among the bits shifted out, from a thermometer mask of the distance
        # (in parallel with the shifter rather than after it).
        sticky = Cat(ms3[j] & (dist > j) for j in range(27)).any()
        aligned = shifted | sticky
        mb3 = s1_mb << 3
        s2_r = Signal(28)
        # Subnormal limit as a sentinel bit: normalising may shift left by at most e - 1, so
        # a 1 at bit 26 - (e - 1) makes the leading-zero count stop there by itself.
        s2_limit = Signal(27)
        m.d.sync += s2_limit.eq(Cat((s1_e == 27 - i) for i in range(27)))
        s2_e, s2_sign, s2_zsign, s2_nan, s2_inf = Signal(8), Signal(), Signal(), Signal(), Signal()
        m.d.sync += [
            s2_r.eq(Mux(s1_sub, mb3 - aligned, mb3 + aligned)),
            s2_e.eq(s1_e), s2_sign.eq(s1_sign), s2_zsign.eq(s1_zsign),
            s2_nan.eq(s1_nan), s2_inf.eq(s1_inf),
        ]

        # ---- stage 3: normalise ----------------------------------------------------------
        # min(leading zeros, e - 1): never normalise below exponent 1 (subnormal results).
        lshift = _leading_zeros(m, s2_r[:27] | s2_limit, 27)
        s3_n = Signal(27)                          # coarsely normalised (multiple of 8)
        s3_fine = Signal(3)                        # the rest of the left shift, done in stage 4
        s3_e = Signal(9)
        s3_zero, s3_sign, s3_zsign, s3_nan, s3_inf = Signal(), Signal(), Signal(), Signal(), Signal()
        with m.If(s2_r[27]):
            # Carry out of the addition: shift right one, keeping the lost bit as sticky.
            m.d.sync += [s3_n.eq(Cat(s2_r[0] | s2_r[1], s2_r[2:28])), s3_fine.eq(0),
                         s3_e.eq(s2_e + 1)]
        with m.Else():
            m.d.sync += [s3_n.eq(s2_r[:27] << Cat(Const(0, 3), lshift[3:])),
                         s3_fine.eq(lshift[:3]), s3_e.eq(s2_e - lshift)]
        m.d.sync += [
            s3_zero.eq(s2_r == 0), s3_sign.eq(s2_sign), s3_zsign.eq(s2_zsign),
            s3_nan.eq(s2_nan), s3_inf.eq(s2_inf),
        ]

        # ---- stage 4: round to nearest even, pack ------------------------------------------
        n = Signal(27)
        m.d.comb += n.eq(s3_n << s3_fine)
        sig = n[3:27]
        guard, rnd, stk = n[2], n[1], n[0]
        round_up = guard & (rnd | stk | sig[0])
        # (E - 1) * 2^23 + significand-with-hidden-bit is the packed magnitude; a rounding
        # carry out of the significand increments the exponent (and subnormal -> normal).
        # Overflow (packed >= 0x7F800000) is an all-ones exponent field or a bit above it.
        packed = Signal(33)
        m.d.comb += packed.eq(((s3_e - 1) << 23) + sig + round_up)
        with m.If(s3_nan):
            m.d.sync += self.s.eq(CANONICAL_NAN)
        with m.Elif(s3_inf | (packed[23:31].all() | packed[31:].any())):
            m.d.sync += self.s.eq(Cat(Const(POS_INF, 31), s3_sign))
        with m.Elif(s3_zero):
            m.d.sync += self.s.eq(Cat(Const(0, 31), s3_zsign))
        with m.Else():
            m.d.sync += self.s.eq(Cat(packed[:31], s3_sign))
        return m
