"""cocotb testbench modules, run in the simulator process by :func:`cosim.runner.run_cocotb`.

Each module here holds ``@cocotb.test`` coroutines; tests/cosim/ holds the pytest wrappers
that build the design and point the runner at the module.
"""
