"""hw.synth: the synthesis script runs on the E2M1 multiplier and its reports are parsed.

Full synthesis of the NPU is not part of ``make test`` (minutes); ``make synth`` runs it.
"""

import json

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


def test_suite_covers_every_block_both_multipliers_and_two_tops():
    keys = [k for k, *_ in synth.suite()]
    assert set(synth.BLOCKS) <= set(keys)
    assert "e2m1_multiplier_arith" in keys and synth.TOP_NAME in keys
    larger = [(k, o) for k, name, o, _ in synth.suite() if name == synth.TOP_NAME and o]
    assert larger and larger[0][1]["lanes"] > 8
