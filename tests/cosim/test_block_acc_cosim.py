"""BlockAccumulator emitted as Verilog, run in Verilator under cocotb: E8M0 (MXFP4, block 32)
and E4M3 (NVFP4, block 16) builds, dense and 2:4 beats, overflow/underflow/NaN scales,
back-pressure on both streams; outputs bit-exact to golden.gemv_reference."""

import pytest

from cosim.runner import run_cocotb
from hw import BlockAccumulator, NpuConfig


@pytest.mark.slow  # ~30 s each on 2 cores when the Verilator build is not cached
@pytest.mark.parametrize("fmt,block", [("e8m0", 32), ("e4m3", 16)])
def test_rows_bit_exact_in_verilator(fmt, block):
    dut = BlockAccumulator(NpuConfig(block_size=block, scale_format=fmt))
    tests, failed = run_cocotb(dut, toplevel=f"block_accumulator_{fmt}_b{block}",
                               test_module="cosim.tb.block_acc",
                               extra_env={"ACC_SCALE_FORMAT": fmt, "ACC_BLOCK": str(block)})
    assert (tests, failed) == (30, 0)
