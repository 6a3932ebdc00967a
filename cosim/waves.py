"""Query recorded waveforms by clock cycle (a thin layer over ``vcdvcd``).

A :class:`Trace` turns a VCD file into per-cycle samples: cycle ``n`` is the value each
signal held just before the ``n``-th rising edge of the clock, which is what the registers
sampled at that edge. On top of that it answers the questions a debugging session asks:

- ``trace.value("dma.state", 120)``: a signal's value at a cycle;
- ``trace.cycles_where(lambda s: s["valid"] & ~s["ready"], valid="o__valid", ready="o__ready")``:
  the cycles where a condition held;
- ``trace.transfers("m_axi__ar")``: the beats on a valid/ready channel, with their payload;
- ``trace.timeline({"dma": "dma.busy", "mac": "gemv.active"}, window=64)``: a text timeline
  of which units were busy, to see pipeline overlap;
- ``trace.overlap("dma.busy", "gemv.active")``: cycles in which both units were busy.

Signal names are matched exactly or by a unique dotted suffix, so ``"o__valid"`` finds
``"bench.top.o__valid"``. Values that hold x or z bits read as ``-1``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
from vcdvcd import VCDVCD

__all__ = ["Trace", "WaveformError"]


class WaveformError(LookupError):
    """A signal is missing or ambiguous in a trace, or the trace has no clock."""


def _to_int(text: str | None) -> int:
    if text is None or re.search(r"[xXzZ]", text):
        return -1
    return int(text, 2)


class Trace:
    """A recorded waveform, sampled once per cycle of ``clock``.

    Parameters
    ----------
    path : str or Path
        A VCD file (Amaranth's ``Simulator.write_vcd`` or Verilator ``--trace``).
    clock : str
        Name (or unique suffix) of the clock whose rising edges define the cycles.

    Members
    -------
    cycles : int
        Number of rising clock edges in the trace.
    signals : list of str
        Every signal name in the trace, fully qualified.

    Raises
    ------
    WaveformError
        If the clock is not found or never rises.
    """

    def __init__(self, path, *, clock: str = "clk"):
        self._path = Path(path)
        self._vcd = VCDVCD(str(self._path), store_tvs=True)
        self.signals: list[str] = list(self._vcd.signals)
        clk = self._vcd[self.resolve(clock)]
        self._edges = np.array([t for t, v in clk.tv if v == "1"], dtype=np.int64)
        if self._edges.size == 0:
            raise WaveformError(f"clock {clock!r} never rises in {self._path}")
        self._cache: dict[str, np.ndarray] = {}

    @property
    def cycles(self) -> int:
        return int(self._edges.size)

    def resolve(self, name: str) -> str:
        """The full name of ``name``: an exact match or the unique one ending in ``.name``."""
        if name in self._vcd.references_to_ids:
            return name
        matches = [s for s in self.signals if s.endswith("." + name)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise WaveformError(f"no signal {name!r} in {self._path}")
        raise WaveformError(f"signal {name!r} is ambiguous in {self._path}: {matches[:8]}")

    def samples(self, name: str) -> np.ndarray:
        """``int64[cycles]``: the value of ``name`` just before each rising clock edge."""
        full = self.resolve(name)
        if full not in self._cache:
            tv = self._vcd[full].tv
            times = np.array([t for t, _ in tv], dtype=np.int64)
            values = np.array([_to_int(v) for _, v in tv], dtype=np.int64)
            # The last change strictly before the edge: registers sample the old value.
            idx = np.searchsorted(times, self._edges, side="left") - 1
            out = np.where(idx >= 0, values[np.maximum(idx, 0)], -1)
            self._cache[full] = out
        return self._cache[full]

    def value(self, name: str, cycle: int) -> int:
        """The value of ``name`` sampled at ``cycle``."""
        if not 0 <= cycle < self.cycles:
            raise IndexError(f"cycle {cycle} is outside 0..{self.cycles - 1}")
        return int(self.samples(name)[cycle])

    def cycles_where(self, condition: Callable[[Mapping[str, np.ndarray]], np.ndarray],
                     **names: str) -> np.ndarray:
        """Cycles where ``condition(samples)`` holds; ``names`` maps keys to signal names."""
        data = {key: self.samples(sig) for key, sig in names.items()}
        return np.flatnonzero(np.asarray(condition(data)) != 0)

    def transfers(self, prefix: str, *, fields: list[str] | None = None,
                  sep: str = "") -> list[tuple[int, dict[str, int]]]:
        """Beats on the valid/ready channel ``prefix``: ``[(cycle, {field: value})]``.

        The channel's signals are ``prefix + sep + "valid"``/``"ready"``; ``fields`` defaults
        to every other signal sharing the prefix (for example ``m_axi__araddr``).
        """
        valid = self.resolve(f"{prefix}{sep}valid")
        ready = self.resolve(f"{prefix}{sep}ready")
        stem = valid[: -len("valid")]
        if fields is None:
            fields = sorted(s[len(stem):] for s in self.signals
                            if s.startswith(stem) and s not in (valid, ready))
        beats = np.flatnonzero((self.samples(valid) == 1) & (self.samples(ready) == 1))
        columns = {f: self.samples(stem + f) for f in fields}
        return [(int(c), {f: int(col[c]) for f, col in columns.items()}) for c in beats]

    def busy(self, name: str) -> np.ndarray:
        """``bool[cycles]``: cycles where ``name`` is non-zero (x/z counts as idle)."""
        return self.samples(name) > 0

    def overlap(self, *names: str) -> np.ndarray:
        """Cycles in which every one of ``names`` was busy."""
        both = np.ones(self.cycles, dtype=bool)
        for name in names:
            both &= self.busy(name)
        return np.flatnonzero(both)

    def timeline(self, units: Mapping[str, str], *, window: int = 32,
                 start: int = 0, stop: int | None = None) -> str:
        """A text timeline: one row per unit, one column per ``window`` cycles.

        Each column shows how busy the unit was in that window: `` `` idle, ``.`` under a
        third, ``+`` under two thirds, ``#`` above.
        """
        stop = self.cycles if stop is None else min(stop, self.cycles)
        edges = list(range(start, stop, window))
        width = max(len(u) for u in units)
        header = f"{'cycle':>{width}} | {start} .. {stop - 1}, {window} cycles per column"
        rows = [header]
        for unit, sig in units.items():
            busy = self.busy(sig)[start:stop]
            cells = []
            for lo in edges:
                frac = busy[lo - start: lo - start + window].mean() if busy.size else 0.0
                cells.append(" " if frac == 0 else "." if frac < 1 / 3 else
                             "+" if frac < 2 / 3 else "#")
            rows.append(f"{unit:>{width}} |{''.join(cells)}| {busy.mean():6.1%} busy")
        return "\n".join(rows)
