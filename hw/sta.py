"""``python -m hw.sta``: the N worst distinct setup paths of a routed nextpnr-ecp5 design,
from the SDF that ``nextpnr-ecp5 --sdf FILE`` writes (nextpnr itself reports only the single
worst path per clock).

Usage::

    python -m hw.sta build/synth/lutnpu_top/top.sdf --period 8 -n 20

The timing graph has one node per pin (instance, port) and two kinds of edge: ``net``
(``INTERCONNECT``, driver pin -> sink pin) and ``cell`` (``IOPATH``, cell input -> output).
Every delay is the worst of the rise/fall maxima (nextpnr's own analysis uses the max corner).
Paths start at clock-to-output arcs (``IOPATH CLK Q`` of flip-flops, the clock arcs of block
RAM and DSP cells) and at pins nothing drives (out-of-context block ports: arrival 0); they end
at pins with a ``SETUPHOLD`` check, whose setup time is added. Clock-network delay is not
counted (launch at the clock pin is time 0), as in nextpnr's critical-path report. One clock
is assumed: every endpoint is checked against ``period_ns``.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["TimingGraph", "format_path", "group_name", "parse_sdf", "read_sdf",
           "undriven_outputs", "worst_paths"]

# One alternation over the constructs that matter, scanned once over the whole text (linear).
# Names are nextpnr-escaped (`\[`, `\$`, ...) and hold no blanks or parentheses.
_PORT = r"(?:\((?:posedge|negedge)\s+(?P<{0}e>[^\s()]+)\s*\)|(?P<{0}>[^\s()]+))"
_TRIPLES = r"(?P<{0}>(?:\s*\([^()]*\))+)"
_STATEMENT = re.compile(
    r"\(\s*(?:"
    r"CELLTYPE\s+\"(?P<celltype>[^\"]*)\"\s*\)"
    r"|(?P<instance>INSTANCE)(?:\s+(?P<inst>[^\s()]+))?\s*\)"
    r"|INTERCONNECT\s+(?P<net_from>[^\s()]+)\s+(?P<net_to>[^\s()]+)" + _TRIPLES.format("net_d")
    + r"|IOPATH\s+" + _PORT.format("io_from") + r"\s+(?P<io_to>[^\s()]+)"
    + _TRIPLES.format("io_d")
    + r"|(?P<check>SETUPHOLD|SETUP)\s+" + _PORT.format("data") + r"\s+" + _PORT.format("clk")
    + r"\s*\((?P<setup>[^()]*)\)"
    r")")

#: Ports whose IOPATHs are clock-to-output arcs even when the cell has no setup check naming
#: them (a register whose data inputs are all constant).
_CLOCK_PORT = re.compile(r"CLK\w*|WCK")

#: Where a Yosys/nextpnr-made cell name leaves the net name it was derived from
#: (``sum_TRELLIS_FF_Q_3``, ``x_LUT4_Z_1_D``, ``acc_CCU2C_S0$CCU2_COMB1``, ``m$DPRAM_COMB3``).
_CELL_TAG = re.compile(r"_(?:TRELLIS_\w+?|LUT4|CCU2C|PFUMX|L6MUX21|DP16KD|MULT18X18D|ALU54B"
                       r"|ALU24B|DCCA|DCSC)(?:_|$)|\$(?=[A-Z])")
#: Bit indices and numbered copies (``[3]``, ``_7``, ``.0``, ``count12``), but not the number
#: of an anonymous signal (``$signal$152``, ``$85``).
_BIT_SUFFIX = re.compile(r"(?:\[\d+\]|[._]\d+|(?<![\d$])\d+)+$")
_UNESCAPE = re.compile(r"\\(.)")


def _max_delay_ps(triples: str) -> float:
    """Worst value of ``(min:typ:max) (min:typ:max)`` (or ``(v)``; empty: 0) in ps."""
    worst = 0.0
    for triple in triples.replace("(", " ").replace(")", " ").split():
        values = [v for v in triple.split(":") if v]
        if values:
            worst = max(worst, float(values[-1]))
    return worst


def _unescape(name: str) -> str:
    return _UNESCAPE.sub(r"\1", name)


def _display(pin: str) -> str:
    """``inst/port`` (escaped, as in the SDF) -> ``inst.port`` (nextpnr's report style)."""
    inst, _, port = pin.rpartition("/")
    return f"{_unescape(inst)}.{_unescape(port)}"


def group_name(instance: str) -> str:
    """Bus-level name of a cell instance, for grouping paths: the net name Yosys derived the
    cell name from, without bit indices or trailing digits.

    ``p_TRELLIS_FF_Q_7`` -> ``p``; ``inner.a_TRELLIS_FF_Q_1`` -> ``inner.a``;
    ``acc[3]_CCU2C_S0$CCU2_COMB1`` -> ``acc``; ``count12`` -> ``count``;
    ``\\$signal$152_TRELLIS_FF_Q_1`` -> ``$signal$152``.
    """
    name = _unescape(instance).removeprefix("\\")     # Verilog escaped identifier: \$85
    tag = _CELL_TAG.search(name, 1)
    if tag:
        name = name[:tag.start()]
    bus = _BIT_SUFFIX.sub("", name)
    return bus if re.search(r"[A-Za-z]", bus) else name


def _group_of_pin(pin: str) -> str:
    return group_name(pin.rpartition("/")[0])


@dataclass
class TimingGraph:
    """Pins and arcs of an SDF file; delays in the SDF's ``TIMESCALE`` unit (nextpnr: 1 ps,
    ``timescale_ns`` = 0.001).

    ``pins`` are ``instance/port`` as escaped in the SDF; edges are parallel lists
    (``src``, ``dst``, ``delay``, ``kind`` = ``"net"`` or ``"cell"``); ``launch`` maps an
    output pin to its clock-to-output delay and ``setup`` a checked input pin to its setup
    time; ``celltype`` maps an instance to its cell type.
    """

    pins: list[str] = field(default_factory=list)
    index: dict[str, int] = field(default_factory=dict)
    src: list[int] = field(default_factory=list)
    dst: list[int] = field(default_factory=list)
    delay: list[float] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    launch: dict[int, float] = field(default_factory=dict)
    setup: dict[int, float] = field(default_factory=dict)
    celltype: dict[str, str] = field(default_factory=dict)
    timescale_ns: float = 1e-3

    def pin(self, name: str) -> int:
        """Index of pin ``name`` (``inst/port``), added if new."""
        i = self.index.get(name)
        if i is None:
            i = self.index[name] = len(self.pins)
            self.pins.append(name)
        return i

    def add_edge(self, src: str, dst: str, delay: float, kind: str) -> None:
        self.src.append(self.pin(src))
        self.dst.append(self.pin(dst))
        self.delay.append(delay)
        self.kind.append(kind)


def parse_sdf(text: str) -> TimingGraph:
    """Timing graph of an SDF text as nextpnr writes it (``--sdf``).

    Parameters
    ----------
    text : str
        The SDF file's contents.

    Returns
    -------
    TimingGraph
        Net and cell arcs, clock-to-output launch delays and setup times.
    """
    graph = TimingGraph()
    scale = re.search(r"\(\s*TIMESCALE\s+([\d.]+)\s*(ps|ns|us)\s*\)", text)
    if scale:
        graph.timescale_ns = float(scale[1]) * {"ps": 1e-3, "ns": 1.0, "us": 1e3}[scale[2]]
    inst = celltype = ""
    iopaths = []                         # (instance, from port, to port, delay): classified
    clock_ports = set()                  # after the checks, which name the clock ports
    for m in _STATEMENT.finditer(text):
        if m["net_from"] is not None:
            graph.add_edge(m["net_from"], m["net_to"], _max_delay_ps(m["net_d"]), "net")
        elif m["io_to"] is not None:
            iopaths.append((inst, m["io_from"] or m["io_frome"], m["io_to"],
                            _max_delay_ps(m["io_d"])))
        elif m["check"] is not None:
            data = graph.pin(f"{inst}/{m['data'] or m['datae']}")
            clock_ports.add((inst, m["clk"] or m["clke"]))
            setup = _max_delay_ps(f"({m['setup']})")
            graph.setup[data] = max(graph.setup.get(data, 0.0), setup)
        elif m["instance"] is not None:
            inst = m["inst"] or ""
            graph.celltype[inst] = celltype
        elif m["celltype"] is not None:
            celltype = m["celltype"]
    for cell, src, dst, delay in iopaths:
        if (cell, src) in clock_ports or _CLOCK_PORT.fullmatch(src):
            out = graph.pin(f"{cell}/{dst}")
            graph.launch[out] = max(graph.launch.get(out, 0.0), delay)
        else:
            graph.add_edge(f"{cell}/{src}", f"{cell}/{dst}", delay, "cell")
    return graph


def read_sdf(path: str | Path) -> TimingGraph:
    """:func:`parse_sdf` of the file at ``path``."""
    return parse_sdf(Path(path).read_text())


def undriven_outputs(graph: TimingGraph) -> dict[str, int]:
    """Cell type -> count of output pins that drive a net but have no arc into them (neither
    an ``IOPATH`` nor a clock-to-output arc): constant drivers (``$PACKER_VCC``, LUTs without
    inputs), or cells whose arcs the SDF lacks. Paths from them are not timed."""
    drivers = {s for s, k in zip(graph.src, graph.kind) if k == "net"}
    driven = set(graph.dst) | set(graph.launch)
    counts: dict[str, int] = {}
    for pin in drivers - driven:
        cell = graph.celltype.get(graph.pins[pin].rpartition("/")[0], "?")
        counts[cell] = counts.get(cell, 0) + 1
    return counts


def _arrivals(graph: TimingGraph, from_inputs: bool = True):
    """Longest-path arrival (ps) and predecessor edge (-1: start) of every pin, by Kahn's
    topological order. Start points: clock-to-output arcs and, with ``from_inputs``, input
    pins nothing drives (arrival 0). Pins reached from neither (constant drivers, pins on a
    combinational loop) keep arrival -inf."""
    n, edges = len(graph.pins), len(graph.src)
    first = [0] * (n + 1)                # CSR of the out-edges, grouped by source pin
    indegree = [0] * n
    for s, d in zip(graph.src, graph.dst):
        first[s + 1] += 1
        indegree[d] += 1
    for i in range(n):
        first[i + 1] += first[i]
    fill = first[:-1]
    out = [0] * edges
    for e, s in enumerate(graph.src):
        out[fill[s]] = e
        fill[s] += 1

    arrival = [-math.inf] * n
    if from_inputs:
        drivers = {s for s, k in zip(graph.src, graph.kind) if k == "net"}
        for i in range(n):
            if indegree[i] == 0 and i not in drivers:
                arrival[i] = 0.0
    for pin, delay in graph.launch.items():
        arrival[pin] = max(arrival[pin], delay)
    pred = [-1] * n
    queue = [i for i in range(n) if indegree[i] == 0]
    for u in queue:                      # the queue grows while it is walked
        for e in out[first[u]:first[u + 1]]:
            v = graph.dst[e]
            a = arrival[u] + graph.delay[e]
            if a > arrival[v]:
                arrival[v], pred[v] = a, e
            indegree[v] -= 1
            if indegree[v] == 0:
                queue.append(v)
    return arrival, pred


def _trace(graph: TimingGraph, arrival, pred, end: int, scale: float):
    """Start pin and ``(pin, arrival_ns, kind)`` list of the worst path into ``end``."""
    path = []
    pin = end
    while pred[pin] >= 0:
        e = pred[pin]
        path.append((_display(graph.pins[pin]), arrival[pin] * scale, graph.kind[e]))
        pin = graph.src[e]
    # The start: a clock-to-output arc (a cell arc) or a pin nothing drives (arrival 0).
    path.append((_display(graph.pins[pin]), arrival[pin] * scale,
                 "cell" if pin in graph.launch else "net"))
    path.reverse()
    return pin, path


_GROUPINGS = ("start_end_prefix", "end_prefix", "endpoint")


def worst_paths(sdf, period_ns: float, n: int = 20, distinct_by: str = "start_end_prefix",
                from_inputs: bool = True) -> list[dict]:
    """The ``n`` worst setup paths of a routed design, at most one per group.

    Parameters
    ----------
    sdf : str, Path or TimingGraph
        SDF file written by ``nextpnr-ecp5 --sdf`` (or its :func:`read_sdf` graph).
    period_ns : float
        Clock period every endpoint is checked against.
    n : int
        How many paths to return.
    distinct_by : {"start_end_prefix", "end_prefix", "endpoint"}
        Grouping: one path per (start, end) pair of :func:`group_name` of the instances (so
        a 32-bit bus reports once), one per end group, or one per endpoint pin.
    from_inputs : bool
        Also time paths from input pins nothing drives (out-of-context block ports), with
        arrival 0; nextpnr does not time these.

    Returns
    -------
    list of dict
        Worst first: ``slack_ns``, ``delay_ns`` (arrival plus setup), ``start`` and ``end``
        (``instance.port``) and ``path``, a list of ``(pin, arrival_ns, kind)`` where kind is
        how the pin is reached: ``"cell"`` (``IOPATH``; the first pin's is its
        clock-to-output arc), ``"net"`` (``INTERCONNECT``; a first pin nothing drives) or
        ``"setup"`` (the last entry: the endpoint's setup time added).
    """
    if distinct_by not in _GROUPINGS:
        raise ValueError(f"distinct_by must be one of {_GROUPINGS}, not {distinct_by!r}")
    graph = sdf if isinstance(sdf, TimingGraph) else read_sdf(sdf)
    scale = graph.timescale_ns
    arrival, pred = _arrivals(graph, from_inputs)
    ends = sorted((arrival[p] + s, p) for p, s in graph.setup.items() if arrival[p] > -math.inf)
    results, seen = [], set()
    for total, end in reversed(ends):
        first, path = _trace(graph, arrival, pred, end, scale)
        start, finish = path[0][0], path[-1][0]
        if distinct_by == "endpoint":
            key = finish
        elif distinct_by == "end_prefix":
            key = _group_of_pin(graph.pins[end])
        else:
            key = (_group_of_pin(graph.pins[first]), _group_of_pin(graph.pins[end]))
        if key in seen:
            continue
        seen.add(key)
        path.append((finish, total * scale, "setup"))
        results.append({"slack_ns": period_ns - total * scale, "delay_ns": total * scale,
                        "start": start, "end": finish, "path": path})
        if len(results) == n:
            break
    return results


def format_path(result: dict, rank: int | None = None, chain_step_ns: float = 0.1,
                chain_min: int = 3) -> str:
    """One report block of a :func:`worst_paths` entry: slack, delay, start -> end, then
    every pin with its incremental delay and arrival.

    Runs of at least ``chain_min`` consecutive steps each under ``chain_step_ns`` (carry
    chains, intra-slice hops) are collapsed into one ``...chain`` line.
    """
    head = f"#{rank} " if rank is not None else ""
    lines = [f"{head}slack {result['slack_ns']:+.3f} ns  delay {result['delay_ns']:.3f} ns  "
             + f"{result['start']} -> {result['end']}"]
    steps, before = [], 0.0
    for pin, at, kind in result["path"]:
        if not steps:                    # how the path starts
            kind = "clk-q" if kind == "cell" else "input"
        steps.append((pin, at - before, at, kind))
        before = at
    i = 0
    while i < len(steps):
        j = i
        while j < len(steps) and steps[j][1] < chain_step_ns and steps[j][3] in ("net", "cell"):
            j += 1
        if j - i >= chain_min:
            pin, _, at, _ = steps[j - 1]
            lines.append(f"  {at - steps[i][2] + steps[i][1]:+7.3f} {at:8.3f}  "
                         f"...chain of {j - i} steps to {pin}")
            i = j
            continue
        pin, inc, at, kind = steps[i]
        lines.append(f"  {inc:+7.3f} {at:8.3f}  {kind:<5} {pin}")
        i += 1
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw.sta", description=__doc__.split("\n")[0])
    parser.add_argument("sdf", type=Path, help="SDF file from nextpnr-ecp5 --sdf")
    parser.add_argument("--period", type=float, required=True, help="clock period in ns")
    parser.add_argument("-n", type=int, default=20, help="number of paths (default 20)")
    parser.add_argument("--distinct-by", choices=_GROUPINGS, default="start_end_prefix",
                        help="one path per start/end bus pair (default), end bus or endpoint")
    parser.add_argument("--no-inputs", action="store_true",
                        help="time register paths only, not those from undriven inputs "
                             "(out-of-context ports), as nextpnr does")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    graph = read_sdf(args.sdf)
    t1 = time.perf_counter()
    paths = worst_paths(graph, args.period, args.n, args.distinct_by, not args.no_inputs)
    t2 = time.perf_counter()
    print(f"{args.sdf}: {len(graph.pins)} pins, {len(graph.src)} arcs, {len(graph.setup)} "
          f"endpoints; parsed in {t1 - t0:.1f} s, analysed in {t2 - t1:.1f} s; "
          f"period {args.period} ns", file=sys.stderr)
    untimed = undriven_outputs(graph)
    if untimed:
        print("outputs without an arc into them (constants, or arcs missing from the SDF), "
              "not timed: " + ", ".join(f"{t} {c}" for t, c in sorted(untimed.items())),
              file=sys.stderr)
    for rank, result in enumerate(paths, 1):
        print(format_path(result, rank))
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
