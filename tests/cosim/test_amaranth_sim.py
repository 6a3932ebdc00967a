"""cosim.amaranth_sim writes waveforms when asked and always for a failing testbench."""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import cosim.amaranth_sim as asim
from cosim.waves import Trace


class Doubler(wiring.Component):
    a: In(8)
    y: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(self.a * 2)
        return m


@pytest.fixture
def waves_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(asim, "WAVES_DIR", tmp_path)
    monkeypatch.delenv("WAVES", raising=False)
    return tmp_path


def _bench(dut, expected_factor):
    async def bench(ctx):
        for a in range(10):
            ctx.set(dut.a, a)
            await ctx.tick()
            assert ctx.get(dut.y) == a * expected_factor, f"a={a}"
    return bench


def test_passing_run_writes_no_waveform_unless_asked(waves_dir):
    dut = Doubler()
    assert asim.simulate(dut, _bench(dut, 2), name="ok") is None
    assert not any(waves_dir.iterdir())


def test_waves_env_writes_vcd_and_gtkw(waves_dir, monkeypatch):
    monkeypatch.setenv("WAVES", "1")
    dut = Doubler()
    vcd = asim.simulate(dut, _bench(dut, 2), name="asked")
    assert vcd == waves_dir / "asked.vcd" and vcd.exists()
    assert (waves_dir / "asked.gtkw").exists()
    assert Trace(vcd).samples("y")[5] == 8  # cycle 5 shows the result of a=4


def test_failing_run_leaves_its_waveform_and_names_it(waves_dir):
    dut = Doubler()
    with pytest.raises(AssertionError, match="a=1") as info:
        asim.simulate(dut, _bench(dut, 3), name="broken")
    assert (waves_dir / "broken.vcd").exists()
    assert any("broken.vcd" in note for note in info.value.__notes__)
