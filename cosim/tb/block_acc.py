"""hw.BlockAccumulator in Verilator: rows of partial-sum beats from golden operands, random
valid/ready back-pressure on both streams, every row bit-exact to golden.gemv_reference.

Build-time parameters come from the environment (set by tests/cosim/test_block_acc.py):
``ACC_SCALE_FORMAT``, ``ACC_BLOCK``.
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock

from cosim.checker import InOrderChecker
from cosim.driver import (
    StreamSink,
    StreamSource,
    block_accumulator_beats,
    pause_pattern,
    random_block_operands,
)
from golden import gemv_reference


@cocotb.test()
@cocotb.parametrize(
    sparse=[False, True],
    scales=["random", "overflow", "underflow", "nan", "any"],
    pauses=[("none", "none"), ("random", "random"), ("bursty", "alternate")],
)
async def rows_match_gemv_reference(dut, sparse, scales, pauses):
    fmt = os.environ["ACC_SCALE_FORMAT"]
    block = int(os.environ["ACC_BLOCK"])
    if fmt == "e8m0" and scales == "any":
        scales = "random"
    seed = hash((sparse, scales, pauses)) & 0xFFFF
    rng = np.random.default_rng(seed)
    m, k = 48, block * int(rng.integers(1, 5))
    w, x = random_block_operands(rng, m, k, block=block, scale_format=fmt, sparse=sparse,
                                 scales=scales)
    want = gemv_reference(w, x).view(np.uint32)
    checker = InOrderChecker(f"block_acc {fmt} b{block} sparse={sparse} {scales}",
                             fmt=lambda v: f"{v:#010x}")
    checker.expect_all([int(v) for v in want], [f"row {i}" for i in range(m)])

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    src = StreamSource(dut, dut.clk, "i", pause_pattern(pauses[0], seed))
    sink = StreamSink(dut, dut.clk, "o", checker.check, pause_pattern(pauses[1], seed + 1))
    from cocotb.triggers import ClockCycles
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    sink_task = cocotb.start_soon(sink.run(m))
    await src.send(block_accumulator_beats(w, x, sparse=sparse))
    await sink_task
    # No extra row may appear afterwards.
    dut.o__ready.value = 1
    for _ in range(20):
        await ClockCycles(dut.clk, 1)
        assert int(dut.o__valid.value) == 0, "extra output word"
    assert checker.finish() == m
