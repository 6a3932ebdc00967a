"""Regenerate the README results tables from docs/results/bench.json and synth.json.

Usage: ``python -m bench.readme`` (``make bench`` and ``make synth`` run it after measuring).
The bench table goes between ``<!-- results:begin -->`` and ``<!-- results:end -->``, the
synthesis table (docs/results/synth.json, ``make synth``) between ``<!-- synth:begin -->``
and ``<!-- synth:end -->``; a section whose markers or JSON file are missing is skipped.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BEGIN, END = "<!-- results:begin -->", "<!-- results:end -->"
SYNTH_BEGIN, SYNTH_END = "<!-- synth:begin -->", "<!-- synth:end -->"
SYNTH_CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "MULT18X18D")


#: The headline rows of the README table: (key, what it measures, target or None).
HEADLINE = (
    ("mac_utilization", "NPU MAC utilisation, 2:4 GEMV with operands in TCM", ">= 0.98"),
    ("gemv_cycles_over_bound", "NPU cycles / bound_cycles, 1024 x 4096 2:4 MXFP4 from DRAM",
     "<= 1.05"),
    ("npu_4096x4096_ratio", "NPU cycles / bound_cycles, 4096 x 4096 2:4 MXFP4", "<= 1.05"),
    ("sparse_speedup", "2:4 vs dense compute cycles, same shape, operands in TCM", ">= 1.95"),
    ("cosim_4096_wall_s", "wall s, 4096 x 4096 2:4 GEMV in the Verilator cosim (bit-exact)",
     "< 60"),
    ("verilator_over_amaranth_sim", "NPU cycles/s, Verilator over Amaranth's simulator", None),
    ("dma_read_efficiency", "DMA long 1-D read, bytes/cycle over bus bytes/cycle", ">= 0.95"),
    ("dma_write_efficiency", "DMA long 1-D write", ">= 0.95"),
    ("dma_2d_read_efficiency", "DMA long 2-D read", ">= 0.95"),
    ("tcm_words_per_cycle_conflicting", "TCM words/cycle, random traffic on 3 ports", None),
    ("gemv_reference_4096x4096_s", "golden gemv_reference, 4096 x 4096, s", "~1"),
    ("quantize_mxfp4_4096x4096_s", "golden quantize_mxfp4, 4096 x 4096, s", None),
    ("kernels_flash_attention_ctx4096_q1_lut_ms",
     "golden FlashAttention (LUT exp), 4096 context, one query, ms", None),
)


def _fmt(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def table(results: dict) -> str:
    machine = results.get("machine", {})
    lines = [
        (f"Measured on {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
         f"{machine.get('date', '?')}."),
        "",
        "| key | what | value | target |",
        "|---|---|---|---|",
    ]
    for key, what, target in HEADLINE:
        if key in results:
            lines.append(f"| `{key}` | {what} | {_fmt(results[key])} | {target or ''} |")
    rest = sorted(k for k in results if k != "machine")
    lines += ["", f"<details><summary>all {len(rest)} keys</summary>", "",
              "| key | value |", "|---|---|"]
    lines += [f"| `{key}` | {_fmt(results[key])} |" for key in rest]
    lines += ["", "</details>"]
    return "\n".join(lines)


def synth_table(report: dict) -> str:
    """Markdown table of docs/results/synth.json: cells and Fmax per design."""
    flow = report.get("flow", {})
    lines = [
        (f"{flow.get('device', '?')}, {flow.get('mode', '?').split(':')[0]}; Yosys synth_ecp5 "
        f"+ nextpnr-ecp5 ({flow.get('date', '?')}). NpuTop Fmax: "
        f"{report.get('npu_top_fmax_mhz', '?')} MHz"
        + (" (see its note)." if report.get("designs", {}).get("lutnpu_top", {}).get("note")
           else ".")),
        "",
        "| design | LUT4 | CCU2 | FF | DP16KD | MULT18 | Fmax clk (MHz) | critical path (ns) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    notes = []
    for name, r in sorted(report.get("designs", {}).items()):
        label = f"`{name}`" + (" (port regs)" if r.get("registered") else "")
        if r.get("note"):
            # A figure that is not of the current design (or missing) says so in the table.
            notes.append(f"{len(notes) + 1}. `{name}`: {r['note']}.")
            label += f" (note {len(notes)})"
        cells = " | ".join(str(r.get(c, "-")) for c in SYNTH_CELLS)
        fmax = r.get("fmax_mhz")
        fmax_text = "-" if fmax is None else str(fmax)
        if r.get("fmax_by_seed"):
            # Several seeds on one netlist: each seed's figure, their minimum and mean.
            seeds = " / ".join(f"{v}" for v in r["fmax_by_seed"].values())
            fmax_text += (f" (seeds {', '.join(r['fmax_by_seed'])}: {seeds}; "
                          f"min {r.get('fmax_mhz_min', '-')}, mean {r.get('fmax_mhz_mean', '-')})")
        crit = r.get("crit_ns")
        lines.append(f"| {label} | {cells} | {fmax_text} | "
                     f"{crit if crit is not None else '-'} |")
    if notes:
        lines += ["", "Notes:", "", *notes]
    return "\n".join(lines)


def _replace(text: str, begin: str, end: str, body: str) -> str | None:
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    if not pattern.search(text):
        return None
    return pattern.sub(lambda _: f"{begin}\n{body}\n{end}", text)


def main() -> int:
    readme = ROOT / "README.md"
    text = readme.read_text()
    results = json.loads((ROOT / "docs" / "results" / "bench.json").read_text())
    new = _replace(text, BEGIN, END, table(results))
    if new is None:
        raise SystemExit(f"README.md has no {BEGIN} ... {END} section")
    text = new
    print("README.md results table updated")
    synth = ROOT / "docs" / "results" / "synth.json"
    if synth.exists():
        new = _replace(text, SYNTH_BEGIN, SYNTH_END, synth_table(json.loads(synth.read_text())))
        if new is None:
            print(f"README.md has no {SYNTH_BEGIN} ... {SYNTH_END} section: synth table skipped")
        else:
            text = new
            print("README.md synthesis table updated")
    readme.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
