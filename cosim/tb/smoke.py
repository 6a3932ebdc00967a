"""Toolchain smoke bench: a registered 8-bit adder, checked on a grid of inputs."""

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def registered_sum_matches_python(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 0
    checked = 0
    for a in range(0, 256, 7):
        for b in range(0, 256, 13):
            await FallingEdge(dut.clk)
            dut.a.value = a
            dut.b.value = b
            await RisingEdge(dut.clk)
            await ReadOnly()
            assert int(dut.s.value) == a + b, (a, b, int(dut.s.value))
            checked += 1
    assert checked == 37 * 20
