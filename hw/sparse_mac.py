"""2:4 sparse MAC pair: index decoder + two E2M1 LUT multipliers + adder (SPEC section 5)."""

from amaranth import Module, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from golden import sparse as _golden_sparse

from .e2m1 import PRODUCT_SHAPE, E2M1Multiplier

__all__ = ["ACT_LAYOUT", "PATTERN_POSITIONS", "SUM_SHAPE", "WEIGHT_LAYOUT", "SparseMacPair"]

#: Kept positions of each valid 3-bit 2:4 pattern code (SPEC section 3), slot 0 the lower
#: position, taken from the one definition in ``golden.sparse``. Codes 6 and 7 are invalid.
PATTERN_POSITIONS: tuple[tuple[int, int], ...] = tuple(
    (int(p0), int(p1)) for p0, p1 in _golden_sparse.PATTERN_POSITIONS[:_golden_sparse.NUM_PATTERNS])

#: A group of 4 E2M1 activation codes, index = position within the group.
ACT_LAYOUT = data.ArrayLayout(unsigned(4), 4)
#: The 2 stored E2M1 weight codes of a 2:4 group, slot 0 = lower kept position.
WEIGHT_LAYOUT = data.ArrayLayout(unsigned(4), 2)
#: Shape of ``sum`` in units of 1/4: two products of at most 144 in magnitude.
SUM_SHAPE = signed(10)


class SparseMacPair(wiring.Component):
    """Multiply the 2 kept weights of a 2:4 group with the activations they select, and add.

    ``sum = w[0] * x[pos0] + w[1] * x[pos1]`` in units of 1/4 (exact), where ``(pos0, pos1)``
    are the kept positions of ``pattern`` (:data:`PATTERN_POSITIONS`). Dense data uses
    ``pattern = 0`` with the 2 activations in ``x[0]``, ``x[1]`` (``x[2]``, ``x[3]`` ignored).
    With ``latency=0`` (the default) it is combinational: decoder mux -> 2 LUT multipliers
    -> 10-bit adder; the caller registers ``sum`` as its pipeline needs. With ``latency=1``
    the two products and ``invalid`` are registered every cycle (no enable: a new group may
    enter each cycle), so ``sum`` and ``invalid`` belong to the inputs of the previous
    cycle; the decoder and the multipliers are before the register, the adder after it
    (a caller that registers ``sum`` then has two short stages instead of one long path).
    ``latency=2`` also registers the decoder's output (the two selected activations, the
    weights and ``invalid``) in front of the multipliers: three short stages.

    Parameters
    ----------
    latency : int
        0 (combinational), 1 (register between the multipliers and the adder) or 2 (and one
        between the decoder and the multipliers).

    Members
    -------
    x : In(ArrayLayout(unsigned(4), 4))
        The 4 E2M1 activation codes of the group, ``x[i]`` = position i.
    w : In(ArrayLayout(unsigned(4), 2))
        The 2 stored E2M1 weight codes, ``w[0]`` for the lower kept position.
    pattern : In(3)
        2:4 pattern code, 0..5 valid (SPEC section 3).
    sum : Out(signed(10))
        Exact dot product in units of 1/4, -288..288; 0 when ``invalid``.
    invalid : Out(1)
        1 for pattern codes 6 and 7.
    """

    x: In(ACT_LAYOUT)
    w: In(WEIGHT_LAYOUT)
    pattern: In(3)
    sum: Out(SUM_SHAPE)
    invalid: Out(1)

    def __init__(self, latency: int = 0):
        if latency not in (0, 1, 2):
            self._MustUse__silence = True    # a rejected object is not an unused design
            raise ValueError(f"SparseMacPair latency must be 0, 1 or 2, not {latency!r}")
        self._latency = latency
        super().__init__()

    @property
    def latency(self) -> int:
        """Cycles from inputs to ``sum``/``invalid``."""
        return self._latency

    def elaborate(self, platform):
        m = Module()
        m.submodules.mul0 = mul0 = E2M1Multiplier()
        m.submodules.mul1 = mul1 = E2M1Multiplier()
        x0 = Signal(4)
        x1 = Signal(4)
        bad = Signal()
        # Index decoder: route the two kept activations to the two multipliers.
        with m.Switch(self.pattern):
            for code, (pos0, pos1) in enumerate(PATTERN_POSITIONS):
                with m.Case(code):
                    m.d.comb += [x0.eq(self.x[pos0]), x1.eq(self.x[pos1])]
            with m.Default():
                m.d.comb += bad.eq(1)
        w = self.w
        if self._latency == 2:
            # The decoder's output is registered: the selection no longer adds to the
            # multipliers' table lookup in one cycle.
            x0_q, x1_q = Signal(4, reset_less=True), Signal(4, reset_less=True)
            w_q, bad_q = Signal.like(self.w, reset_less=True), Signal(reset_less=True)
            m.d.sync += [x0_q.eq(x0), x1_q.eq(x1), w_q.eq(self.w), bad_q.eq(bad)]
            x0, x1, w, bad = x0_q, x1_q, w_q, bad_q
        m.d.comb += [
            mul0.a.eq(w[0]), mul0.b.eq(x0),
            mul1.a.eq(w[1]), mul1.b.eq(x1),
        ]
        # latency >= 1: the stage register sits between the multipliers and the adder.
        dom = m.d.sync if self._latency else m.d.comb
        # Stage registers hold data only, `invalid` included (no reset: the caller tracks what
        # is valid; fewer loads on the reset).
        p0, p1 = Signal(PRODUCT_SHAPE, reset_less=True), Signal(PRODUCT_SHAPE, reset_less=True)
        invalid = Signal(reset_less=True)
        dom += [p0.eq(mul0.p), p1.eq(mul1.p), invalid.eq(bad)]
        m.d.comb += self.invalid.eq(invalid)
        with m.If(~invalid):
            m.d.comb += self.sum.eq(p0 + p1)
        return m
