"""Tcm, Dma, VLut16 and VLutEngine emit Verilog that Verilator lints clean at the edges of NpuConfig.

Degenerate parameters (one bank, one-beat bursts, one burst outstanding, one lane) are where
zero-width signals appear; the runner's waivers are the ones the cosim builds use.
"""

import subprocess

import pytest
from amaranth.back import verilog

from cosim.runner import VERILATOR_WAIVERS, verilator_env
from hw import Dma, NpuConfig, Tcm, VLut16, VLutEngine

EDGES = {
    "minimal": {"tcm_banks": 1, "tcm_bank_words": 16, "dma_max_burst": 1,
                "dma_max_outstanding": 1, "vlut_lanes": 1},
    "maximal": {"bus_data_bits": 128, "tcm_word_bits": 128, "bus_addr_bits": 64,
                "tcm_banks": 16, "tcm_bank_words": 16, "dma_max_burst": 256,
                "dma_max_outstanding": 16, "vlut_lanes": 64},
}


@pytest.mark.parametrize("edge", sorted(EDGES))
@pytest.mark.parametrize("block", [Tcm, Dma, VLut16, VLutEngine], ids=lambda b: b.__name__)
def test_block_lints_clean_at_config_edge(block, edge, tmp_path):
    verilator_env()
    src = tmp_path / "top.v"
    src.write_text(verilog.convert(block(NpuConfig(**EDGES[edge])), name="top", emit_src=False))
    r = subprocess.run(["verilator", "--lint-only", "-Wall", *VERILATOR_WAIVERS, str(src),
                        "--top-module", "top"], capture_output=True, text=True, check=False)
    assert r.returncode == 0, r.stderr[:2000]
