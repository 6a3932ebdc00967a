"""The Verilog CLI (``python -m hw``), Verilator -Wall lint of every registered block, and
the Yosys ECP5 cell-count script (``python -m hw.synth``)."""

import subprocess
import sys

import pytest

from cosim.runner import VERILATOR_WAIVERS, verilator_env
from hw import NpuConfig
from hw.__main__ import BLOCKS, emit_block, main

# Extra build configurations worth linting beyond the default NpuConfig.
VARIANTS = {"block_accumulator": [NpuConfig(scale_format="e4m3", block_size=16)]}
LINT_CASES = [(name, None) for name in sorted(BLOCKS)] + [
    (name, cfg) for name, cfgs in VARIANTS.items() for cfg in cfgs]


@pytest.mark.parametrize("name,config", LINT_CASES,
                         ids=[n if c is None else f"{n}-{c.scale_format}-b{c.block_size}"
                              for n, c in LINT_CASES])
def test_verilator_lint_wall_with_documented_waivers(tmp_path, name, config):
    verilator_env()
    src = tmp_path / f"{name}.v"
    src.write_text(emit_block(name, config))
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", *VERILATOR_WAIVERS,
                           "--top-module", name, str(src)], capture_output=True, text=True,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_cli_writes_verilog_for_a_block(tmp_path, capsys):
    out = tmp_path / "fa.v"
    assert main(["verilog", "--block", "fp32_adder", "-o", str(out)]) == 0
    text = out.read_text()
    assert "module fp32_adder" in text and "input [31:0] a" in text


def test_cli_passes_config_options(tmp_path):
    out = tmp_path / "acc.v"
    assert main(["verilog", "--block", "block_accumulator", "--scale-format", "e4m3",
                 "--block-size", "16", "-o", str(out)]) == 0
    assert "module block_accumulator" in out.read_text()


def test_cli_rejects_bad_config_with_the_parameter_name(capsys):
    assert main(["verilog", "--block", "e2m1_multiplier", "--lanes", "3"]) == 2
    assert "NpuConfig.lanes" in capsys.readouterr().err


def test_cli_top_emits_the_npu_top_with_its_contract_ports(tmp_path):
    out = tmp_path / "top.v"
    assert main(["verilog", "--top", "--lanes", "4", "-o", str(out)]) == 0
    text = out.read_text()
    assert "module lutnpu_top(" in text
    for port in ("csr__awaddr", "csr__rdata", "axi__araddr", "axi__wdata", "irq"):
        assert port in text, port


def test_cli_unknown_block_is_an_argparse_error():
    proc = subprocess.run([sys.executable, "-m", "hw", "verilog", "--block", "nope"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 2 and "invalid choice" in proc.stderr


@pytest.mark.slow  # the first YoWASP run on a machine compiles Yosys to native code (~1 min)
def test_synth_script_counts_e2m1_multiplier_cells(tmp_path):
    import json

    from hw.synth import REPORTED_CELLS
    from hw.synth import main as synth_main

    out = tmp_path / "e2m1.json"
    assert synth_main(["--block", "e2m1_multiplier", "--json", str(out)]) == 0

    r = json.loads(out.read_text())
    assert set(REPORTED_CELLS) <= set(r)
    # A 256-entry, 9-bit-wide combinational ROM: LUTs only, no flops, carries, RAM or DSP.
    assert 40 <= r["LUT4"] <= 600
    assert r["TRELLIS_FF"] == r["DP16KD"] == r["MULT18X18D"] == 0
    assert r["cells"] >= r["LUT4"]


def test_stat_parser_on_a_yosys_stat_json():
    from hw.synth import parse_stat_json

    text = """{"modules": {"\\\\top": {"num_cells": 7, "num_cells_by_type":
               {"LUT4": 3, "TRELLIS_FF": 2, "CCU2C": 1, "PFUMX": 1}}},
               "design": {"num_cells": 7, "num_cells_by_type": {}}}"""
    r = parse_stat_json(text, "top")
    assert r == {"LUT4": 3, "CCU2C": 1, "TRELLIS_FF": 2, "DP16KD": 0, "MULT18X18D": 0,
                 "cells": 7, "PFUMX": 1}


def test_npu_top_verilator_lint_wall(tmp_path):
    import hw

    if not hasattr(hw, "NpuTop"):
        pytest.skip("hw.NpuTop has not landed yet")
    from amaranth.back import verilog

    from hw.__main__ import build_top

    verilator_env()
    src = tmp_path / "lutnpu_top.v"
    src.write_text(verilog.convert(build_top(), name="lutnpu_top", emit_src=False))
    proc = subprocess.run(["verilator", "--lint-only", "-Wall", *VERILATOR_WAIVERS,
                           "--top-module", "lutnpu_top", str(src)], capture_output=True,
                          text=True, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
