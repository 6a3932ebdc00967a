"""Run the benchmarks and write docs/results/bench.json.

Usage: ``python -m bench [NAME ...]`` runs ``bench/bench_NAME.py`` (all of them by default)
and merges their keys into the existing file, so one area can be re-measured alone.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import platform
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE.parent / "docs" / "results" / "bench.json"


def machine() -> dict:
    """A description of the machine the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        mem_kb = 0
    import numpy

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "date": datetime.date.today().isoformat(),
    }


def main(argv: list[str]) -> int:
    names = argv or sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in names:
        mod = importlib.import_module(f"bench.bench_{name}")
        print(f"== bench {name}", flush=True)
        values = mod.run()
        for key, value in values.items():
            if not isinstance(value, (int, float)):
                raise TypeError(f"bench {name}: {key} must be a number, not {value!r}")
            print(f"   {key:40s} {value:.6g}", flush=True)
        results.update(values)
    results["machine"] = machine()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(f"wrote {RESULTS.relative_to(HERE.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
