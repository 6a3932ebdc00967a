"""A small stream FIFO in distributed RAM whose head's low bits come from a register.

NpuTop puts one in front of each TCM request port: the Tcm's arbitration reads a request's
address and write bit, so they come from flip-flops beside it rather than from the RAM's
read, while the wide write data (which only goes to the bank registers) stays in the RAM.
"""

from amaranth import Cat, Module, Mux, Shape, Signal, Value
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["HeadFifo"]


class HeadFifo(wiring.Component):
    """First in, first out, ``depth`` entries; ``o.payload``'s low ``head_bits`` bits and
    ``o.valid`` are flip-flop outputs.

    Latency 1 (an entry written in cycle t is offered from t + 1); one entry per cycle in and
    out. The entries live in distributed RAM; the head's low bits are kept in a register as
    well, loaded on each take from a second, narrow copy of the RAM (read one entry ahead) or
    from ``i`` when the entry being written becomes the head. Taking an entry therefore moves
    pointers, a level and the narrow register, never wide data registers.

    Parameters
    ----------
    shape : ShapeLike
        Payload shape.
    depth : int
        Entries (>= 2).
    head_bits : int
        Low bits of the payload (as a value) that come from the register; all of it if equal
        to the payload's width.

    Members
    -------
    i : In(stream.Signature(shape))
        Entries in (``ready`` while not full).
    o : Out(stream.Signature(shape))
        Entries out, in order.
    level : Out(range(depth + 1))
        Entries held.

    Raises
    ------
    ValueError
        If ``depth`` < 2 or ``head_bits`` is not in 1 .. the payload's width.
    """

    def __init__(self, shape, *, depth: int = 4, head_bits: int):
        width = Shape.cast(shape).width
        if depth < 2:
            raise ValueError(f"depth must be at least 2, not {depth}")
        if not 1 <= head_bits <= width:
            raise ValueError(f"head_bits must be in 1..{width}, not {head_bits}")
        self._depth, self._head_bits, self._width = depth, head_bits, width
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(shape)),
                          "level": Out(range(depth + 1))})

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def head_bits(self) -> int:
        return self._head_bits

    def elaborate(self, platform):
        m = Module()
        depth, hb, width = self._depth, self._head_bits, self._width

        def after(ptr):
            return Mux(ptr == depth - 1, 0, ptr + 1)

        produce, consume = Signal(range(depth)), Signal(range(depth))
        level = self.level
        nonempty = Signal()
        head = Signal(hb)
        w_bits = Value.cast(self.i.payload)
        do_write, do_read = Signal(), Signal()
        m.d.comb += [
            self.i.ready.eq(level != depth),
            self.o.valid.eq(nonempty),
            do_write.eq(self.i.valid & self.i.ready),
            do_read.eq(self.o.valid & self.o.ready),
        ]

        # The narrow copy of the head bits, read at the entry after the head.
        m.submodules.head_mem = head_mem = Memory(shape=hb, depth=depth, init=[])
        hw, hr = head_mem.write_port(), head_mem.read_port(domain="comb")
        m.d.comb += [hw.addr.eq(produce), hw.data.eq(w_bits[:hb]), hw.en.eq(do_write),
                     hr.addr.eq(after(consume))]
        if hb < width:
            m.submodules.mem = mem = Memory(shape=width - hb, depth=depth, init=[])
            wr, rd = mem.write_port(), mem.read_port(domain="comb")
            m.d.comb += [wr.addr.eq(produce), wr.data.eq(w_bits[hb:]), wr.en.eq(do_write),
                         rd.addr.eq(consume), self.o.payload.eq(Cat(head, rd.data))]
        else:
            m.d.comb += self.o.payload.eq(head)

        with m.If(do_read):
            # The next head: the entry after this one, or (one held) the one written now.
            m.d.sync += head.eq(Mux(level >= 2, hr.data, w_bits[:hb]))
        with m.Elif(level == 0):
            m.d.sync += head.eq(w_bits[:hb])
        with m.If(do_write):
            m.d.sync += produce.eq(after(produce))
        with m.If(do_read):
            m.d.sync += consume.eq(after(consume))
        # nonempty's next value without the level's adder (timing: a write's valid, from a
        # unit across the die, went through the carry chain into it).
        m.d.sync += [level.eq(level + do_write - do_read),
                     nonempty.eq(do_write | (level >= 2) | ((level == 1) & ~do_read))]
        return m
