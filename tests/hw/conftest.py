"""Shared Amaranth-simulator harness for tests/hw: ``rtl_run(dut, cases, outputs)``.

Simulations run through ``cosim.amaranth_sim.simulate``: with ``WAVES=1`` each ``rtl_run``
of a test writes ``build/waves/<test name>[-<n>].vcd`` and a ``.gtkw`` showing the DUT's
ports. When a test that used the ``rtl_run`` fixture fails (its assertions run after the
simulation), its runs are simulated once more with the waveform recorded, and the report
names the files (section "waveforms").
"""

from __future__ import annotations

import re

import pytest

from cosim.amaranth_sim import WAVES_DIR, simulate, waves_requested


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


def rtl_run(dut, cases, outputs, *, latency: int = 0, clocked: bool | None = None,
            name: str | None = None, waves: bool | None = None):
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
    name : str, optional
        Waveform file stem under build/waves/ (the fixture passes the test's name).
    waves : bool, optional
        Record the waveform; by default the ``WAVES`` environment variable decides.

    Returns
    -------
    list of dict
        Output path -> int (or list for array layouts), aligned with ``cases``.
    """
    if clocked is None:
        clocked = latency > 0
    results: list[dict] = []
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

    simulate(dut, bench, name=name or f"rtl_run_{type(dut).__name__}",
             period=1e-8 if clocked else None, waves=waves)
    assert len(results) == len(cases)
    return results


def _stem(item, n: int) -> str:
    stem = re.sub(r"[^\w.-]+", "_", item.name)
    return stem if n == 0 else f"{stem}-{n}"


@pytest.fixture(name="rtl_run")
def rtl_run_fixture(request):
    """``rtl_run`` that names its waveforms after the test and remembers its runs."""
    runs = request.node._rtl_runs = []

    def run(dut, cases, outputs, **kw):
        name = _stem(request.node, len(runs))
        runs.append((dut, cases, outputs, kw, name))
        return rtl_run(dut, cases, outputs, name=name, **kw)

    return run


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    runs = getattr(item, "_rtl_runs", None)
    if report.when != "call" or not report.failed or not runs:
        return
    paths = []
    for dut, cases, outputs, kw, name in runs:
        if not waves_requested():
            try:
                rtl_run(dut, cases, outputs, name=name, waves=True, **kw)
            except Exception as exc:  # noqa: BLE001 - the trace is what we want here
                paths.append(f"(re-run raised {exc!r})")
        paths.append(f"{WAVES_DIR / name}.vcd (+ .gtkw)")
    report.sections.append(("waveforms", "\n".join(paths)))
