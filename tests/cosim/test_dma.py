"""hw.Dma + hw.Tcm in Verilator with cocotbext-axi's AxiRam (benches in cosim/tb/dma.py).

One Verilator build (small TCM, 16-beat bursts so that rows split into many bursts) runs each
group of cocotb tests: back-pressure on every AXI channel, 2-D strides, AXI errors, rejected
descriptors. Every DRAM byte and TCM word is compared with a Python model.
"""

import json

import pytest

from cosim.runner import BUILD_ROOT, run_cocotb
from cosim.tb.dma import DmaHarness
from hw import NpuConfig

CONFIG = {"tcm_banks": 4, "tcm_bank_words": 256, "dma_max_burst": 16, "dma_max_outstanding": 4}


def _run(group):
    # A filter, not ``testcase``: it must also match the parametrised names (``group/x=y``).
    return run_cocotb(DmaHarness(NpuConfig(**CONFIG)), toplevel="dma_harness",
                      test_module="cosim.tb.dma", test_dir=BUILD_ROOT / "cosim-dma" / group,
                      extra_env={"LUTNPU_DMA_CONFIG": json.dumps(CONFIG),
                                 "COCOTB_TEST_FILTER": rf"\.{group}(/.*)?$"})


@pytest.mark.parametrize("group", [
    "dram_to_tcm_1d_matches_every_byte_across_4k",
    "tcm_to_dram_1d_matches_every_byte_across_4k",
    "two_d_strided_transfer_matches_every_byte",
    "back_to_back_descriptors_and_single_beats",
    "axi_error_is_reported_with_its_address_and_never_hangs",
    "bad_descriptors_are_rejected_before_any_access",
])
def test_dma_cocotb(group):
    tests, failed = _run(group)
    assert tests >= 1 and failed == 0
