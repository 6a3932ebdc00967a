"""cosim.waves reads back, cycle by cycle, what an Amaranth simulation recorded."""

import random

import numpy as np
import pytest
from amaranth import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import Out
from amaranth.sim import Simulator

from cosim.waves import Trace, WaveformError


class CountingSource(wiring.Component):
    """Emits 0, 1, 2, ... on a stream; `busy` is high while a beat waits."""

    o: Out(stream.Signature(8))
    busy: Out(1)
    gate: Out(1)  # driven by the testbench through a port, to make `valid` irregular

    def elaborate(self, platform):
        m = Module()
        count = Signal(8)
        m.d.comb += [self.o.payload.eq(count), self.o.valid.eq(self.gate),
                     self.busy.eq(self.o.valid & ~self.o.ready)]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += count.eq(count + 1)
        return m


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Run the source under random valid/ready and record what the testbench saw."""
    dut = CountingSource()
    rng = random.Random(1234)
    seen = {"transfers": [], "payload": [], "busy": []}

    async def bench(ctx):
        for cycle in range(300):
            ctx.set(dut.gate, rng.random() < 0.7)
            ctx.set(dut.o.ready, rng.random() < 0.6)
            payload, valid, ready = ctx.get(dut.o.payload), ctx.get(dut.o.valid), ctx.get(
                dut.o.ready)
            seen["payload"].append(payload)
            seen["busy"].append(ctx.get(dut.busy))
            if valid and ready:
                seen["transfers"].append((cycle, payload))
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    path = tmp_path_factory.mktemp("waves") / "source.vcd"
    with sim.write_vcd(str(path)):
        sim.run()
    return Trace(path), seen


def test_per_cycle_samples_equal_what_the_testbench_saw(recorded):
    trace, seen = recorded
    n = len(seen["payload"])
    assert trace.cycles >= n
    assert list(trace.samples("o__payload")[:n]) == seen["payload"]
    assert trace.value("o__payload", 17) == seen["payload"][17]


def test_transfers_are_the_valid_and_ready_beats(recorded):
    trace, seen = recorded
    beats = [(c, f["payload"]) for c, f in trace.transfers("o__")
             if c < len(seen["payload"])]
    assert beats == seen["transfers"]
    assert len(beats) > 50
    # The source counts: the n-th beat carries n.
    assert [p for _, p in beats] == list(range(len(beats)))


def test_cycles_where_and_overlap_match_the_recorded_condition(recorded):
    trace, seen = recorded
    n = len(seen["busy"])
    stalled = trace.cycles_where(lambda s: (s["v"] == 1) & (s["r"] == 0),
                                 v="o__valid", r="o__ready")
    expected = np.flatnonzero(np.array(seen["busy"]) == 1)
    assert list(stalled[stalled < n]) == list(expected)
    assert list(trace.overlap("o__valid", "busy")[:len(expected)]) == list(expected)


def test_timeline_shows_each_unit_with_its_busy_fraction(recorded):
    trace, seen = recorded
    text = trace.timeline({"valid": "o__valid", "stall": "busy"}, window=30, stop=300)
    lines = text.splitlines()
    assert len(lines) == 3 and lines[1].lstrip().startswith("valid |")
    assert len(lines[1].split("|")[1]) == 10
    frac = np.mean(seen["busy"])
    assert f"{frac:6.1%}" in lines[2]


def test_missing_and_ambiguous_names_raise(recorded):
    trace, _ = recorded
    with pytest.raises(WaveformError, match="no signal"):
        trace.samples("nonexistent")
    with pytest.raises(IndexError):
        trace.value("o__payload", trace.cycles)


def test_lutnpu_waves_command_prints_transfers_and_rejects_unknown_signals(
        recorded, capsys):
    from cosim.cli import main

    trace, seen = recorded
    path = str(trace._path)
    assert main(["waves", path, "--transfers", "o__"]) == 0
    out = capsys.readouterr().out.splitlines()
    first_cycle, first_payload = seen["transfers"][0]
    assert out[0] == f"{first_cycle} payload={first_payload:#x}"
    assert main(["waves", path, "--value", "nope"]) == 2
    assert "no signal 'nope'" in capsys.readouterr().err
