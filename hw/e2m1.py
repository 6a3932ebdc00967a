"""E2M1 (FP4) x E2M1 multiplier (SPEC section 5): product table or exponent/mantissa form."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import E2M1_PRODUCT_QUARTERS

__all__ = ["E2M1_FORMS", "PRODUCT_SHAPE", "E2M1Multiplier"]

#: Shape of a product in units of 1/4: -144..144 needs 9 bits signed.
PRODUCT_SHAPE = signed(9)

#: Implementations of :class:`E2M1Multiplier` (see docs/synthesis.md for the comparison).
E2M1_FORMS = ("table", "arith")


class E2M1Multiplier(wiring.Component):
    """Combinational multiplier of two E2M1 codes, as a product table or in arithmetic form.

    ``form="table"`` (the default): a 16 x 16 lookup table generated at elaboration from
    ``golden.formats.E2M1_PRODUCT_QUARTERS`` (the one definition of the products), so the RTL
    cannot drift from the golden model. ``form="arith"``: exponent add + mantissa multiply,
    ``|v| * 2 = M << E`` with ``M = m`` (subnormal, ``e = 0``) or ``2 + m`` and
    ``E = max(e - 1, 0)``, so ``|p| = (Ma * Mb) << (Ea + Eb)`` (a 2 x 2-bit multiply and a
    0..4 shift), then the sign. Both are bit-identical (tests/hw/test_e2m1.py checks all 256
    pairs of each against the float products). Latency 0; on ECP5 either maps to LUT4s.

    Parameters
    ----------
    form : str
        ``"table"`` or ``"arith"``.

    Members
    -------
    a : In(4)
        First E2M1 code (bit 3 sign, bits 2:1 exponent, bit 0 mantissa).
    b : In(4)
        Second E2M1 code.
    p : Out(signed(9))
        ``E2M1_VALUES[a] * E2M1_VALUES[b] * 4``: the exact product in units of 1/4,
        in -144..144. ``-0`` codes give 0.

    Raises
    ------
    ValueError
        If ``form`` is not one of :data:`E2M1_FORMS`.
    """

    #: Cycles from ``a``/``b`` to ``p``.
    latency = 0

    def __init__(self, form: str = "table"):
        if form not in E2M1_FORMS:
            self._MustUse__silence = True    # a rejected object is not an unused design
            raise ValueError(f"E2M1Multiplier form must be one of {E2M1_FORMS}, not {form!r}")
        self._form = form
        super().__init__({"a": In(4), "b": In(4), "p": Out(PRODUCT_SHAPE)})

    @property
    def form(self) -> str:
        return self._form

    def elaborate(self, platform):
        m = Module()
        if self._form == "arith":
            self._arith(m)
            return m
        table = E2M1_PRODUCT_QUARTERS
        # One case per (a, b) pair: Yosys turns this into a ROM of LUT4s.
        with m.Switch(self.a):
            for a in range(16):
                with m.Case(a), m.Switch(self.b):
                    for b in range(16):
                        with m.Case(b):
                            m.d.comb += self.p.eq(int(table[a, b]))
        return m

    def _arith(self, m):
        def unpack(code):
            e, mant = code[1:3], code[0]
            sig, exp = Signal(2), Signal(2)
            m.d.comb += [sig.eq(Mux(e == 0, mant, 2 | mant)),   # significand x 2: 0..3
                         exp.eq(Mux(e == 0, 0, e - 1))]         # 0..2
            return code[3], sig, exp

        sa, ma, ea = unpack(self.a)
        sb, mb, eb = unpack(self.b)
        # 2 x 2-bit multiply as shift-and-add (a `*` would be inferred as a MULT18X18D DSP).
        prod = Signal(unsigned(4))                       # 0..9
        m.d.comb += prod.eq(Mux(ma[0], mb, 0) + Mux(ma[1], mb << 1, 0))
        mag = Signal(unsigned(8))
        m.d.comb += mag.eq(prod << (ea + eb))            # 0..144
        m.d.comb += self.p.eq(Mux(sa ^ sb, -mag, mag))  # -0 * x: mag is 0, so 0
