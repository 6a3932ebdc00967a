"""`make sim` (python -m cosim.sim) runs the NPU RTL and reports a bit-exact verdict."""

import re

from cosim import sim


def test_sim_runs_the_rtl_and_reports_bit_exact(capsys):
    # Amaranth's simulator keeps this test free of the Verilator build; the Verilator path of
    # the same driver is exercised by tests/cosim/test_npu.py.
    assert sim.main(["--m", "16", "--k", "128", "--seed", "5", "--simulator", "amaranth"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"bit-exact vs gemv_reference +: YES", out)
    assert re.search(r"status +: error=NONE, done=1", out)
    assert "cycles / bound" in out and "MAC utilisation" in out


def test_small_flag_picks_the_small_shape(capsys):
    assert sim.main(["--small", "--golden-only"]) == 0
    assert "M=64 x K=1024" in capsys.readouterr().out


def test_public_cosim_run_gemv_is_bit_exact_to_gemv_reference():
    """SPEC section 8: `cosim.run_gemv` is the public entry point (Amaranth sim keeps it fast)."""
    import numpy as np

    import cosim
    from golden import gemv_reference

    wl = sim.make_workload(8, 64, scale="e4m3", seed=11)
    run = cosim.run_gemv(wl.w, wl.x, sparse=True, simulator="amaranth")
    assert np.array_equal(run.y.view(np.uint32), gemv_reference(wl.w, wl.x).view(np.uint32))
    assert run.cycles > 0 and run.bound_cycles > 0 and "mac_active" in run.counters
