"""Run Amaranth-simulator testbenches with waveforms on request and on failure.

``simulate(dut, bench, name="fp32_add_corners")`` runs the async testbenches against ``dut``
with one clock. With ``WAVES=1`` in the environment (or ``waves=True``) it writes
``build/waves/<name>.vcd`` and a GTKWave save file ``<name>.gtkw`` showing the DUT's ports.
If a testbench raises, the simulation is run once more with the waveform recorded and the
error is raised again with the path of the trace added to its message, so a failing unit test
leaves its waveform behind without slowing down the passing ones.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from amaranth.sim import Simulator

from .runner import BUILD_ROOT

__all__ = ["WAVES_DIR", "simulate", "waves_requested"]

WAVES_DIR = BUILD_ROOT / "waves"


def waves_requested() -> bool:
    """True when the ``WAVES`` environment variable asks for waveforms."""
    return os.environ.get("WAVES", "0") not in ("", "0")


def _run(dut, benches, processes, period, vcd: Path | None, traces):
    sim = Simulator(dut)
    if period:
        sim.add_clock(period)
    for bench in benches:
        sim.add_testbench(bench)
    for proc in processes:
        sim.add_process(proc)
    if vcd is None:
        sim.run()
        return
    vcd.parent.mkdir(parents=True, exist_ok=True)
    with sim.write_vcd(str(vcd), str(vcd.with_suffix(".gtkw")), traces=traces):
        sim.run()


def simulate(dut, *benches, name: str, processes=(), period: float = 1e-8,
             waves: bool | None = None, traces=None) -> Path | None:
    """Run ``benches`` (async testbench functions) on ``dut``; return the VCD path if written.

    Parameters
    ----------
    dut : amaranth.lib.wiring.Component
        The design; its signature's ports are the default GTKWave traces.
    *benches : async callables
        ``async def bench(ctx)`` testbenches (``sim.add_testbench``).
    name : str
        File stem of the waveform under build/waves/ (use the test's name).
    processes : iterable of async callables
        Extra ``sim.add_process`` processes (e.g. models that respond on every edge).
    period : float
        Clock period in seconds; 0 or None for a design without a clock (combinational).
    waves : bool, optional
        Force waveforms on or off; by default the ``WAVES`` environment variable decides.
    traces : optional
        Amaranth trace specification for the .gtkw file; defaults to the DUT itself.

    Raises
    ------
    Exception
        Whatever a testbench raised, with a note naming the recorded waveform.
    """
    if traces is None:
        traces = dut
    vcd = WAVES_DIR / f"{name}.vcd"
    record = waves_requested() if waves is None else waves
    try:
        _run(dut, benches, processes, period, vcd if record else None, traces)
    except Exception as exc:
        if not record:
            # The re-run fails the same way; what we want from it is its trace.
            with contextlib.suppress(Exception):
                _run(dut, benches, processes, period, vcd, traces)
        exc.add_note(f"waveform of the failing run: {vcd} (+ {vcd.with_suffix('.gtkw').name})")
        raise
    return vcd if record else None
