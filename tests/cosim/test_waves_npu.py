"""Waveforms of the NPU top: protocol properties checked with cosim.waves on a recorded run.

The fast tests check the checkers themselves on small synthetic VCDs (each checker must be
able to fail). The ``slow`` ones record one small streaming GEMV in Verilator (VCD, its own
cached build: about three minutes the first time on the 2-core machine, seconds after) and
check on every AXI channel of the NPU's master and CSR port that VALID never falls before
READY, that no burst crosses 4 KiB, that every AR/AW burst lies inside a DRAM range the
command list names, and that DMA and compute overlap in at least 90 % of the steady state
(first GEMV start to last LOAD end, ``cosim.waves.npu_steady_state``).
"""

import numpy as np
import pytest
from vcd import VCDWriter

from cosim import waves as wv
from cosim.gtkw import enum_decoders, vcd_signals, write_gtkw
from cosim.waves import Trace, WaveformError, waves_format


def _write_vcd(path, columns: dict[str, list[int]], widths: dict[str, int] | None = None):
    """A VCD with a clock ``top.clk`` whose cycle ``c`` samples ``columns[name][c]``."""
    widths = widths or {}
    n = len(next(iter(columns.values())))
    with open(path, "w") as f, VCDWriter(f, timescale="1 ns", date="today") as w:
        clk = w.register_var("top", "clk", "wire", size=1, init=0)
        var = {}
        for name, col in columns.items():
            scope, _, leaf = name.rpartition(".")
            var[name] = w.register_var(scope, leaf, "wire", size=widths.get(name, 1),
                                       init=col[0])
        for c in range(n):
            for name, col in columns.items():   # set half a cycle before edge c
                w.change(var[name], 10 * c + 5, col[c])
            w.change(clk, 10 * c + 10, 1)
            w.change(clk, 10 * c + 15, 0)
    return path


def _channel(valid, ready, addr, length, size):
    return {"top.ch__arvalid": valid, "top.ch__arready": ready, "top.ch__araddr": addr,
            "top.ch__arlen": length, "top.ch__arsize": size}


W = {"top.ch__araddr": 32, "top.ch__arlen": 8, "top.ch__arsize": 3}


def test_valid_drops_accepts_a_held_valid_and_reports_a_fall_and_a_payload_change(tmp_path):
    ok = Trace(_write_vcd(tmp_path / "ok.vcd", _channel(
        [0, 1, 1, 1, 0, 1], [0, 0, 0, 1, 0, 1], [0, 64, 64, 64, 0, 128], [0] * 6, [3] * 6), W))
    assert wv.valid_drops(ok, "ch__ar") == []
    assert [c for c, _ in ok.transfers("ch__ar")] == [3, 5]
    fell = Trace(_write_vcd(tmp_path / "fell.vcd", _channel(
        [0, 1, 1, 0, 0, 0], [0, 0, 0, 0, 0, 0], [0, 64, 64, 0, 0, 0], [0] * 6, [3] * 6), W))
    assert wv.valid_drops(fell, "ch__ar") == [(2, "valid fell")]
    moved = Trace(_write_vcd(tmp_path / "moved.vcd", _channel(
        [0, 1, 1, 1, 0, 0], [0, 0, 0, 1, 0, 0], [0, 64, 72, 72, 0, 0], [0] * 6, [3] * 6), W))
    assert wv.valid_drops(moved, "ch__ar") == [(1, "addr changed")]
    assert wv.valid_drops(moved, "ch__ar", payload=False) == []


def test_burst_checks_find_a_4k_crossing_and_a_burst_outside_the_ranges(tmp_path):
    # beats: 16 x 8 bytes at 0xF80 (ends at 0x1000 exactly: fine), at 0xFC0 (crosses),
    # 1 x 8 bytes at 0x2000 (outside [0, 0x1400))
    t = Trace(_write_vcd(tmp_path / "ar.vcd", _channel(
        [1, 0, 1, 0, 1], [1, 0, 1, 0, 1], [0xF80, 0, 0xFC0, 0, 0x2000], [15, 0, 15, 0, 0],
        [3] * 5), W))
    bursts = wv.axi_bursts(t, "ch__ar")
    assert [(b["cycle"], b["addr"], b["bytes"]) for b in bursts] == [
        (0, 0xF80, 128), (2, 0xFC0, 128), (4, 0x2000, 8)]
    assert [b["addr"] for b in wv.bursts_crossing_4k(bursts)] == [0xFC0]
    assert [b["addr"] for b in wv.bursts_outside(bursts, [(0, 0x1400)])] == [0x2000]
    assert wv.bursts_outside(bursts, [(0, 0x1400), (0x2000, 0x2008)]) == []


def test_derive_and_override_feed_busy_overlap_and_timeline(tmp_path):
    t = Trace(_write_vcd(tmp_path / "b.vcd", {"top.a": [1, 1, 0, 0], "top.b": [0, 1, 1, 0]}))
    t.derive("a_and_b", t.samples("a") & t.samples("b"))
    assert list(t.overlap("a", "b")) == list(np.flatnonzero(t.busy("a_and_b"))) == [1]
    t.override("b", [1, 1, 1, 1])
    assert list(t.overlap("a", "b")) == [0, 1]
    assert "50.0% busy" in t.timeline({"a": "a"}, window=2)
    with pytest.raises(ValueError, match="needs 4 samples"):
        t.derive("short", [1, 0])


def test_waves_format_picks_vcd_for_short_runs_fst_for_long_and_honours_the_env(monkeypatch):
    monkeypatch.delenv("WAVES", raising=False)
    assert waves_format(None, 10) is None
    assert waves_format(True, 10) == "vcd"
    assert waves_format(True, wv.FST_ABOVE_CYCLES + 1) == "fst"
    assert waves_format("FST", 10) == "fst" and waves_format("vcd", 10**9) == "vcd"
    monkeypatch.setenv("WAVES", "1")
    assert waves_format(None, 10) == "vcd"
    monkeypatch.setenv("WAVES", "0")
    assert waves_format(None, 10) is None
    with pytest.raises(ValueError, match="WAVES must be"):
        waves_format("maybe")


def test_fst_traces_are_refused_with_a_hint(tmp_path):
    (tmp_path / "x.fst").write_bytes(b"")
    with pytest.raises(WaveformError, match="WAVES=vcd"):
        Trace(tmp_path / "x.fst")


def test_gtkw_groups_signals_by_pattern_and_decodes_enums_through_filter_files(tmp_path):
    vcd = _write_vcd(tmp_path / "g.vcd", {"top.npu.state": [0, 2], "top.npu.axi__arvalid":
                                          [0, 1], "top.npu.other": [0, 0]},
                     {"top.npu.state": 3})
    sigs = vcd_signals(vcd)
    assert sigs == {"top.clk": 1, "top.npu.state": 3, "top.npu.axi__arvalid": 1,
                    "top.npu.other": 1}
    gtkw = write_gtkw(tmp_path / "g.gtkw", vcd, sigs,
                      [("control", [r"state"]), ("AXI AR", [r"axi__ar\w+"]), ("none", ["x"])],
                      scope="top.npu", enums={"state": {0: "IDLE", 2: "RUN"}})
    text = gtkw.read_text()
    assert "-control" in text and "-AXI AR" in text and "-none" not in text
    assert "top.npu.state[2:0]" in text and "top.npu.axi__arvalid" in text
    assert "top.npu.other" not in text
    filt = tmp_path / "g.filters" / "state.txt"
    assert filt.read_text() == "0 IDLE\n2 RUN\n"
    assert f"^1 {filt.resolve()}" in text


def test_enum_decoders_name_the_npu_run_state_dma_fsm_and_opcodes():
    from hw.config import NpuConfig
    from hw.top import NpuTop

    dec = enum_decoders(NpuTop(NpuConfig()))
    assert dec["core.state"] == {0: "IDLE", 1: "CHECK", 2: "RUN", 3: "WAIT", 4: "DRAIN"}
    assert dec["core.dma.fsm_state"][0] == "IDLE"
    assert any(k.endswith(".dma.op") and v[1] == "LOAD" for k, v in dec.items())
