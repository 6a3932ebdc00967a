"""E2M1 (FP4) x E2M1 LUT multiplier (SPEC section 5)."""

from amaranth import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from golden.formats import E2M1_PRODUCT_QUARTERS

__all__ = ["PRODUCT_SHAPE", "E2M1Multiplier"]

#: Shape of a product in units of 1/4: -144..144 needs 9 bits signed.
PRODUCT_SHAPE = signed(9)


class E2M1Multiplier(wiring.Component):
    """Combinational 16 x 16 lookup-table multiplier of two E2M1 codes.

    The 256-entry table is generated at elaboration from
    ``golden.formats.E2M1_PRODUCT_QUARTERS`` (the one definition of the products), so the
    RTL cannot drift from the golden model. Latency 0 (purely combinational); on ECP5 it maps
    to LUT4s (no DSP, no block RAM).

    Members
    -------
    a : In(4)
        First E2M1 code (bit 3 sign, bits 2:1 exponent, bit 0 mantissa).
    b : In(4)
        Second E2M1 code.
    p : Out(signed(9))
        ``E2M1_VALUES[a] * E2M1_VALUES[b] * 4``: the exact product in units of 1/4,
        in -144..144. ``-0`` codes give 0.
    """

    a: In(4)
    b: In(4)
    p: Out(PRODUCT_SHAPE)

    #: Cycles from ``a``/``b`` to ``p``.
    latency = 0

    def elaborate(self, platform):
        m = Module()
        table = E2M1_PRODUCT_QUARTERS
        # One case per (a, b) pair: Yosys turns this into a ROM of LUT4s.
        with m.Switch(self.a):
            for a in range(16):
                with m.Case(a), m.Switch(self.b):
                    for b in range(16):
                        with m.Case(b):
                            m.d.comb += self.p.eq(int(table[a, b]))
        return m
