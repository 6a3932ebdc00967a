"""hw.Dma + hw.Tcm in Verilator with cocotbext-axi's AxiRam (benches in cosim/tb/dma.py).

Two builds: ``small`` (64-bit bus, 1024-word TCM in 4 banks, 16-beat bursts so that rows
split into many bursts, 4 outstanding) runs every group of cocotb tests; ``narrow`` (32-bit
bus, 2 banks, 256-beat bursts, one burst outstanding) runs the transfer and error groups
again. Back-pressure on every AXI channel, 2-D strides, AXI errors and rejected descriptors;
every DRAM byte and TCM word is compared with a Python model.
"""

import json

import pytest

from cosim.runner import BUILD_ROOT, run_cocotb
from cosim.tb.dma import DmaHarness
from hw import NpuConfig

CONFIGS = {
    "small": {"tcm_banks": 4, "tcm_bank_words": 256, "dma_max_burst": 16,
              "dma_max_outstanding": 4},
    "narrow": {"bus_data_bits": 32, "tcm_word_bits": 32, "tcm_banks": 2,
               "tcm_bank_words": 512, "dma_max_burst": 256, "dma_max_outstanding": 1},
}

GROUPS = [
    "dram_to_tcm_1d_matches_every_byte_across_4k",
    "tcm_to_dram_1d_matches_every_byte_across_4k",
    "two_d_strided_transfer_matches_every_byte",
    "back_to_back_descriptors_and_single_beats",
    "axi_error_is_reported_with_its_address_and_never_hangs",
    "bad_descriptors_are_rejected_before_any_access",
]


def _run(config_name, group):
    config = CONFIGS[config_name]
    # A filter, not ``testcase``: it must also match the parametrised names (``group/x=y``).
    return run_cocotb(DmaHarness(NpuConfig(**config)), toplevel="dma_harness",
                      test_module="cosim.tb.dma",
                      test_dir=BUILD_ROOT / "cosim-dma" / config_name / group,
                      extra_env={"LUTNPU_DMA_CONFIG": json.dumps(config),
                                 "COCOTB_TEST_FILTER": rf"\.{group}(/.*)?$"})


@pytest.mark.parametrize("group", GROUPS)
def test_dma_cocotb_small_config(group):
    tests, failed = _run("small", group)
    assert tests >= 1 and failed == 0


@pytest.mark.parametrize("group", [GROUPS[0], GROUPS[2], GROUPS[4], GROUPS[5]])
def test_dma_cocotb_32bit_bus_one_outstanding(group):
    tests, failed = _run("narrow", group)
    assert tests >= 1 and failed == 0
