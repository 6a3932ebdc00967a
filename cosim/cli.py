"""The ``lutnpu`` command line.

    lutnpu waves FILE --signals                 list the signals in a trace
    lutnpu waves FILE --timeline [UNIT=SIGNAL...]
                                                which units were busy, per window of cycles
                                                (no pairs: the NPU's DMA read/write, compute,
                                                MAC and fetch units, cosim.waves.npu_units)
    lutnpu waves FILE --transfers CHANNEL       the beats on a valid/ready channel
                                                (e.g. npu.axi__ar, npu.csr__w)
    lutnpu waves FILE --value SIGNAL --cycle N  one signal at one cycle
    lutnpu waves FILE --check                   AXI handshake, 4 KiB and overlap checks of an
                                                NPU recording (exit status 1 if one fails)
"""

from __future__ import annotations

import argparse
import sys

from . import waves as wv
from .waves import Trace, WaveformError

#: The AXI channels of the NPU top's master and CSR port, as ``--check`` names them.
NPU_CHANNELS = [f"npu.{port}__{ch}" for port in ("axi", "csr")
                for ch in ("ar", "r", "aw", "w", "b")]


def _check(trace) -> int:
    bad = 0
    for ch in NPU_CHANNELS:
        drops = wv.valid_drops(trace, ch)
        n = len(trace.transfers(ch, fields=[]))
        print(f"{ch:14} {n:6} beats  handshake {'ok' if not drops else 'BROKEN'}"
              + "".join(f"\n    cycle {c}: {what}" for c, what in drops[:5]))
        bad += bool(drops)
    for ch in ("npu.axi__ar", "npu.axi__aw"):
        cross = wv.bursts_crossing_4k(wv.axi_bursts(trace, ch))
        print(f"{ch:14} bursts crossing 4 KiB: {len(cross)}"
              + "".join(f"\n    cycle {b['cycle']}: {b['addr']:#x} + {b['bytes']}"
                        for b in cross[:5]))
        bad += bool(cross)
    try:
        start, stop = wv.npu_steady_state(trace)
    except WaveformError as exc:
        print(f"overlap: {exc}")
    else:
        units = wv.npu_units(trace)
        dma = trace.busy(units["dma read"]) | trace.busy(units["dma write"])
        both = (dma & trace.busy(units["compute"]))[start:stop]
        print(f"steady state cycles {start}..{stop - 1}: DMA and compute overlap in "
              f"{both.mean():.1%} of {stop - start} cycles")
    return 1 if bad else 0


def _waves(args) -> int:
    trace = Trace(args.file, clock=args.clock)
    if args.signals:
        for name in trace.signals:
            print(name)
    elif args.timeline is not None:
        units = {}
        for item in args.timeline:
            unit, _, sig = item.partition("=")
            units[unit] = sig or unit
        if not units:
            units = wv.npu_units(trace)
        print(trace.timeline(units, window=args.window, start=args.start, stop=args.stop))
    elif args.transfers:
        for cycle, fields in trace.transfers(args.transfers):
            print(cycle, " ".join(f"{k}={v:#x}" for k, v in fields.items()))
    elif args.value:
        print(trace.value(args.value, args.cycle))
    elif args.check:
        status = _check(trace)
        print(f"# {trace.cycles} cycles", file=sys.stderr)
        return status
    print(f"# {trace.cycles} cycles", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lutnpu", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("waves", help="query a recorded waveform (VCD)")
    w.add_argument("file")
    w.add_argument("--clock", default="clk", help="clock signal (default: clk)")
    what = w.add_mutually_exclusive_group(required=True)
    what.add_argument("--signals", action="store_true", help="list the signals")
    what.add_argument("--timeline", nargs="*", metavar="UNIT=SIGNAL",
                      help="busy timeline of the given units")
    what.add_argument("--transfers", metavar="CHANNEL",
                      help="beats on CHANNEL (prefix of its valid/ready signals)")
    what.add_argument("--value", metavar="SIGNAL", help="value of SIGNAL at --cycle")
    what.add_argument("--check", action="store_true",
                      help="AXI protocol and overlap checks of an NPU recording")
    w.add_argument("--cycle", type=int, default=0)
    w.add_argument("--window", type=int, default=32, help="cycles per timeline column")
    w.add_argument("--start", type=int, default=0, help="first timeline cycle")
    w.add_argument("--stop", type=int, default=None, help="timeline end cycle (exclusive)")
    args = parser.parse_args(argv)
    try:
        return _waves(args)
    except (WaveformError, IndexError, FileNotFoundError) as exc:
        print(f"lutnpu: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
