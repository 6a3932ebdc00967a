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

__all__ = ["FST_ABOVE_CYCLES", "NPU_ESSENTIALS", "Trace", "WaveformError", "axi_bursts",
           "bursts_crossing_4k", "bursts_outside", "filter_vcd", "npu_steady_state", "npu_units",
           "valid_drops", "waves_format"]

#: Runs expected to take more cycles than this record FST rather than VCD when the format is
#: left to :func:`waves_format` (a VCD of the whole NPU grows by roughly 1 KB per cycle).
FST_ABOVE_CYCLES = 200_000


def waves_format(waves=None, cycles: int = 0) -> str | None:
    """The trace format a run should record: ``None`` (no trace), ``"vcd"`` or ``"fst"``.

    ``waves`` is the caller's request: ``None`` reads the ``WAVES`` environment variable
    (unset, empty or ``0``: no trace); ``"vcd"`` or ``"fst"`` (any case) force a format;
    anything else true (``True``, ``1``) picks VCD, which :class:`Trace` reads, for runs up
    to :data:`FST_ABOVE_CYCLES` expected ``cycles`` and FST, several times smaller, above.

    Raises
    ------
    ValueError
        If ``waves`` is a string that is neither a format nor a truth value.
    """
    import os

    if waves is None:
        waves = os.environ.get("WAVES", "0")
    if isinstance(waves, str):
        text = waves.strip().lower()
        if text in ("", "0", "false", "no", "off"):
            return None
        if text in ("vcd", "fst"):
            return text
        if text not in ("1", "true", "yes", "on"):
            raise ValueError(f"WAVES must be 0, 1, vcd or fst, not {waves!r}")
        waves = True
    if not waves:
        return None
    return "fst" if cycles > FST_ABOVE_CYCLES else "vcd"


class WaveformError(LookupError):
    """A signal is missing or ambiguous in a trace, or the trace has no clock."""


_RANGE = re.compile(r"\s*\[\d+(:\d+)?\]$")


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
        if self._path.suffix == ".fst":
            raise WaveformError(f"{self._path} is FST, which this reader (vcdvcd) cannot "
                                "read: open it in GTKWave, or record VCD (WAVES=vcd)")
        self._vcd = VCDVCD(str(self._path), store_tvs=True)
        self._derived: dict[str, np.ndarray] = {}
        self.signals: list[str] = list(self._vcd.signals)
        self._by_base = {_RANGE.sub("", full): full for full in self.signals}
        try:
            clock = self.resolve(clock)
        except WaveformError:
            # Every module of a Verilator trace has its own `clk`: take the topmost one.
            tops = [s for s in self._by_base if (s.endswith("." + clock) or s == clock)
                    and not s.startswith("$rootio.")]
            depth = min((s.count(".") for s in tops), default=-1)
            tops = [s for s in tops if s.count(".") == depth]
            if len(tops) != 1:
                raise
            clock = self._by_base[tops[0]]
        clk = self._vcd[clock]
        self._edges = np.array([t for t, v in clk.tv if v == "1"], dtype=np.int64)
        if self._edges.size == 0:
            raise WaveformError(f"clock {clock!r} never rises in {self._path}")
        self._cache: dict[str, np.ndarray] = {}

    @property
    def cycles(self) -> int:
        return int(self._edges.size)

    def resolve(self, name: str) -> str:
        """The full name of ``name``: an exact match or the unique one ending in ``.name``.

        A bit range that the trace appends to a vector's name (Verilator: ``araddr[31:0]``)
        need not be given.
        """
        if name in self._derived or name in self._vcd.references_to_ids:
            return name
        if name in self._by_base:
            return self._by_base[name]
        matches = [full for base, full in self._by_base.items() if base.endswith("." + name)]
        if len(matches) > 1:    # Verilator repeats the top ports under `$rootio`
            matches = [m for m in matches if not m.startswith("$rootio.")]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise WaveformError(f"no signal {name!r} in {self._path}")
        raise WaveformError(f"signal {name!r} is ambiguous in {self._path}: {matches[:8]}")

    def base(self, name: str) -> str:
        """The full name of ``name`` without a trailing bit range."""
        return _RANGE.sub("", self.resolve(name))

    def samples(self, name: str) -> np.ndarray:
        """``int64[cycles]``: the value of ``name`` just before each rising clock edge.

        Signals wider than 63 bits come back as an object array of Python ints.
        """
        full = self.resolve(name)
        if full in self._derived:
            return self._derived[full]
        if full not in self._cache:
            tv = self._vcd[full].tv
            times = np.array([t for t, _ in tv], dtype=np.int64)
            ints = [_to_int(v) for _, v in tv]
            try:
                values = np.array(ints, dtype=np.int64)
            except OverflowError:   # wider than 63 bits (data buses): Python ints
                values = np.array(ints, dtype=object)
            # The last change strictly before the edge: registers sample the old value.
            idx = np.searchsorted(times, self._edges, side="left") - 1
            out = values[np.maximum(idx, 0)] if values.size else np.full(idx.shape, -1)
            out = np.where(idx >= 0, out, -1)
            self._cache[full] = out
        return self._cache[full]

    def derive(self, name: str, values) -> str:
        """Add a signal computed from others (``int64[cycles]``, e.g. ``busy & ~dir``).

        It is then read like a recorded one (``samples``, ``busy``, ``timeline``), under the
        exact ``name``. Returns ``name``.
        """
        arr = np.asarray(values).astype(np.int64)
        if arr.shape != (self.cycles,):
            raise ValueError(f"derived signal {name!r} needs {self.cycles} samples, "
                             f"not shape {arr.shape}")
        self._derived[name] = arr
        return name

    def override(self, name: str, values) -> None:
        """Replace the samples of a recorded signal (to build a deliberately broken trace)."""
        full = self.resolve(name)
        arr = np.asarray(values).astype(np.int64)
        if arr.shape != (self.cycles,):
            raise ValueError(f"override of {full!r} needs {self.cycles} samples")
        if full in self._derived:
            self._derived[full] = arr
        else:
            self._cache[full] = arr

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
        to every other signal sharing the prefix (for example ``m_axi__araddr``), except
        Amaranth's internal copies (names with ``$``) and struct fields (names with ``.``).
        """
        valid = self.resolve(f"{prefix}{sep}valid")
        ready = self.resolve(f"{prefix}{sep}ready")
        valid, ready = self.base(valid), self.base(ready)
        stem = valid[: -len("valid")]
        if fields is None:
            # `$` marks Amaranth's internal copies (e.g. `axi__araddr$91`), not channel fields.
            fields = sorted(b[len(stem):] for b in self._by_base
                            if b.startswith(stem) and b not in (valid, ready)
                            and "$" not in b[len(stem):] and "." not in b[len(stem):])
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


# ---- protocol properties ---------------------------------------------------------------------


def valid_drops(trace: Trace, prefix: str, *, payload: bool = True) -> list[tuple[int, str]]:
    """Cycles where the valid/ready channel ``prefix`` broke the AXI handshake rule.

    AXI (A3.2.1): once VALID is high it stays high, with the payload unchanged, until the
    cycle READY is high too. Returns ``[(cycle, what)]`` for each cycle ``c`` where valid
    was high and ready low and at ``c + 1`` valid fell (``"valid fell"``) or, with
    ``payload``, a payload signal changed (``"<field> changed"``). Empty means the rule held.
    """
    valid = trace.base(f"{prefix}valid")
    ready = trace.base(f"{prefix}ready")
    v, r = trace.samples(valid), trace.samples(ready)
    stalled = np.flatnonzero((v[:-1] == 1) & (r[:-1] == 0))
    out = [(int(c), "valid fell") for c in stalled if v[c + 1] != 1]
    if payload:
        stem = valid[: -len("valid")]
        for name in map(trace.base, trace.signals):
            field = name[len(stem):]
            if (name.startswith(stem) and name not in (valid, ready) and "$" not in field
                    and "." not in field):
                col = trace.samples(name)
                out += [(int(c), f"{name[len(stem):]} changed") for c in stalled
                        if v[c + 1] == 1 and col[c + 1] != col[c]]
    return sorted(out)


def axi_bursts(trace: Trace, prefix: str) -> list[dict]:
    """The address beats on an AXI AR or AW channel ``prefix`` (e.g. ``"axi__ar"``).

    Each is ``{"cycle", "addr", "len", "size", "bytes", "end"}``: ``len`` is AxLEN (beats -
    1), ``bytes = (len + 1) << size`` and ``end = addr + bytes`` (INCR bursts).
    """
    out = []
    for cycle, f in trace.transfers(prefix, fields=["addr", "len", "size"]):
        n = (f["len"] + 1) << f["size"]
        out.append({"cycle": cycle, "addr": f["addr"], "len": f["len"], "size": f["size"],
                    "bytes": n, "end": f["addr"] + n})
    return out


def bursts_crossing_4k(bursts: list[dict]) -> list[dict]:
    """The bursts whose bytes span two 4 KiB pages (AXI A3.4.1 forbids it)."""
    return [b for b in bursts if b["addr"] >> 12 != (b["end"] - 1) >> 12]


def bursts_outside(bursts: list[dict], ranges) -> list[dict]:
    """The bursts with a byte outside every ``(lo, hi)`` byte range of ``ranges``."""
    return [b for b in bursts
            if not any(lo <= b["addr"] and b["end"] <= hi for lo, hi in ranges)]


# ---- the NPU top (cosim.npu's Verilator wrapper) -----------------------------------------------


def npu_units(trace: Trace) -> dict[str, str]:
    """Busy signals of the NPU's units, for :meth:`Trace.timeline`, derived in ``trace``.

    - ``dma read``: the DMA runs a LOAD (a DRAM -> TCM descriptor: ``core.dma.busy`` and
      ``d.dir == TO_TCM``); ``dma write``: it runs a STORE (``d.dir == TO_DRAM``);
    - ``compute``: the compute unit runs a GEMV or LUT command (``core.comp_busy``);
    - ``mac``: the GEMV engine issues a MAC step this cycle (``engine.fire``);
    - ``fetch``: the command fetcher has a burst in flight (``core.f_busy``).
    """
    busy = trace.samples("core.dma.busy") > 0
    to_dram = trace.samples("core.dma.d.dir") == 1
    return {
        "dma read": trace.derive("npu.dma_read", busy & ~to_dram),
        "dma write": trace.derive("npu.dma_write", busy & to_dram),
        "compute": trace.resolve("core.comp_busy"),
        "mac": trace.resolve("engine.fire"),
        "fetch": trace.resolve("core.f_busy"),
    }


def npu_steady_state(trace: Trace) -> tuple[int, int]:
    """``(start, stop)`` cycles of a streaming GEMV's steady state.

    From the first cycle the compute unit is busy (the first GEMV starts: before it only
    the first tile's LOAD runs, nothing can overlap) to the last cycle a LOAD runs, plus one
    (after it only the last tile's GEMV and the y STORE remain). Raises WaveformError if
    either never happens.
    """
    units = npu_units(trace)
    comp = np.flatnonzero(trace.busy(units["compute"]))
    load = np.flatnonzero(trace.busy(units["dma read"]))
    if comp.size == 0 or load.size == 0:
        raise WaveformError("no GEMV or no LOAD in the trace: no steady state")
    return int(comp[0]), int(load[-1]) + 1


#: Signals of the NPU (names below ``lutnpu_npu_sim.npu``) that the protocol checks and the
#: unit timeline read: the clock, both AXI ports, and the units' busy flags.
NPU_ESSENTIALS = [r"clk", r"rst", r"irq", r"axi__\w+", r"csr__\w+", r"core\.state",
                  r"core\.dma\.busy", r"core\.dma\.d\.dir", r"core\.comp_busy",
                  r"engine\.fire", r"core\.f_busy"]


def filter_vcd(src, dst, keep: Callable[[str], bool]) -> int:
    """Copy the VCD ``src`` to ``dst`` with only the variables whose full name ``keep``s.

    A whole-NPU VCD grows by about 20 KB per cycle; the checks need a few dozen signals,
    so tests record the full trace once and keep this much smaller copy. Streams line by
    line. Returns the number of variables kept.
    """
    scopes: list[str] = []
    kept: set[str] = set()
    with open(src) as fin, open(dst, "w") as fout:
        for line in fin:
            tok = line.split()
            if tok and tok[0] == "$scope":
                scopes.append(tok[2])
            elif tok and tok[0] == "$upscope":
                scopes.pop()
            elif tok and tok[0] == "$var":
                if not keep(".".join([*scopes, tok[4].lstrip("\\")])):
                    continue
                kept.add(tok[3])
            fout.write(line)
            if tok and tok[0] == "$enddefinitions":
                break
        n = len(kept)
        for line in fin:
            c = line[0]
            if c == "b" or c == "r":
                ident = line[line.index(" ") + 1:].strip()
            elif c in "01xzXZ":
                ident = line[1:].strip()
            else:           # #time, $dumpvars, $end, comments
                fout.write(line)
                continue
            if ident in kept:
                fout.write(line)
    return n
