"""SparseMacPair emitted as Verilog and run in Verilator under cocotb (all 8 pattern codes)."""

from cosim.runner import run_cocotb
from hw import SparseMacPair


def test_every_pattern_code_in_verilator():
    assert run_cocotb(SparseMacPair(), toplevel="sparse_mac_pair",
                      test_module="cosim.tb.sparse_mac") == (8, 0)
