"""GEMV engine: L lanes of SparseMacPair -> BlockAccumulator, activations broadcast.

One *step* feeds every lane one 2:4 group (2 weight codes + pattern, 4 activations) or, for
dense weights, one pair (2 weight codes, pattern forced to 0, activations x[0], x[1]). A
block takes ``block_size/4`` steps (2:4) or ``block_size/2`` steps (dense); the block's scale
codes ride on every step and are used on its last step. The engine counts steps, blocks and
row tiles from the job it accepted, so the step stream carries data only; the NPU top's
operand feeder builds it from the TCM layout of docs/architecture.md.
"""

from amaranth import Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .block_acc import BlockAccumulator, PartialSum
from .config import NpuConfig
from .sparse_mac import ACT_LAYOUT, WEIGHT_LAYOUT, SparseMacPair

__all__ = ["GemvEngine", "GemvJob", "gemv_fault_layout", "gemv_step_layout"]


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

    Per step, lane ``i`` computes ``SparseMacPair(x, w[i], pattern[i]).sum`` (registered)
    and feeds it to its :class:`BlockAccumulator`, which closes a block every
    ``steps_per_block`` steps with ``scale_w[i] * scale_x`` and accumulates the row in FP32
    in block order (SPEC section 4). With ``job.last = 0`` the row sums stay open in the
    accumulators, so the next job (same row tile, next K chunk) continues them; that job
    must have ``row_tiles == 1``.

    Throughput: one step per cycle while ``step`` is valid and ``y`` is not back-pressured.
    Latency from the last step of a row tile to its ``y``: 1 (MAC register) +
    ``BlockAccumulator.latency`` cycles.

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
        Sticky: an invalid 2:4 pattern code (6, 7) arrived (raised the cycle after that
        step was taken, from its register). The engine then takes no more steps; only row tiles whose last step came before the fault still leave on ``y``.
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
        #: Cycles from the last step of a row tile to its ``y`` beat when nothing stalls.
        self.latency = 1 + BlockAccumulator.latency_for(config)
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

    def elaborate(self, platform):
        m = Module()
        cfg = self._config
        lanes = cfg.lanes
        sp_steps, dn_steps = cfg.block_size // 4, cfg.block_size // 2

        macs = [SparseMacPair() for _ in range(lanes)]
        accs = [BlockAccumulator(cfg) for _ in range(lanes)]
        for i, (mac, acc) in enumerate(zip(macs, accs)):
            m.submodules[f"mac{i}"] = mac
            m.submodules[f"acc{i}"] = acc

        # ---- job registers and counters -------------------------------------------------
        active = Signal()
        st_invalid = Signal()                  # the registered step had an invalid pattern
        job = Signal(GemvJob)
        rt, blk, stp = Signal(16), Signal(16), Signal(8)
        gstep = Signal(32)                     # step within the row tile (for fault reports)
        outstanding = Signal(17)               # row tiles whose y has not left yet
        m.d.comb += self.job.ready.eq(~active & ~self.error & ~st_invalid)
        with m.If(self.job.valid & self.job.ready):
            m.d.sync += [active.eq(1), job.eq(self.job.payload), rt.eq(0), blk.eq(0),
                         stp.eq(0), gstep.eq(0)]

        # ---- MAC stage: one register between the pair and the accumulators --------------
        st_valid = Signal()
        st = [Signal(PartialSum, name=f"st{i}") for i in range(lanes)]
        acc_ready = Signal()
        m.d.comb += acc_ready.eq(_all([a.i.ready for a in accs]))
        # An invalid pattern is latched with its step (st_invalid) and handled from the
        # register: the step never reaches the accumulators, the engine stops taking steps
        # and raises error one cycle later. (Decoding it straight into the enables of every
        # lane's registers was the engine's critical path.)
        st_lane = Signal(range(lanes))
        st_rt = Signal(16)
        st_gstep = Signal(32)
        for a, s in zip(accs, st):
            m.d.comb += [a.i.valid.eq(st_valid & ~st_invalid & acc_ready), a.i.payload.eq(s)]
        with m.If(st_valid & st_invalid):
            m.d.sync += [st_valid.eq(0), st_invalid.eq(0), self.error.eq(1),
                         self.fault.row_tile.eq(st_rt), self.fault.step.eq(st_gstep),
                         self.fault.lane.eq(st_lane)]
        with m.Elif(st_valid & acc_ready):
            m.d.sync += st_valid.eq(0)

        p = self.step.payload
        invalid = Signal(lanes)
        for i, mac in enumerate(macs):
            m.d.comb += [mac.x.eq(p.x), mac.w.eq(p.w[i]),
                         mac.pattern.eq(Mux(job.sparse, p.pattern[i], 0))]
            m.d.comb += invalid[i].eq(mac.invalid)

        can_take = active & ~self.error & ~(st_valid & st_invalid) & (~st_valid | acc_ready)
        m.d.comb += self.step.ready.eq(can_take)
        fire = Signal()
        m.d.comb += [fire.eq(self.step.valid & can_take), self.mac_active.eq(fire),
                     self.stall_operand.eq(active & ~self.error & ~self.step.valid)]

        last_step = Signal()
        last_blk = Signal()
        last_rt = Signal()
        m.d.comb += [
            last_step.eq(stp == Mux(job.sparse, sp_steps - 1, dn_steps - 1)),
            last_blk.eq(blk == job.k_blocks - 1),
            last_rt.eq(rt == job.row_tiles - 1),
        ]
        row_last = Signal()
        m.d.comb += row_last.eq(last_step & last_blk & job.last)
        lane = Signal(range(lanes))
        for i in reversed(range(lanes)):
            with m.If(invalid[i]):
                m.d.comb += lane.eq(i)
        with m.If(fire):
            m.d.sync += [st_valid.eq(1), st_invalid.eq(invalid.any()), st_lane.eq(lane),
                         st_rt.eq(rt), st_gstep.eq(gstep)]
            for i, mac in enumerate(macs):
                m.d.sync += [st[i].psum.eq(mac.sum), st[i].block_last.eq(last_step),
                             st[i].row_last.eq(row_last), st[i].scale_w.eq(p.scale_w[i]),
                             st[i].scale_x.eq(p.scale_x)]
            m.d.sync += [stp.eq(stp + 1), gstep.eq(gstep + 1)]
            with m.If(last_step):
                m.d.sync += [stp.eq(0), blk.eq(blk + 1)]
                with m.If(last_blk):
                    m.d.sync += [blk.eq(0), rt.eq(rt + 1), gstep.eq(0)]
                    with m.If(last_rt):
                        m.d.sync += active.eq(0)
        m.d.sync += self.mac_cycles.eq(self.mac_cycles + fire)

        # ---- y: all lanes' results together ---------------------------------------------
        all_valid = _all([a.o.valid for a in accs])
        m.d.comb += self.y.valid.eq(all_valid)
        for i, a in enumerate(accs):
            m.d.comb += [self.y.payload[i].eq(a.o.payload), a.o.ready.eq(self.y.ready & all_valid)]
        y_fire = self.y.valid & self.y.ready
        inc = st_valid & ~st_invalid & acc_ready & st[0].row_last
        m.d.sync += outstanding.eq(outstanding + inc - y_fire)
        m.d.comb += self.busy.eq(active | st_valid | (outstanding != 0))
        return m


def _all(sigs):
    v = sigs[0]
    for s in sigs[1:]:
        v = v & s
    return v
