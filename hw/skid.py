"""Register slice (skid buffer) for a ``lib.stream`` stream.

Every cross-block handshake that limits the clock passes one: its output ``valid`` and
payload and its input ``ready`` are flip-flops, so no combinational path crosses it in either
direction, and it still passes one beat per cycle.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["StreamSkid"]


class StreamSkid(wiring.Component):
    """A two-entry register slice: ``o.valid``, ``o.payload`` and ``i.ready`` are registers.

    One beat per cycle flows while ``o.ready`` stays high, with latency 1. When ``o`` stalls,
    the beat taken in that cycle waits in the second (skid) register and ``i.ready`` falls a
    cycle later. The skid entry is empty whenever ``o.valid`` is low, so ``~o.valid`` means
    the slice holds nothing.

    Parameters
    ----------
    shape : shape-like
        The payload shape.

    Members
    -------
    i : In(stream.Signature(shape))
        Input stream.
    o : Out(stream.Signature(shape))
        Output stream, registered.
    """

    def __init__(self, shape):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape))})

    def elaborate(self, platform):
        m = Module()
        skid_valid = Signal()
        # The payload registers are not reset (only the valid bits are): a reset then reaches
        # two flip-flops per slice, not every payload bit (timing: the compute unit's reset).
        skid = Signal.like(self.i.payload, reset_less=True)
        payload = Signal.like(self.i.payload, reset_less=True)
        m.d.comb += [self.i.ready.eq(~skid_valid), self.o.payload.eq(payload)]
        with m.If(self.o.ready | ~self.o.valid):
            m.d.sync += [self.o.valid.eq(skid_valid | self.i.valid),
                         payload.eq(Mux(skid_valid, skid, self.i.payload)),
                         skid_valid.eq(0)]
        with m.Elif(~skid_valid):
            # The skid entry loads whether or not the input is valid, so its wide load enable
            # does not depend on ``i.valid`` (timing); only ``skid_valid`` records a beat.
            m.d.sync += [skid_valid.eq(self.i.valid), skid.eq(self.i.payload)]
        return m
