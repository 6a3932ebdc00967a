"""Waveforms of the NPU top: protocol properties checked with cosim.waves on a recorded run.

The fast tests check the checkers themselves on small synthetic VCDs (each checker must be
able to fail). The ``slow`` ones record one small streaming GEMV in Verilator (VCD, its own
cached build: about three minutes the first time on the 2-core machine, seconds after) and
check on every AXI channel of the NPU's master and CSR port that VALID never falls before
READY, that no burst crosses 4 KiB, that every AR/AW burst lies inside a DRAM range the
command list names, and that DMA and compute overlap in at least 90 % of the steady state
(first GEMV start to last LOAD end, ``cosim.waves.npu_steady_state``).
"""

import itertools
import os

import numpy as np
import pytest
from vcd import VCDWriter

from cosim import waves as wv
from cosim.gtkw import enum_decoders, vcd_signals, write_gtkw
from cosim.waves import Trace, WaveformError, waves_format

# One xdist worker runs this module, so the recording below is made once (make test uses
# --dist loadgroup).
pytestmark = pytest.mark.xdist_group("waves_npu_recording")


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


# ---- a recorded streaming GEMV on the Verilator NPU ------------------------------------------

M, K, TILE_ROWS = 128, 512, 2      # 8 tiles of 2 row tiles: LOAD of tile t+1 beside GEMV t


@pytest.fixture(scope="module")
def recorded():  # the tests using it share one xdist worker (xdist_group below)
    """Run a small streaming GEMV with a full VCD, keep the checked signals, check y."""
    import re
    import shutil

    from cosim.npu import run_program_verilator
    from golden import gemv_reference, quant
    from golden.compile import compile_gemv
    from hw.config import NpuConfig

    rng = np.random.default_rng(6)
    w = quant.quantize_mxfp4(rng.standard_normal((M, K)).astype(np.float32))
    x = quant.quantize_mxfp4(rng.standard_normal(K).astype(np.float32))
    prog = compile_gemv(w, x, config=NpuConfig(), sparse=False, tile_rows=TILE_ROWS)
    # Per xdist worker: two workers recording at once must not share (and delete) one file.
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    run = run_program_verilator(prog, waves="vcd", waves_name=f"test_waves_npu_full_{worker}")
    assert np.array_equal(run.y.view(np.uint32), gemv_reference(w, x).view(np.uint32))
    full = run.extra["waves"]
    gtkw_text = full.with_suffix(".gtkw").read_text()
    state_filter = full.with_suffix(".filters") / "core.state.txt"
    facts = {"gtkw": gtkw_text, "state_filter": state_filter.read_text(),
             "full_bytes": full.stat().st_size}
    # The whole-design VCD is ~20 KB per cycle; keep only what the checks read.
    keep = re.compile(r"lutnpu_npu_sim\.npu\.(" + "|".join(wv.NPU_ESSENTIALS) + ")")
    small = full.with_name(f"test_waves_npu_{worker}.vcd")
    wv.filter_vcd(full, small, lambda name: bool(keep.fullmatch(name)))
    full.unlink()
    full.with_suffix(".gtkw").unlink()
    shutil.rmtree(full.with_suffix(".filters"))
    return Trace(small), prog, run, facts


@pytest.fixture
def mutable(recorded):
    """The recorded trace; signals overridden by a test are restored afterwards."""
    trace = recorded[0]
    saved = {}

    def override(name, values):
        full = trace.resolve(name)
        saved.setdefault(full, trace.samples(full).copy())
        trace.override(full, values)

    yield trace, override
    for full, values in saved.items():
        trace.override(full, values)


CHANNELS = [f"npu.{port}__{ch}" for port in ("axi", "csr") for ch in ("ar", "r", "aw", "w", "b")]


def _command_ranges(prog):
    """DRAM byte ranges named by the command list in the image: (reads, writes)."""
    from hw.commands import COMMAND_BYTES, Opcode, decode_list

    off = prog.cmd_addr - prog.dram_base
    cmds = decode_list(bytes(prog.image[off:off + COMMAND_BYTES * prog.cmd_count]))
    reads = [(prog.cmd_addr, prog.cmd_addr + COMMAND_BYTES * prog.cmd_count)]
    writes = []
    for op, f in cmds:
        if op in (Opcode.LOAD, Opcode.STORE):
            rng = (f["dram_addr"], f["dram_addr"] + f["length"])
            (reads if op == Opcode.LOAD else writes).append(rng)
    return reads, writes


@pytest.mark.slow
def test_recording_has_a_grouped_gtkw_with_decoded_states(recorded):
    _, _, run, facts = recorded
    for group in ("CSR port", "command processor", "DMA AXI AR", "DMA AXI W", "TCM banks",
                  "lane 0: MAC pair + accumulator", "lane 7: MAC pair + accumulator"):
        assert f"-{group}" in facts["gtkw"]
    assert "lutnpu_npu_sim.npu.engine.mac3.sum[9:0]" in facts["gtkw"]
    assert facts["state_filter"].splitlines()[2] == "2 RUN"
    assert run.status["done"] == 1


@pytest.mark.slow
def test_axi_valid_never_falls_before_ready_on_any_channel(recorded):
    trace = recorded[0]
    for ch in CHANNELS:
        assert trace.transfers(ch, fields=[]), f"{ch} carried nothing"
        assert wv.valid_drops(trace, ch) == [], ch


@pytest.mark.slow
def test_valid_drops_catches_a_valid_withdrawn_from_the_recording(mutable):
    trace, override = mutable
    v, r = trace.samples("npu.axi__arvalid"), trace.samples("npu.axi__arready")
    stalled = np.flatnonzero((v[:-1] == 1) & (r[:-1] == 0))
    assert stalled.size, "the recording has no AR stall to break"
    c = int(stalled[0])
    broken = v.copy()
    broken[c + 1] = 0
    override("npu.axi__arvalid", broken)
    assert (c, "valid fell") in wv.valid_drops(trace, "npu.axi__ar")


@pytest.mark.slow
def test_no_burst_crosses_4k_and_loads_are_split_at_the_boundary(recorded):
    trace = recorded[0]
    ar, aw = wv.axi_bursts(trace, "npu.axi__ar"), wv.axi_bursts(trace, "npu.axi__aw")
    assert ar and aw
    assert wv.bursts_crossing_4k(ar) == [] and wv.bursts_crossing_4k(aw) == []
    # The check is exercised: some burst ends exactly on a 4 KiB page that the next continues.
    assert any(b["end"] % 4096 == 0 and n["addr"] == b["end"] for b, n in itertools.pairwise(ar))


@pytest.mark.slow
def test_4k_check_catches_a_burst_moved_across_a_page(mutable):
    trace, override = mutable
    beat = next(b for b in wv.axi_bursts(trace, "npu.axi__ar") if b["bytes"] > 8)
    addr = trace.samples("npu.axi__araddr").copy()
    addr[beat["cycle"]] = 0x10000 - 8            # the same burst, now straddling 0x10000
    override("npu.axi__araddr", addr)
    crossing = wv.bursts_crossing_4k(wv.axi_bursts(trace, "npu.axi__ar"))
    assert [b["cycle"] for b in crossing] == [beat["cycle"]]


@pytest.mark.slow
def test_every_burst_lies_inside_a_range_the_command_list_names(recorded, mutable):
    trace, prog = recorded[0], recorded[1]
    reads, writes = _command_ranges(prog)
    assert len(reads) > 8 and writes
    assert wv.bursts_outside(wv.axi_bursts(trace, "npu.axi__ar"), reads) == []
    assert wv.bursts_outside(wv.axi_bursts(trace, "npu.axi__aw"), writes) == []
    # and the check fails on a burst moved past the image
    _, override = mutable
    beat = wv.axi_bursts(trace, "npu.axi__aw")[0]
    addr = trace.samples("npu.axi__awaddr").copy()
    addr[beat["cycle"]] = prog.dram_base + len(prog.image)
    override("npu.axi__awaddr", addr)
    bad = wv.bursts_outside(wv.axi_bursts(trace, "npu.axi__aw"), writes)
    assert [b["cycle"] for b in bad] == [beat["cycle"]]


def _overlap(trace):
    start, stop = wv.npu_steady_state(trace)
    units = wv.npu_units(trace)
    dma = trace.busy(units["dma read"]) | trace.busy(units["dma write"])
    return float((dma & trace.busy(units["compute"]))[start:stop].mean()), start, stop


@pytest.mark.slow
def test_dma_and_compute_overlap_in_90_percent_of_the_steady_state(recorded):
    trace = recorded[0]
    frac, start, stop = _overlap(trace)
    # steady state: first GEMV start .. last LOAD end, most of the run
    assert stop - start > 0.6 * trace.cycles
    assert frac >= 0.90, f"overlap {frac:.1%} in cycles {start}..{stop}"


@pytest.mark.slow
def test_overlap_check_fails_when_compute_idles_for_half_the_steady_state(mutable):
    trace, override = mutable
    _, start, stop = _overlap(trace)
    comp = trace.samples("core.comp_busy").copy()
    comp[(start + stop) // 2:stop - 1] = 0
    override("core.comp_busy", comp)
    assert _overlap(trace)[0] < 0.6


@pytest.mark.slow
def test_lutnpu_waves_timeline_and_check_on_the_recording(recorded, capsys):
    from cosim.cli import main

    path = str(recorded[0]._path)
    assert main(["waves", path, "--timeline", "--window", "256"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split("|")[0].strip() for line in out[1:]] == [
        "dma read", "dma write", "compute", "mac", "fetch"]
    assert main(["waves", path, "--check"]) == 0
    out = capsys.readouterr().out
    assert "BROKEN" not in out and "DMA and compute overlap in" in out
    assert main(["waves", path, "--transfers", "npu.axi__aw"]) == 0
    assert capsys.readouterr().out.count("addr=") == len(wv.axi_bursts(recorded[0],
                                                                        "npu.axi__aw"))


def test_npu_gtkw_for_an_fst_trace_takes_names_from_the_design(tmp_path):
    from cosim.gtkw import write_npu_gtkw
    from hw.config import NpuConfig
    from hw.top import NpuTop

    fst = tmp_path / "run.fst"
    fst.write_bytes(b"")                  # the header is not read for FST
    text = write_npu_gtkw(fst, NpuTop(NpuConfig())).read_text()
    assert f'[dumpfile] "{fst.resolve()}"' in text
    for name in ("lutnpu_npu_sim.npu.core.state[2:0]", "lutnpu_npu_sim.npu.axi__araddr[31:0]",
                 "lutnpu_npu_sim.npu.engine.acc7.o__valid"):
        assert name in text
    assert (tmp_path / "run.filters" / "core.dma.fsm_state.txt").read_text().startswith(
        "0 IDLE\n")
