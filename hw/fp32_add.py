"""Pipelined IEEE 754 binary32 adder (SPEC sections 4, 5 and 8)."""

from amaranth import Cat, Const, Module, Mux, Signal, Value, unsigned
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


def _group_leading_zeros(value, width, group=8):
    """Leading zeros of ``value[0:width]`` split by groups of ``group`` bits, MSB first:
    ``[(all_zero, count), ...]`` of each group, the last one padded with ones below the LSB
    (never all zero). The total count is ``group * k + count_k`` of the first group ``k``
    that is not all zero (:func:`_first`); splitting there lets a pipeline
    register sit between the per-group trees and the merge."""
    size = -(-width // group) * group
    bits = [value[i] for i in reversed(range(width))] + [Const(1, 1)] * (size - width)
    return [_lzc_tree(bits[k:k + group]) for k in range(0, size, group)]


def _first(zeros, values):
    """``values[k]`` of the first ``k`` whose ``zeros[k]`` is 0 (the last is taken if all
    are 1): merges :func:`_group_leading_zeros`'s groups (a priority select over a few
    flags instead of the log2 levels of a whole tree)."""
    out = values[-1]
    for zero, value in zip(reversed(zeros[:-1]), reversed(values[:-1])):
        out = Mux(zero, out, value)
    return out


#: The adder's logic steps, in order; a pipeline register may follow each (the last one,
#: ``round``, is always followed by the output register ``s``).
STEPS = ("compare", "order", "align", "add", "lzc", "coarse", "fine", "round")

#: Pipeline depth -> the steps followed by a register (besides ``round``). Chosen so the
#: slowest stage of each depth is as short as the steps allow (docs/arithmetic.md).
CUTS = {
    4: ("order", "add", "coarse"),
    5: ("order", "align", "add", "coarse"),
    6: ("order", "align", "add", "lzc", "fine"),
    7: ("compare", "order", "align", "add", "lzc", "fine"),
    8: ("compare", "order", "align", "add", "lzc", "coarse", "fine"),
}


class _Pipe:
    """Places the adder's pipeline registers: :meth:`step` carries named values past one
    logic step, through a register if that step is cut, else as combinational copies."""

    def __init__(self, m, cuts):
        self.m, self.cuts = m, cuts

    def step(self, name, **values):
        domain = self.m.d.sync if name in self.cuts else self.m.d.comb
        out = {}
        for key, value in values.items():
            value = Value.cast(value)
            # Pipeline registers hold data only, and are not reset: whoever uses the adder
            # tracks which results are valid (fewer loads on the reset).
            out[key] = sig = Signal(value.shape(), name=f"{name}_{key}", reset_less=True)
            domain += sig.eq(value)
        return out


class FP32Adder(wiring.Component):
    """Fully pipelined IEEE 754 binary32 adder: ``s = fl32(a + b)``, round to nearest even.

    One pair per cycle, no stall: the sum of the ``a``/``b`` presented in cycle t appears on
    ``s`` in cycle t + :attr:`latency` (= ``stages``). Subnormal inputs and outputs are kept
    (no flush to zero); ``x + -x = +0``, ``-0 + -0 = -0``; ``Inf + -Inf``, and any NaN operand,
    give the canonical NaN 0x7FC00000; overflow rounds to +-Inf. The result does not depend
    on ``stages``, only the latency and the clock rate do.

    The logic is a chain of steps (:data:`STEPS`); ``stages`` picks which are followed by a
    register (:data:`CUTS`):

    * ``compare``: exponent and fraction compares (magnitude order), both exponent
      differences, partial NaN/Inf flags of each operand (all-ones exponent, each half of
      the fraction zero) -- from the inputs, so a value forwarded into ``a`` passes little
      logic before the first register when ``stages >= 7``;
    * ``order``: big/small operand select, alignment distance (clamped to 31), NaN/Inf;
    * ``align``: shift the smaller significand right with guard/round/sticky;
    * ``add``: 28-bit add or subtract;
    * ``lzc``: leading-zero count of each 8-bit group (flag and count), limited at the
      subnormal exponent by a sentinel bit;
    * ``coarse`` / ``fine``: merge the groups and left normalise by 8 times the group number
      / by the group's count, 0..7 (right by one on a carry out), exponent update;
    * ``round``: round to nearest even, pack (a rounding carry ripples into the exponent),
      overflow to Inf, special-case select.

    Parameters
    ----------
    stages : int
        Pipeline depth, 4 to 8 (default 8: every step in a stage of its own, ~160 MHz on
        ECP5 -6 at block level; 4 stages ~110 MHz; docs/arithmetic.md has each depth's
        measured clock rate).

    Attributes
    ----------
    latency : int
        Cycles from ``a``/``b`` to ``s`` (= ``stages``). The class attribute is the
        default depth's.

    Members
    -------
    a : In(32)
        Operand, binary32 bit pattern.
    b : In(32)
        Operand, binary32 bit pattern.
    s : Out(32)
        Sum of the operands presented :attr:`latency` cycles earlier (registered output).

    Raises
    ------
    ValueError
        If ``stages`` is not one of :data:`CUTS`.
    """

    a: In(32)
    b: In(32)
    s: Out(32)

    #: Default pipeline depth, and the smallest and largest allowed.
    DEFAULT_STAGES = 8
    MIN_STAGES = min(CUTS)
    MAX_STAGES = max(CUTS)

    #: Cycles from ``a``/``b`` to ``s`` of ``FP32Adder()`` (instances: their own depth).
    latency = DEFAULT_STAGES

    def __init__(self, stages: int = DEFAULT_STAGES):
        if stages not in CUTS:
            self._MustUse__silence = True   # not built: no "unused elaboratable" warning
            raise ValueError(f"FP32Adder stages must be one of {sorted(CUTS)}, not {stages!r}")
        self.stages = self.latency = stages
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        pipe = _Pipe(m, CUTS[self.stages])
        a = FP32(self.a)
        b = FP32(self.b)

        # ---- compare: magnitude order as exponent and fraction compares in parallel --------
        # Exponent differences from the raw fields (a carry chain right after the inputs),
        # each also less one: subnormals share exponent 1, so a normal operand's distance
        # to a subnormal one is one less than the fields' difference (selected in `order`).
        p = pipe.step(
            "compare", a=self.a, b=self.b, a_sub=a.exp == 0, b_sub=b.exp == 0,
            e_lt=a.exp < b.exp, e_eq=a.exp == b.exp, f_lt=a.frac < b.frac,
            d_ab=(a.exp - b.exp)[:8], d_ab1=(a.exp + ~b.exp)[:8],
            d_ba=(b.exp - a.exp)[:8], d_ba1=(b.exp + ~a.exp)[:8],
            sub=a.sign ^ b.sign,
            zsign=a.sign & b.sign,          # sign of an exact zero sum under RNE
            # NaN/Inf only as partial flags here (all-ones exponent, each fraction half zero),
            # combined in `order`: an operand forwarded into `a` passes fewer LUT levels.
            a_top=a.exp == 0xFF, a_flo=a.frac[:12] == 0, a_fhi=a.frac[12:] == 0,
            b_top=b.exp == 0xFF, b_flo=b.frac[:12] == 0, b_fhi=b.frac[12:] == 0,
        )

        # ---- order: |big| >= |small| ------------------------------------------------------
        a_fz, b_fz = p["a_flo"] & p["a_fhi"], p["b_flo"] & p["b_fhi"]
        a_nan, a_inf = p["a_top"] & ~a_fz, p["a_top"] & a_fz
        b_nan, b_inf = p["b_top"] & ~b_fz, p["b_top"] & b_fz
        swap = p["e_lt"] | (p["e_eq"] & p["f_lt"])        # |a| < |b|
        big = FP32(Mux(swap, p["b"], p["a"]))
        small = FP32(Mux(swap, p["a"], p["b"]))
        # |a| >= |b| with b subnormal and a normal: one less than the fields' difference
        # (and vice versa). The clamp of each candidate is beside the magnitude compare.
        def clamp(d):
            return Mux(d[5:].any(), 31, d[:5])
        a_sub, b_sub = p["a_sub"], p["b_sub"]
        dist = Mux(swap, Mux(a_sub & ~b_sub, clamp(p["d_ba1"]), clamp(p["d_ba"])),
                   Mux(b_sub & ~a_sub, clamp(p["d_ab1"]), clamp(p["d_ab"])))
        p = pipe.step(
            "order", sign=big.sign, sub=p["sub"], zsign=p["zsign"],
            # A NaN operand, or Inf - Inf, gives NaN; otherwise an Inf operand is the larger.
            nan=a_nan | b_nan | (a_inf & b_inf & p["sub"]), inf=a_inf | b_inf,
            e=Cat(big.exp[0] | Mux(swap, b_sub, a_sub), big.exp[1:]),   # 1 if subnormal
            # Alignment distance, clamped: >= 31 shifts every significand bit into sticky.
            dist=dist,
            mb=Cat(big.frac, ~Mux(swap, b_sub, a_sub)), ms=Cat(small.frac, ~Mux(swap, a_sub, b_sub)),
        )

        # ---- align: guard/round/sticky -----------------------------------------------------
        ms3 = Signal(27)
        m.d.comb += ms3.eq(p["ms"] << 3)
        dist = p["dist"]
        # Sticky: any 1 among the bits shifted out, from a thermometer mask of the distance
        # (in parallel with the shifter rather than after it). The mask is a shifted
        # constant, one 5-input function per bit (comparators `dist > j` became carry chains).
        below = ~(Const(-1, 32) << dist)[:27]        # bit j: j < dist
        sticky = (ms3 & below).any()
        e = p["e"]
        p = pipe.step(
            "align", aligned=(ms3 >> dist)[:27] | sticky, mb=p["mb"], sub=p["sub"], e=e,
            # Subnormal limit as a sentinel bit: normalising may shift left by at most e - 1,
            # so a 1 at bit 26 - (e - 1) makes the leading-zero count stop there by itself.
            limit=Cat((e == 27 - i) for i in range(27)),
            sign=p["sign"], zsign=p["zsign"], nan=p["nan"], inf=p["inf"],
        )

        # ---- add ----------------------------------------------------------------------------
        # One carry chain for both: mb3 + (aligned ^ sub) + sub, the carry-in as a low bit
        # of 1 on both operands (instead of an adder, a subtractor and a mux after them).
        sub = p["sub"]
        r = (Cat(sub, Const(0, 3), p["mb"])
             + Cat(sub, p["aligned"] ^ sub.replicate(27), sub))[1:29]
        p = pipe.step("add", r=r, e=p["e"], limit=p["limit"], sign=p["sign"],
                      zsign=p["zsign"], nan=p["nan"], inf=p["inf"])

        # ---- lzc: min(leading zeros, e - 1): never normalise below exponent 1 ----------------
        # Per 8-bit group only (flag and count); the groups are merged in `coarse`, so the
        # count's select lines come from registers when `lzc` is cut (stages >= 6). The
        # exponent candidates e + 1 and e - 8k are formed here too, beside the count.
        r, e = p["r"], p["e"]
        groups = _group_leading_zeros(r[:27] | p["limit"], 27)
        last = len(groups) - 1
        p = pipe.step("lzc", r=r, zero=r == 0, e=e, e_p1=(e + 1)[:9], sign=p["sign"],
                      zsign=p["zsign"], nan=p["nan"], inf=p["inf"],
                      **{f"z{k}": z for k, (z, _) in enumerate(groups[:last])},
                      **{f"c{k}": c for k, (_, c) in enumerate(groups)},
                      **{f"e_m{k}": (e[3:] - k)[:6] for k in range(1, last + 1)})

        # ---- coarse: carry out -> right by one (the lost bit kept as sticky); else left by
        # 8k, k the first group that is not all zero; the group's count is left for `fine` --
        r, e = p["r"], p["e"]
        zeros = [p[f"z{k}"] for k in range(last)] + [Const(0, 1)]
        k = _first(zeros, [Const(i, range(last + 1)) for i in range(last + 1)])
        count = _first(zeros, [p[f"c{i}"] for i in range(last + 1)])
        e_shifted = Cat(e[:3], _first(zeros, [e[3:]] + [p[f"e_m{i}"] for i in range(1, last + 1)]))
        p = pipe.step(
            "coarse",
            n=Mux(r[27], Cat(r[0] | r[1], r[2:28]),
                  (r[:27] << Cat(Const(0, 3), k))[:27]),
            fine=Mux(r[27], 0, count),
            e=Mux(r[27], p["e_p1"], e_shifted),
            zero=p["zero"], sign=p["sign"], zsign=p["zsign"], nan=p["nan"], inf=p["inf"],
        )

        # ---- fine: the last 0..7 bits and e - count; exponent range flags for the overflow
        # test, from the coarse exponent beside the subtraction: e - count is 255 (254) only
        # for e = 255 + count (254 + count), and e <= 255 whenever the flags matter (finite
        # operands: e <= 254 before a carry out) ----------------------------------------------
        e, fine = p["e"], p["fine"]
        e_out = (e - fine)[:9]
        p = pipe.step("fine", n=(p["n"] << fine)[:27], e=e_out,
                      e_ge256=e_out[8],
                      e_255=(e == 255) & (fine == 0),
                      e_254=((e == 254) & (fine == 0)) | ((e == 255) & (fine == 1)),
                      zero=p["zero"], sign=p["sign"], zsign=p["zsign"], nan=p["nan"],
                      inf=p["inf"])

        # ---- round to nearest even, pack ----------------------------------------------------
        n = p["n"]
        sig = n[3:27]
        guard, rnd, stk = n[2], n[1], n[0]
        round_up = guard & (rnd | stk | sig[0])
        # (E - 1) * 2^23 + significand-with-hidden-bit is the packed magnitude; a rounding
        # carry out of the significand increments the exponent (and subnormal -> normal).
        packed = Signal(31)
        m.d.comb += packed.eq(((p["e"] - 1) << 23) + sig + round_up)
        # Overflow (packed >= 0x7F800000), decided from the exponent and the significand
        # beside the carry chain instead of after it: E - 1 + (sig + round_up) // 2^23 >= 255.
        ovf = (p["e_ge256"]
               | (p["e_255"] & (sig[23] | (sig[:23].all() & round_up)))
               | (p["e_254"] & sig.all() & round_up))
        # The output register holds data too, and is not reset (see _Pipe.step).
        s = Signal(32, reset_less=True)
        m.d.comb += self.s.eq(s)
        with m.If(p["nan"]):
            m.d.sync += s.eq(CANONICAL_NAN)
        with m.Elif(p["inf"] | ovf):
            m.d.sync += s.eq(Cat(Const(POS_INF, 31), p["sign"]))
        with m.Elif(p["zero"]):
            m.d.sync += s.eq(Cat(Const(0, 31), p["zsign"]))
        with m.Else():
            m.d.sync += s.eq(Cat(packed, p["sign"]))
        return m
