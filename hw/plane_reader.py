"""Plane reader: streams the elements of consecutive TCM lines (one per GEMV operand plane).

NpuTop's GEMV feeder runs two sets of five (values, patterns, weight scales, x codes, x
scales); see docs/architecture.md.
"""

from amaranth import Module, Mux, ResetInserter, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["PlaneReader"]


class PlaneReader(wiring.Component):
    """Stream ``elem_bits``-wide elements from ``lines`` consecutive TCM lines.

    ``start`` (one cycle, only while ``idle``) drops what is buffered and begins at line
    ``base``. Up to ``depth`` lines are requested or buffered at once (credit), so every
    response has room. The elements of a line are handed out low bits first, through a
    4-entry output FIFO. A response is registered on entry and written to the line buffer a
    cycle later; the head line is loaded from it into a shift register, whose low element
    goes to the FIFO, so an element is out 5 cycles after its line's ``resp_valid`` at the
    earliest. ``out.ready`` reaches only the FIFO's read side.

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
        The elements (the output FIFO's read side; ``start`` empties it).
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
        # Loaded by `start` and read only while left_nz: not reset (fewer loads on the reset).
        nxt = Signal.like(self.base, reset_less=True)
        left = Signal(24, reset_less=True)

        # Timing: the response is registered on entry, so the TCM's response wires (one line
        # to ten readers across the die) end at this reader's flip-flops.
        # The line registers are not reset (their valid bits are): fewer loads on the reset.
        in_valid = Signal()
        in_data = Signal(self._line_bits, reset_less=True)
        m.d.sync += [in_valid.eq(self.resp_valid), in_data.eq(self.resp_data)]
        m.d.comb += [wr.addr.eq(wp), wr.data.eq(in_data), wr.en.eq(in_valid)]
        with m.If(in_valid):
            m.d.sync += wp.eq(Mux(wp == depth - 1, 0, wp + 1))

        # Timing: ``req.valid`` is two flip-flops ANDed, so the request's handshake (into the
        # enables of nxt and left) has one LUT behind registers: left_nz (left != 0) and
        # room (held < depth, held = level + inflight: lines with a credit), both kept with
        # their counters rather than compared (a carry chain and a 24-bit compare were in
        # front of the enables, placed apart).
        held = Signal(range(depth + 1))
        left_nz, room = Signal(), Signal(init=1)
        req_fire = Signal()
        m.d.comb += [
            self.req.valid.eq(left_nz & room),
            self.req.payload.eq(nxt),
            self.idle.eq(inflight == 0),
            req_fire.eq(self.req.valid & self.req.ready),
        ]
        with m.If(req_fire):
            m.d.sync += [nxt.eq(nxt + 1), left.eq(left - 1), left_nz.eq(left != 1)]

        # The elements leave through a small FIFO (distributed RAM): ``out`` is its read side,
        # so the consumer's ready reaches only the FIFO's pointers and level.
        # The hand-out writes into it only with a credit: ``go`` (a register) says the FIFO
        # has room for this cycle's element, counting it as if nothing were read (the reads
        # are the consumer's, and so late in the cycle). So the hand-out never looks at the
        # consumer, and one element per cycle still flows while the FIFO holds two or fewer.
        m.submodules.fifo = fifo = ResetInserter(self.start)(SyncFIFO(width=eb, depth=4))
        m.d.comb += [self.out.valid.eq(fifo.r_rdy), self.out.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.out.ready)]

        # The hand-out's state: the head line (valid, element index) and its decisions,
        # made from this reader's registers alone:
        #   push: the head line's next element goes to the FIFO,
        #   load: the head line is (re)loaded from the line buffer.
        cur_valid = Signal()
        idx = Signal(range(max(2, n_elem)))
        # idx_last (idx == n_elem - 1) is a register kept with idx (timing: the compare sat
        # between the output handshake and the line's load enable).
        idx_last = Signal(init=int(n_elem == 1))
        go = Signal(init=1)
        push, load = Signal(), Signal()
        m.d.comb += [push.eq(go & cur_valid),
                     load.eq((~cur_valid | push & idx_last) & (level != 0))]
        if n_elem > 1:
            with m.If(push):
                m.d.sync += [idx.eq(Mux(idx_last, 0, idx + 1)), idx_last.eq(idx == n_elem - 2)]
        with m.If(load):
            m.d.sync += [cur_valid.eq(1), rp.eq(Mux(rp == depth - 1, 0, rp + 1))]
        with m.Elif(push & idx_last):
            m.d.sync += cur_valid.eq(0)
        # room stays `held < depth` without the sum: held moves by at most one (timing: the
        # load decision, a carry chain and the compare were 9.6 ns on ECP5).
        up, down = req_fire & ~load, load & ~req_fire
        m.d.sync += [level.eq(level + in_valid - load),
                     inflight.eq(inflight + req_fire - in_valid),
                     held.eq(held + req_fire - load),
                     room.eq(Mux(up, held < depth - 1, room | down))]

        # The head line's data lags its state by a cycle: a shift register that takes the
        # cycle-old decisions (push_q, load_q) and line address (rp_q), all flip-flops, so
        # its enables (one per bit) and multiplexer selects hang off registers, not off the
        # hand-out's logic. (Timing: the load decision drove the line register's enables
        # from wherever its 256 flip-flops pulled it and ran on to the level counter by the
        # reader's other registers -- across the die twice.) ``out.payload`` into the FIFO is
        # its low element, a flip-flop output, with no element multiplexer behind it. The line
        # at rp_q is still in the buffer: a line freed by a load is refilled no earlier than
        # a request and a response later.
        line = Signal(self._line_bits, reset_less=True)
        push_q, load_q = Signal(), Signal()
        rp_q = Signal.like(rp)
        m.d.sync += [push_q.eq(push), load_q.eq(load), rp_q.eq(rp)]
        m.d.comb += [rd.addr.eq(rp_q), fifo.w_en.eq(push_q), fifo.w_data.eq(line[:eb])]
        with m.If(load_q):
            m.d.sync += line.eq(rd.data)
        with m.Elif(push_q):
            m.d.sync += line.eq(line >> eb)
        # The credit: this cycle's FIFO level plus the write in flight (push_q) and this
        # cycle's push (written next cycle) must leave room, reads not counted.
        m.d.sync += go.eq(fifo.level + push_q + push < fifo.depth)

        with m.If(self.start):
            m.d.sync += [nxt.eq(self.base), left.eq(self.lines), left_nz.eq(self.lines != 0),
                         level.eq(0), held.eq(0), room.eq(1), wp.eq(0),
                         rp.eq(0), idx.eq(0), idx_last.eq(n_elem == 1), cur_valid.eq(0),
                         push_q.eq(0), load_q.eq(0), go.eq(1)]
        return m
