"""The ``lutnpu`` command line.

    lutnpu waves FILE --signals                 list the signals in a trace
    lutnpu waves FILE --timeline UNIT=SIGNAL... which units were busy, per window of cycles
    lutnpu waves FILE --transfers CHANNEL       the beats on a valid/ready channel
    lutnpu waves FILE --value SIGNAL --cycle N  one signal at one cycle
"""

from __future__ import annotations

import argparse
import sys

from .waves import Trace, WaveformError


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
            raise SystemExit("--timeline needs UNIT=SIGNAL pairs, e.g. dma=dma.busy")
        print(trace.timeline(units, window=args.window))
    elif args.transfers:
        for cycle, fields in trace.transfers(args.transfers):
            print(cycle, " ".join(f"{k}={v:#x}" for k, v in fields.items()))
    elif args.value:
        print(trace.value(args.value, args.cycle))
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
    w.add_argument("--cycle", type=int, default=0)
    w.add_argument("--window", type=int, default=32, help="cycles per timeline column")
    args = parser.parse_args(argv)
    try:
        return _waves(args)
    except (WaveformError, IndexError, FileNotFoundError) as exc:
        print(f"lutnpu: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
