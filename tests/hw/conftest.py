"""Shared Amaranth-simulator harness for tests/hw: ``rtl_run(dut, cases, outputs)``."""

from __future__ import annotations

import pytest
from amaranth.sim import Simulator


def _resolve(dut, path: str):
    obj = dut
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


def _plain(value):
    """A read-back value as plain Python: ints stay ints, array views become lists."""
    if isinstance(value, int):
        return value
    try:
        return [_plain(v) for v in value]
    except TypeError:
        return value.as_value().value if hasattr(value, "as_value") else int(value)


def rtl_run(dut, cases, outputs, *, latency: int = 0, clocked: bool | None = None):
    """Drive ``cases`` into ``dut`` in Amaranth's simulator and return the outputs per case.

    Parameters
    ----------
    dut : wiring.Component
    cases : list of dict
        Port path (``"a"``, ``"i.payload"``) -> value, one dict per case.
    outputs : list of str
        Port paths read for each case.
    latency : int
        Cycles from a case's inputs to its outputs. 0 with ``clocked=False`` runs the cases
        combinationally (no clock); otherwise one case is applied per clock cycle (fully
        pipelined) and its outputs are read ``latency`` cycles later.

    Returns
    -------
    list of dict
        Output path -> int (or list for array layouts), aligned with ``cases``.
    """
    if clocked is None:
        clocked = latency > 0
    results: list[dict] = []
    sim = Simulator(dut)
    ports_in = sorted({k for c in cases for k in c})
    in_sigs = {k: _resolve(dut, k) for k in ports_in}
    out_sigs = {k: _resolve(dut, k) for k in outputs}

    async def bench(ctx):
        n = len(cases)
        for i in range(n + (latency if clocked else 0)):
            if i < n:
                for k, v in cases[i].items():
                    ctx.set(in_sigs[k], v)
            if i >= (latency if clocked else 0):
                results.append({k: _plain(ctx.get(s)) for k, s in out_sigs.items()})
            if clocked:
                await ctx.tick()

    if clocked:
        sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.run()
    assert len(results) == len(cases)
    return results


@pytest.fixture(name="rtl_run")
def rtl_run_fixture():
    return rtl_run
