"""Regenerate the README results table from docs/results/bench.json.

Usage: ``python -m bench.readme`` (``make bench`` runs it after measuring).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"


def table(results: dict) -> str:
    machine = results.get("machine", {})
    lines = [
        f"Measured on {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('date', '?')}.",
        "",
        "| key | value |",
        "|---|---|",
    ]
    for key in sorted(k for k in results if k != "machine"):
        value = results[key]
        text = f"{value:.4g}" if isinstance(value, float) else str(value)
        lines.append(f"| `{key}` | {text} |")
    return "\n".join(lines)


def main() -> int:
    results = json.loads((ROOT / "docs" / "results" / "bench.json").read_text())
    readme = ROOT / "README.md"
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    readme.write_text(pattern.sub(lambda _: f"{BEGIN}\n{table(results)}\n{END}", text))
    print("README.md results table updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
