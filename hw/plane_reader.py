"""Plane reader: streams the elements of consecutive TCM lines (one per GEMV operand plane).

NpuTop's GEMV feeder runs two sets of five (values, patterns, weight scales, x codes, x
scales); see docs/architecture.md.
"""

from amaranth import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["PlaneReader"]


class PlaneReader(wiring.Component):
    """Stream ``elem_bits``-wide elements from ``lines`` consecutive TCM lines.

    ``start`` (one cycle, only while ``idle``) drops what is buffered and begins at line
    ``base``. Up to ``depth`` lines are requested or buffered at once (credit), so every
    response has room. The elements of a line are handed out low bits first. A response
    is registered on entry and written to the line buffer a cycle later; the head line is
    loaded from it into a shift register, so an element is out 3 cycles after its line's
    ``resp_valid`` at the earliest.

    Parameters
    ----------
    line_bits : int
        Width of a TCM line (``tcm_banks * tcm_word_bits``).
    elem_bits : int
        Width of an element; must divide ``line_bits``.
    addr_bits : int
        Width of a line address.
    depth : int
        Lines requested or in the line buffer at once (credit). One line per cycle needs
        ``depth`` >= L + 3 for a response L cycles after its request (a line holds its credit
        until it leaves the buffer: the response register, the buffer write and the load
        into the output register take 3 cycles). The line being handed out sits in a
        register besides these.

    Members
    -------
    start, base, lines : In
        Begin a new run of ``lines`` lines at line ``base``.
    req : Out(stream.Signature(addr_bits))
        Line read requests.
    resp_valid, resp_data : In
        Line read responses, in request order.
    out : Out(stream.Signature(elem_bits))
        The elements.
    idle : Out(1)
        No request is in flight.

    Raises
    ------
    ValueError
        If ``elem_bits`` does not divide ``line_bits``.
    """

    def __init__(self, *, line_bits: int, elem_bits: int, addr_bits: int, depth: int = 2):
        if line_bits % elem_bits:
            raise ValueError(f"elem_bits {elem_bits} must divide line_bits {line_bits}")
        self._line_bits, self._elem_bits, self._depth = line_bits, elem_bits, depth
        super().__init__({
            "start": In(1), "base": In(addr_bits), "lines": In(24),
            "req": Out(stream.Signature(addr_bits)),
            "resp_valid": In(1), "resp_data": In(line_bits),
            "out": Out(stream.Signature(elem_bits)),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        eb, depth = self._elem_bits, self._depth
        n_elem = self._line_bits // eb

        # Line buffer: distributed RAM (asynchronous read), not flip-flops and a multiplexer
        # -- ten readers of 256-bit lines made the feeder the largest part of the NPU.
        m.submodules.buf = buf = Memory(shape=self._line_bits, depth=depth, init=[])
        wr = buf.write_port()
        rd = buf.read_port(domain="comb")
        wp, rp = Signal(range(depth)), Signal(range(depth))
        level = Signal(range(depth + 1))        # lines in buf
        inflight = Signal(range(depth + 1))     # lines requested, not yet in buf
        nxt, left = Signal.like(self.base), Signal(24)

        # Timing: the response is registered on entry, so the TCM's response wires (one line
        # to ten readers across the die) end at this reader's flip-flops.
        # The line registers are not reset (their valid bits are): fewer loads on the reset.
        in_valid = Signal()
        in_data = Signal(self._line_bits, reset_less=True)
        m.d.sync += [in_valid.eq(self.resp_valid), in_data.eq(self.resp_data)]
        m.d.comb += [wr.addr.eq(wp), wr.data.eq(in_data), wr.en.eq(in_valid), rd.addr.eq(rp)]
        with m.If(in_valid):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))

        req_fire = self.req.valid & self.req.ready
        m.d.comb += [
            self.req.valid.eq((left != 0) & (level + inflight < depth)),
            self.req.payload.eq(nxt),
            self.idle.eq(inflight == 0),
        ]
        with m.If(req_fire):
            m.d.sync += [nxt.eq(nxt + 1), left.eq(left - 1)]

        # The line being handed out sits in a shift register: ``out.payload`` is its low
        # element, a flip-flop output, with no element multiplexer behind it.
        cur = Signal(self._line_bits, reset_less=True)
        cur_valid = Signal()
        idx = Signal(range(max(2, n_elem)))
        m.d.comb += [self.out.valid.eq(cur_valid), self.out.payload.eq(cur[:eb])]
        out_fire = self.out.valid & self.out.ready
        # idx_last (idx == n_elem - 1) is a register kept with idx (timing: the compare sat
        # between the output handshake and the line's load enable).
        idx_last = Signal(init=int(n_elem == 1))
        line_done = Signal()
        m.d.comb += line_done.eq(out_fire & idx_last)
        load = Signal()
        m.d.comb += load.eq((~cur_valid | line_done) & (level != 0))
        with m.If(out_fire):
            m.d.sync += cur.eq(cur >> eb)
            if n_elem > 1:
                m.d.sync += [idx.eq(Mux(idx_last, 0, idx + 1)),
                             idx_last.eq(idx == n_elem - 2)]
        with m.If(load):
            m.d.sync += [cur.eq(rd.data), cur_valid.eq(1),
                         rp.eq(Mux(rp == depth - 1, 0, rp + 1))]
        with m.Elif(line_done):
            m.d.sync += cur_valid.eq(0)
        m.d.sync += [level.eq(level + in_valid - load),
                     inflight.eq(inflight + req_fire - in_valid)]

        with m.If(self.start):
            m.d.sync += [nxt.eq(self.base), left.eq(self.lines), level.eq(0), wp.eq(0),
                         rp.eq(0), idx.eq(0), idx_last.eq(n_elem == 1), cur_valid.eq(0)]
        return m
