"""FP32Adder in Verilator: a cocotb run through the shared driver/checker, and the
10-million-pair native run (C++ harness, no Python per cycle) against numpy float32."""

import pytest

from cosim.runner import run_cocotb
from cosim.tb.fp32_add import run_native
from hw import FP32Adder


def test_cocotb_random_pairs_across_classes():
    assert run_cocotb(FP32Adder(), toplevel="fp32_adder", test_module="cosim.tb.fp32_add",
                      extra_env={"FP32_PAIRS": "3000",
                                 "FP32_LATENCY": str(FP32Adder.latency)}) == (1, 0)


def test_native_harness_small_smoke():
    result = run_native(200_000, seed=1)
    assert result["checked"] == 200_000


@pytest.mark.slow
def test_ten_million_random_pairs_bit_exact():
    result = run_native(10_000_000, seed=2024)
    print(f"FP32Adder: {result['checked']} additions checked bit-exact in "
          f"{result['total_s']:.1f} s (Verilator {result['sim_s']:.2f} s); {result['per_class']}")
    assert result["checked"] == 10_000_000
    assert min(result["per_class"].values()) > 1_000_000
