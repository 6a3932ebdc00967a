"""lutnpu cosimulation: cocotb benches, Verilator/Amaranth runners, waveform tools.

``cosim.run_gemv(w, x, *, sparse=False, config=None, simulator="verilator", waves=None)``
runs a GEMV on the NPU top and returns y (bit-exact to ``golden.gemv_reference``), cycles,
counters and bound_cycles (SPEC section 8).
"""


def run_gemv(w, x, *, sparse=False, config=None, simulator="verilator", waves=None, **kw):
    """Compile and run ``W x`` on ``hw.NpuTop``; see :func:`cosim.npu.run_gemv`."""
    # Imported on use: `import cosim` stays light for cocotb bench modules and the CLI.
    from .npu import run_gemv as _run_gemv

    return _run_gemv(w, x, sparse=sparse, config=config, simulator=simulator, waves=waves,
                     **kw)


__all__ = ["run_gemv"]
