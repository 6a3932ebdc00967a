"""GEMV engine: L lanes of SparseMacPair -> BlockAccumulator, activations broadcast.

One *step* feeds every lane one 2:4 group (2 weight codes + pattern, 4 activations) or, for
dense weights, one pair (2 weight codes, pattern forced to 0, activations x[0], x[1]). A
block takes ``block_size/4`` steps (2:4) or ``block_size/2`` steps (dense); the block's scale
codes ride on every step and are used on its last step. The engine counts steps, blocks and
row tiles from the job it accepted, so the step stream carries data only; the NPU top's
operand feeder builds it from the TCM layout of docs/architecture.md.
"""

from amaranth import Cat, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .block_acc import BlockAccumulator, PartialSum
from .config import NpuConfig
from .skid import StreamSkid
from .sparse_mac import ACT_LAYOUT, PATTERN_POSITIONS, WEIGHT_LAYOUT, SparseMacPair

__all__ = ["GemvEngine", "GemvJob", "gemv_fault_layout", "gemv_step_layout"]

#: Entries of each lane's FIFO between its MAC register and its skid buffer: the
#: credit check of :class:`GemvEngine` needs 5 (steps in flight) above the level of 1 that a
#: lane holds at full rate; 8 fits one 16-entry distributed RAM per 4 bits.
_LANE_FIFO_DEPTH = 8


class GemvJob(data.Struct):
    """One GEMV command as the engine sees it."""

    sparse: 1       # 2:4 steps (4 activations) or dense steps (2 activations, pattern 0)
    last: 1         # close the rows: emit y for every row tile; 0 keeps the lane sums open
    row_tiles: 16   # row tiles (of L rows each), 1..
    k_blocks: 16    # scale blocks per row, 1..


def gemv_step_layout(config: NpuConfig) -> data.StructLayout:
    """Payload of the step stream: per-lane weights, patterns and block scales, and the
    broadcast activations and activation scale."""
    lanes = config.lanes
    return data.StructLayout({
        "x": ACT_LAYOUT,                                  # 4 activation codes (dense: 0, 1)
        "w": data.ArrayLayout(WEIGHT_LAYOUT, lanes),      # slot 0, slot 1 per lane
        "pattern": data.ArrayLayout(unsigned(3), lanes),  # ignored when dense
        "scale_w": data.ArrayLayout(unsigned(8), lanes),  # used on a block's last step
        "scale_x": unsigned(8),
    })


def gemv_fault_layout(config: NpuConfig) -> data.StructLayout:
    """Where the first invalid pattern code of a job was: row tile, step in the row tile
    (block * steps_per_block + step), lane."""
    return data.StructLayout({"row_tile": 16, "step": 32,
                              "lane": max(1, (config.lanes - 1).bit_length())})


class GemvEngine(wiring.Component):
    """L-lane block-scaled E2M1 GEMV with 2:4 sparse or dense weights.

    Per step, lane ``i`` computes ``SparseMacPair(x, w[i], pattern[i]).sum`` (pipelined:
    the step is registered as taken, then the selected activations, then the products,
    then the sum) and writes it into
    its lane FIFO, which feeds its :class:`BlockAccumulator` through a 2-entry skid buffer;
    the accumulator closes a block every
    ``steps_per_block`` steps with ``scale_w[i] * scale_x`` and accumulates the row in FP32
    in block order (SPEC section 4). With ``job.last = 0`` the row sums stay open in the
    accumulators, so the next job (same row tile, next K chunk) continues them; that job
    must have ``row_tiles == 1``.

    Throughput: one step per cycle while ``step`` is valid and ``y`` is not back-pressured.
    ``step`` enters through a register slice (:class:`~hw.skid.StreamSkid`), so its
    ``ready`` is a flip-flop; a step is *taken* (``mac_active``) from the slice. The lanes
    never stall the engine within a cycle: the take decision comes from registers only (a
    credit check on the lane FIFOs' levels), so no accumulator's ``ready`` is combined over
    the lanes. Latency from the last step of a row tile to its ``y``: :attr:`latency` = 7
    (slice, input, selection, product and sum registers, lane FIFO and its skid buffer) +
    the accumulator's latency.

    Parameters
    ----------
    config : NpuConfig
        ``lanes``, ``block_size``, ``scale_format``.

    Members
    -------
    job : In(stream.Signature(GemvJob))
        Accepted when the engine is idle (``busy`` low).
    step : In(stream.Signature(gemv_step_layout(config)))
        row_tiles x k_blocks x steps_per_block beats per job, row tile by row tile.
    y : Out(stream.Signature(ArrayLayout(32, lanes)))
        One beat per row tile of a ``last`` job: the L binary32 results, lane i = row i.
    busy : Out(1)
        A job is running or results are still in flight.
    mac_active : Out(1)
        A step was consumed this cycle (all L lanes did a MAC).
    stall_operand : Out(1)
        A job is running but ``step`` is not valid.
    error : Out(1)
        Sticky: an invalid 2:4 pattern code (6, 7) arrived (raised two cycles after that
        step was taken, from the input register; no step is taken in between). The engine
        then takes no more steps (the slice may still accept up to two, which it holds);
        only row tiles whose last step came before the fault still leave on ``y``.
        Reset it (ResetInserter) to continue.
    fault : Out(gemv_fault_layout(config))
        Position of that pattern code.
    mac_cycles : Out(48)
        Count of ``mac_active`` cycles since reset.
    """

    def __init__(self, config: NpuConfig):
        if not isinstance(config, NpuConfig):
            raise TypeError(f"GemvEngine takes an NpuConfig, not {config!r}")
        self._config = config
        # The accumulator's latency depends on the configuration (its adder depth).
        self._acc_latency = BlockAccumulator.latency_for(config)
        super().__init__({
            "job": In(stream.Signature(GemvJob)),
            "step": In(stream.Signature(gemv_step_layout(config))),
            "y": Out(stream.Signature(data.ArrayLayout(32, config.lanes))),
            "busy": Out(1),
            "mac_active": Out(1),
            "stall_operand": Out(1),
            "error": Out(1),
            "fault": Out(gemv_fault_layout(config)),
            "mac_cycles": Out(48),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def latency(self) -> int:
        """Cycles from the last step of a row tile (accepted on ``step``) to its ``y`` beat
        when nothing stalls: 5 (input slice, input, selection, product and sum registers) +
        2 (lane FIFO and its skid buffer) + the accumulator's latency."""
        return 5 + 2 + self._acc_latency

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes = cfg.lanes
        sp_steps, dn_steps = cfg.block_size // 4, cfg.block_size // 2

        macs = [SparseMacPair(latency=2) for _ in range(lanes)]
        accs = [BlockAccumulator(cfg) for _ in range(lanes)]
        fifos = [SyncFIFO(width=PartialSum.as_shape().size, depth=_LANE_FIFO_DEPTH)
                 for _ in range(lanes)]
        for i, (mac, acc, fifo) in enumerate(zip(macs, accs, fifos)):
            m.submodules[f"mac{i}"] = mac
            m.submodules[f"fifo{i}"] = fifo
            m.submodules[f"acc{i}"] = acc

        # ---- job registers and counters -------------------------------------------------
        active = Signal()
        outstanding = Signal(17)               # row tiles whose y has not left, + y_fire_r
        # The job and its counters are loaded as the job starts (`starting`) and read only
        # while `active`, so they are not reset (fewer loads on the engine's reset; timing).
        job = Signal(GemvJob, reset_less=True)
        rt = Signal(16, reset_less=True)
        blk = Signal(16, reset_less=True)
        stp = Signal(8, reset_less=True)
        gstep = Signal(32, reset_less=True)    # step within the row tile (for fault reports)

        # Timing: the last step / block / row tile flags are flip-flops, loaded one step ahead
        # (a counter that moves on compares with its last value minus one, one that wraps
        # loads "the count is 1"), so no compare of a counter reaches the counters' enables.
        last_step = Signal(reset_less=True)
        last_blk = Signal(reset_less=True)
        last_rt = Signal(reset_less=True)
        steps_m2 = Signal(8, reset_less=True)  # number of steps / blocks / row tiles - 2
        kb_m2 = Signal(16, reset_less=True)
        rt_m2 = Signal(16, reset_less=True)
        steps_one = Signal(reset_less=True)    # one step per block
        kb_one = Signal(reset_less=True)       # one block per row

        # Four stages, data registers loading every cycle (only the valid bits follow
        # `fire`): in_* holds the step as taken (the top's operand path ends at a register),
        # s0_* its control beside each lane's decoder register and s1_* beside its product
        # register (SparseMacPair latency 2), st_* the lanes' partial sums, written into the
        # lane FIFOs.
        in_valid, in_bad, in_block_last, in_row_last = Signal(), Signal(), Signal(), Signal()
        # Data registers are not reset (their valid bits are): fewer loads on the reset.
        in_rt, in_gstep = Signal(16, reset_less=True), Signal(32, reset_less=True)
        in_step = Signal(gemv_step_layout(cfg), reset_less=True)
        s0_valid, s0_block_last, s0_row_last = Signal(), Signal(), Signal()
        s0_scale_w = [Signal(8, name=f"s0_scale_w{i}", reset_less=True) for i in range(lanes)]
        s0_scale_x = Signal(8, reset_less=True)
        s1_valid, s1_block_last, s1_row_last = Signal(), Signal(), Signal()
        s1_scale_w = [Signal(8, name=f"s1_scale_w{i}", reset_less=True) for i in range(lanes)]
        s1_scale_x = Signal(8, reset_less=True)
        st_valid = Signal()
        st = [Signal(PartialSum, name=f"st{i}", reset_less=True) for i in range(lanes)]

        # halt: the step taken in the previous cycle was invalid (= in_valid & in_bad), a
        # flip-flop of its own for the take logic (timing: in_bad sits by the step's data and
        # its route to the take decision was the NPU's longest path at one seed).
        halt = Signal()
        # A job is taken into `job` and set up from it a cycle later (`starting`), so the
        # job handshake loads only `job`, and the counters' and flags' next values do not
        # look at it (timing: job.valid & job.ready sat in front of the last_* flags).
        starting = Signal()
        m.d.comb += self.job.ready.eq(~active & ~starting & ~self.error & ~halt)
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [job.eq(self.job.payload), starting.eq(1)]
        with m.If(starting):
            n_steps = Mux(job.sparse, sp_steps, dn_steps)
            m.d.sync += [starting.eq(0), active.eq(1), rt.eq(0), blk.eq(0), stp.eq(0),
                         gstep.eq(0), steps_m2.eq(n_steps - 2), kb_m2.eq(job.k_blocks - 2),
                         rt_m2.eq(job.row_tiles - 2), steps_one.eq(n_steps == 1),
                         kb_one.eq(job.k_blocks == 1), last_step.eq(n_steps == 1),
                         last_blk.eq(job.k_blocks == 1), last_rt.eq(job.row_tiles == 1)]

        # ---- credit: the lanes never stall the engine -----------------------------------
        # A step taken in cycle t is written into every lane FIFO in cycle t + 4; `room`
        # (registered) looks at the FIFO levels of cycle t - 1, so up to 6 writes (steps
        # taken in t - 5 .. t) are not in that level yet. Taking a step only while every
        # level is <= depth - 6 means no FIFO overflows, whatever its accumulator does, and
        # no lane's ready reaches the engine or another lane in the same cycle (the global
        # stall was the engine's critical path). At full rate a level stays at 1.
        room_next = _all([f.level <= _LANE_FIFO_DEPTH - 6 for f in fifos])

        # The step slice: it holds, beside each step, whether any of its pattern codes is
        # invalid (6, 7), so that the take decision reads that from one flip-flop (timing:
        # the eight lanes' pattern checks were on the loop can_take -> fire -> can_take, the
        # NPU's longest path at two seeds). Dense steps ignore it (their pattern is not data).
        slice_layout = data.StructLayout({"step": gemv_step_layout(cfg), "codes_bad": 1})
        m.submodules.step_slice = step_slice = StreamSkid(slice_layout)
        m.d.comb += [
            step_slice.i.valid.eq(self.step.valid),
            self.step.ready.eq(step_slice.i.ready),
            step_slice.i.payload.step.eq(self.step.payload),
            step_slice.i.payload.codes_bad.eq(
                _any([self.step.payload.pattern[i] >= len(PATTERN_POSITIONS)
                      for i in range(lanes)])),
        ]
        p = step_slice.o.payload.step
        # can_take = active & ~error & ~halt & room (room: room_next a cycle ago) is a
        # flip-flop, loaded from the next values of active, error and halt, so `fire` is one
        # LUT of two flip-flops (timing: active -> error -> room -> fire -> the counters and
        # last_* flags was the engine's longest path).
        can_take = Signal()
        m.d.comb += step_slice.o.ready.eq(can_take)
        fire = Signal()
        m.d.comb += [fire.eq(step_slice.o.valid & can_take), self.mac_active.eq(fire),
                     self.stall_operand.eq(active & ~self.error & ~step_slice.o.valid)]

        # An invalid code is flagged as its step is taken, so that the step after it is
        # never taken.
        bad = job.sparse & step_slice.o.payload.codes_bad
        ends_job = fire & last_step & last_blk & last_rt
        active_next = Mux(starting, 1, active & ~ends_job)
        error_next = self.error | (in_valid & in_bad)
        halt_next = fire & bad
        m.d.sync += can_take.eq(active_next & ~error_next & ~halt_next & room_next)
        m.d.sync += [in_valid.eq(fire), in_bad.eq(bad), halt.eq(halt_next),
                     in_rt.eq(rt),
                     in_gstep.eq(gstep), in_block_last.eq(last_step),
                     in_row_last.eq(last_step & last_blk & job.last), in_step.eq(p)]
        m.d.sync += [in_step.pattern[i].eq(Mux(job.sparse, p.pattern[i], 0))
                     for i in range(lanes)]
        with m.If(fire):
            m.d.sync += [stp.eq(stp + 1), gstep.eq(gstep + 1), last_step.eq(stp == steps_m2)]
            with m.If(last_step):
                m.d.sync += [stp.eq(0), last_step.eq(steps_one),
                             blk.eq(blk + 1), last_blk.eq(blk == kb_m2)]
                with m.If(last_blk):
                    m.d.sync += [blk.eq(0), last_blk.eq(kb_one), rt.eq(rt + 1),
                                 last_rt.eq(rt == rt_m2), gstep.eq(0)]
                    with m.If(last_rt):
                        m.d.sync += active.eq(0)
        m.d.sync += self.mac_cycles.eq(self.mac_cycles + fire)

        # An invalid pattern is handled from the input register: the step never reaches
        # the lanes, the engine stops taking steps and raises error one cycle later.
        lane = Signal(range(lanes))
        for i in reversed(range(lanes)):
            with m.If(in_step.pattern[i] >= len(PATTERN_POSITIONS)):
                m.d.comb += lane.eq(i)
        # The fault is read only once `error` is up: not reset.
        fault = Signal.like(self.fault, reset_less=True)
        m.d.comb += self.fault.eq(fault)
        with m.If(in_valid & in_bad):
            m.d.sync += [self.error.eq(1), fault.row_tile.eq(in_rt), fault.step.eq(in_gstep),
                         fault.lane.eq(lane)]

        # ---- stages 0 and 1: selected activations, products -------------------------------
        for i, mac in enumerate(macs):
            m.d.comb += [mac.x.eq(in_step.x), mac.w.eq(in_step.w[i]),
                         mac.pattern.eq(in_step.pattern[i])]
        m.d.sync += [s0_valid.eq(in_valid & ~in_bad), s0_block_last.eq(in_block_last),
                     s0_row_last.eq(in_row_last), s0_scale_x.eq(in_step.scale_x)]
        m.d.sync += [s0_scale_w[i].eq(in_step.scale_w[i]) for i in range(lanes)]
        m.d.sync += [s1_valid.eq(s0_valid), s1_block_last.eq(s0_block_last),
                     s1_row_last.eq(s0_row_last), s1_scale_x.eq(s0_scale_x)]
        m.d.sync += [s1_scale_w[i].eq(s0_scale_w[i]) for i in range(lanes)]

        # ---- stage 2 (sums) and the lane FIFOs --------------------------------------------
        m.d.sync += st_valid.eq(s1_valid)
        for i, (mac, acc, fifo) in enumerate(zip(macs, accs, fifos)):
            m.d.sync += [st[i].psum.eq(mac.sum), st[i].block_last.eq(s1_block_last),
                         st[i].row_last.eq(s1_row_last), st[i].scale_w.eq(s1_scale_w[i]),
                         st[i].scale_x.eq(s1_scale_x)]
            m.d.comb += [fifo.w_en.eq(st_valid), fifo.w_data.eq(st[i])]
            # Skid buffer: the FIFO is read on a flip-flop (`~s_valid`), never on the
            # accumulator's ready, and the accumulator's input valid and payload (block_last
            # feeds its enables) come from flip-flops, not from the distributed RAM's read.
            # The ready only enables the main register and the two valid bits.
            m_valid, s_valid = Signal(name=f"q{i}_m_valid"), Signal(name=f"q{i}_s_valid")
            m_data = Signal(PartialSum, name=f"q{i}_m_data", reset_less=True)
            s_data = Signal(PartialSum, name=f"q{i}_s_data", reset_less=True)
            take = fifo.r_rdy & ~s_valid
            main_free = ~m_valid | acc.i.ready
            m.d.comb += [fifo.r_en.eq(~s_valid), acc.i.valid.eq(m_valid),
                         acc.i.payload.eq(m_data)]
            with m.If(~s_valid):
                m.d.sync += s_data.eq(fifo.r_data)
            with m.If(main_free):
                m.d.sync += [m_valid.eq(s_valid | take), s_valid.eq(0),
                             m_data.eq(Mux(s_valid, s_data, fifo.r_data))]
            with m.Elif(take):
                m.d.sync += s_valid.eq(1)

        # ---- y: all lanes' results together ---------------------------------------------
        all_valid = _all([a.o.valid for a in accs])
        m.d.comb += self.y.valid.eq(all_valid)
        # Driven as one Cat, not element by element: with per-element assignments Yosys once
        # read the field wire `\y__payload[1]` as bit 1 of `y__payload` (two drivers).
        m.d.comb += self.y.payload.eq(Cat(a.o.payload for a in accs))
        for a in accs:
            m.d.comb += a.o.ready.eq(self.y.ready & all_valid)
        # Timing: y's transfer is registered before it counts down `outstanding` (the valid
        # bits of every lane's accumulator meet across the engine; the count's carry chain
        # is not behind that route). `outstanding` is then the true count + y_fire_r, so
        # `busy` reads "the true count is not 0" from flip-flops, in the same cycles as before.
        y_fire_r = Signal()
        m.d.sync += y_fire_r.eq(self.y.valid & self.y.ready)
        inc = st_valid & st[0].row_last
        m.d.sync += outstanding.eq(outstanding + inc - y_fire_r)
        pending = (outstanding != 0) & ~(y_fire_r & (outstanding == 1))
        m.d.comb += self.busy.eq(starting | active | in_valid | s0_valid | s1_valid | st_valid |
                                 pending)
        return m


def _all(sigs):
    v = sigs[0]
    for s in sigs[1:]:
        v = v & s
    return v


def _any(sigs):
    v = sigs[0]
    for s in sigs[1:]:
        v = v | s
    return v
