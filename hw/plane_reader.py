"""Plane reader: streams the elements of consecutive TCM lines (one per GEMV operand plane).

NpuTop's GEMV feeder runs two sets of five (values, patterns, weight scales, x codes, x
scales); see docs/architecture.md.
"""

from amaranth import Array, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["PlaneReader"]


class PlaneReader(wiring.Component):
    """Stream ``elem_bits``-wide elements from ``lines`` consecutive TCM lines.

    ``start`` (one cycle, only while ``idle``) drops what is buffered and begins at line
    ``base``. Up to ``depth`` lines are requested or buffered at once (credit), so every
    response has room. The elements of a line are handed out low bits first.

    Parameters
    ----------
    line_bits : int
        Width of a TCM line (``tcm_banks * tcm_word_bits``).
    elem_bits : int
        Width of an element; must divide ``line_bits``.
    addr_bits : int
        Width of a line address.
    depth : int
        Lines requested or buffered at once: at least the TCM's request-to-response latency
        in cycles for one line per cycle.

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
        n_elem = self._line_bits // self._elem_bits
        depth = self._depth
        buf = Array(Signal(self._line_bits, name=f"line{i}") for i in range(depth))
        wp, rp = Signal(range(depth)), Signal(range(depth))
        level, inflight = Signal(range(depth + 1)), Signal(range(depth + 1))
        nxt, left = Signal.like(self.base), Signal(24)
        idx = Signal(range(max(2, n_elem)))

        req_fire = self.req.valid & self.req.ready
        m.d.comb += [
            self.req.valid.eq((left != 0) & (level + inflight < depth)),
            self.req.payload.eq(nxt),
            self.idle.eq(inflight == 0),
        ]
        head = Signal(self._line_bits)
        m.d.comb += head.eq(buf[rp])
        elems = Array(head[i * self._elem_bits:(i + 1) * self._elem_bits] for i in range(n_elem))
        m.d.comb += [self.out.valid.eq(level != 0), self.out.payload.eq(elems[idx])]
        pop = Signal()
        out_fire = self.out.valid & self.out.ready
        with m.If(out_fire):
            if n_elem > 1:
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == n_elem - 1):
                    m.d.sync += idx.eq(0)
                    m.d.comb += pop.eq(1)
            else:
                m.d.comb += pop.eq(1)
        with m.If(self.resp_valid):
            m.d.sync += [buf[wp].eq(self.resp_data), wp.eq(Mux(wp == depth - 1, 0, wp + 1))]
        with m.If(pop):
            m.d.sync += rp.eq(Mux(rp == depth - 1, 0, rp + 1))
        m.d.sync += [level.eq(level + self.resp_valid - pop),
                     inflight.eq(inflight + req_fire - self.resp_valid)]
        with m.If(req_fire):
            m.d.sync += [nxt.eq(nxt + 1), left.eq(left - 1)]
        with m.If(self.start):
            m.d.sync += [nxt.eq(self.base), left.eq(self.lines), level.eq(0), wp.eq(0),
                         rp.eq(0), idx.eq(0)]
        return m
