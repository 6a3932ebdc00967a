"""GTKWave save files (.gtkw) that group a recorded trace's signals by block.

:func:`write_gtkw` writes a save file for any trace: it takes the trace's signal names (read
from a VCD header with :func:`vcd_signals`, or given), a list of ``(group, [regex, ...])``
that pick signals by their name below ``scope``, and optional enum decoders, which become
GTKWave translate filter files (one per enum, beside the save file) so that a state register
shows ``RUN`` instead of ``2``.

:func:`write_npu_gtkw` does this for a recording of :class:`hw.NpuTop` in the Verilator
wrapper of :mod:`cosim.npu`: groups :data:`NPU_GROUPS` (CSR port, command processor, DMA AXI
channels, DMA engine, TCM banks, compute, then each lane's MAC pair and accumulator), and the
decoders Amaranth itself knows (:func:`enum_decoders`: ``amaranth.lib.enum`` shapes such as
the top's run state, error codes, opcodes, AXI responses, and FSM states), the same ones
Amaranth's ``Simulator.write_vcd`` shows as strings.

Open the result with ``gtkwave build/waves/NAME.gtkw``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

__all__ = ["NPU_GROUPS", "NPU_SCOPE", "enum_decoders", "npu_groups", "vcd_signals",
           "write_component_gtkw", "write_gtkw", "write_npu_gtkw"]

#: Where :mod:`cosim.npu`'s Verilator wrapper puts the NPU in the trace hierarchy.
NPU_SCOPE = "lutnpu_npu_sim.npu"

#: Signal groups of the NPU top, by block: ``(group, [regex on the name below the NPU])``.
#: Signals matching no pattern are left out of the save file (they stay in the trace).
NPU_GROUPS: list[tuple[str, list[str]]] = [
    ("CSR port (AXI4-Lite)", [r"clk", r"rst", r"irq", r"csr__\w+"]),
    ("command processor", [
        (r"core\.(state|running|done|err_code|err_addr|raise_err|fetching|f_busy|f_next|f_left"
         r"|f_inflight|popped|pop_cmd|head_addr|is_end|sync_mask|drain_done)"),
        r"core\.head\.\w+\.op", r"core\.cmd_fifo\.level",
        r"core\.(dma_busy|d_desc_valid|comp_busy|c_active|c_start|lut_active)"]),
    ("DMA AXI AR", [r"axi__ar\w+"]),
    ("DMA AXI R", [r"axi__r(id|data|resp|last|valid|ready)"]),
    ("DMA AXI AW", [r"axi__aw\w+"]),
    ("DMA AXI W", [r"axi__w(data|strb|last|valid|ready)"]),
    ("DMA AXI B", [r"axi__b(id|resp|valid|ready)"]),
    ("DMA engine", [
        (r"core\.dma\.(fsm_state|busy|outstanding|ax_valid|ax_addr|ax_len|a_addr|a_words_left"
         r"|r_left|w_left|credit|load|retire)"),
        r"core\.dma\.d\.(dir|dram_addr|tcm_addr|row_bytes)",
        r"core\.dma\.done__(valid|payload\.error)"]),
    ("TCM banks", [
        (r"core\.tcm\.(compute|dma|vec)_(req__valid|req__ready|req__payload\.\w+|resp__valid"
         r"|resp__ready|grant|accepted|banks|eligible|stall_cycles)"),
        r"core\.tcm\.post_\w+", r"core\.tcm\.(r_en|w_en)(\$\d+)?"]),
    ("compute", [
        r"comp\.(rt|arm_rt|armed|cur|feeding|job_sent|set\d_idle|all_idle|step_in_rt)",
        r"engine\.(busy|fire|stall_operand|error|(job|step|y)__(valid|ready))",
        r"vlut\.fsm_state"]),
]


def npu_groups(lanes: int) -> list[tuple[str, list[str]]]:
    """:data:`NPU_GROUPS` plus one group per lane: its MAC pair and its accumulator."""
    out = list(NPU_GROUPS)
    for i in range(lanes):
        out.append((f"lane {i}: MAC pair + accumulator", [
            rf"engine\.mac{i}\.(x|w|pattern|sum|invalid)",
            rf"engine\.acc{i}\.(i|o)__(valid|ready|payload)",
            rf"engine\.acc{i}\.advance"]))
    return out


_VAR = re.compile(r"\$var\s+\S+\s+(\d+)\s+\S+\s+(\S+)(?:\s+(\[[^\]]*\]))?\s+\$end")


def vcd_signals(path) -> dict[str, int]:
    """``{full name: width}`` of every variable in a VCD file, from its header only."""
    scopes: list[str] = []
    out: dict[str, int] = {}
    with open(path, errors="replace") as f:
        for line in f:
            tok = line.split()
            if not tok:
                continue
            if tok[0] == "$scope":
                scopes.append(tok[2])
            elif tok[0] == "$upscope":
                scopes.pop()
            elif tok[0] == "$var":
                m = _VAR.search(line)
                if m:
                    name = m.group(2).lstrip("\\")
                    out[".".join([*scopes, name])] = int(m.group(1))
            elif tok[0] == "$enddefinitions":
                break
    return out


def enum_decoders(component) -> dict[str, dict[int, str]]:
    """Value names of the enum-shaped signals (and struct fields) and FSM states of a design.

    Keys are dotted names below the component (``"core.state"``, ``"core.dma.fsm_state"``,
    ``"core.dma_cmd.dma.op"``), as they appear in Verilog emitted from it.
    """
    from amaranth.hdl import Fragment
    from amaranth.hdl._ast import Format

    design = Fragment.get(component, None).prepare()
    out: dict[str, dict[int, str]] = {}

    def walk(fmt, name):
        if isinstance(fmt, Format.Enum):
            out[name] = {int(k): str(v) for k, v in fmt._variants.items()}
        elif isinstance(fmt, Format.Struct):
            for field, sub in fmt._fields.items():
                walk(sub, f"{name}.{field}")

    for info in design.fragments.values():
        prefix = ".".join(info.name[1:])
        for sig, sname in info.signal_names.items():
            name = f"{prefix}.{sname}" if prefix else sname
            dec = sig._decoder
            if dec is not None and not isinstance(dec, type) and len(sig) <= 8:
                # FSM states: Amaranth's decoder names them "STATE/value" (KeyError beyond).
                names = {}
                for v in range(1 << len(sig)):
                    try:
                        names[v] = str(dec(v)).split("/")[0]
                    except (KeyError, ValueError):
                        pass
                out[name] = names
            else:
                walk(sig._format, name)
    return out


def _filter_text(values: Mapping[int, str], width: int) -> str:
    digits = max(1, -(-width // 4))
    return "".join(f"{v:0{digits}x} {label}\n" for v, label in sorted(values.items())
                   if 0 <= v < (1 << width))


def write_gtkw(gtkw_path, dump_path, signals: Mapping[str, int],
               groups: Iterable[tuple[str, Iterable[str]]], *, scope: str = "",
               enums: Mapping[str, Mapping[int, str]] | None = None) -> Path:
    """Write a GTKWave save file for ``dump_path`` with ``signals`` grouped by ``groups``.

    Parameters
    ----------
    gtkw_path, dump_path : str or Path
        The save file to write and the trace it opens (VCD or FST).
    signals : mapping of str to int
        Full signal names in the trace and their widths (:func:`vcd_signals`).
    groups : iterable of (str, iterable of str)
        Group name and regular expressions, matched in full against the part of a name
        below ``scope``; a signal goes to the first group that matches it, groups keep the
        trace's order of signals, and empty groups are left out.
    scope : str
        Dotted prefix of the block the patterns are relative to (``""``: the whole trace).
    enums : mapping, optional
        ``{name below scope: {value: label}}``; these signals are shown through a translate
        filter file ``<gtkw stem>.filters/<name>.txt``.

    Returns
    -------
    Path
        ``gtkw_path``.
    """
    from vcd.gtkw import GTKWSave

    gtkw_path, dump_path = Path(gtkw_path), Path(dump_path)
    enums = dict(enums or {})
    stem = scope + "." if scope else ""
    rel = {full[len(stem):]: full for full in signals if full.startswith(stem)}
    compiled = [(g, [re.compile(p) for p in pats]) for g, pats in groups]
    chosen: dict[str, list[str]] = {g: [] for g, _ in compiled}
    for name in rel:
        for g, pats in compiled:
            if any(p.fullmatch(name) for p in pats):
                chosen[g].append(name)
                break
    filter_dir = gtkw_path.with_suffix(".filters")
    gtkw_path.parent.mkdir(parents=True, exist_ok=True)
    with open(gtkw_path, "w") as f:
        save = GTKWSave(f)
        save.comment(f"lutnpu: signals of {scope or 'the trace'} grouped by block "
                     "(cosim.gtkw); enum values through translate filter files")
        save.dumpfile(str(dump_path.resolve()))
        save.savefile(str(gtkw_path.resolve()))
        save.signals_width(320)
        save.treeopen(scope or "TOP")
        for group, names in chosen.items():
            if not names:
                continue
            with save.group(group, closed=False):
                for name in names:
                    full, width = rel[name], signals[rel[name]]
                    trace = full + (f"[{width - 1}:0]" if width > 1 else "")
                    filt = None
                    if name in enums:
                        filter_dir.mkdir(parents=True, exist_ok=True)
                        filt = filter_dir / (re.sub(r"[^\w.]", "_", name) + ".txt")
                        filt.write_text(_filter_text(enums[name], width))
                        filt = str(filt.resolve())
                    save.trace(trace, datafmt="hex", translate_filter_file=filt)
    return gtkw_path


def _design_signals(component, scope: str = NPU_SCOPE) -> dict[str, int]:
    """Signal names and widths from the design, for traces whose header we cannot read."""
    from amaranth.hdl import Fragment

    design = Fragment.get(component, None).prepare()
    out = {}
    for info in design.fragments.values():
        prefix = ".".join((scope, *info.name[1:]))
        for sig, sname in info.signal_names.items():
            out[f"{prefix}.{sname}"] = len(sig)
    return out


def write_npu_gtkw(dump_path, component, gtkw_path=None) -> Path:
    """Save file for a Verilator recording of ``component`` (an :class:`hw.NpuTop`).

    Signal names come from the VCD header, or for FST (which we do not parse) from the
    Amaranth design itself. Returns the path of the save file (``dump_path`` with suffix
    ``.gtkw`` by default).
    """
    dump_path = Path(dump_path)
    gtkw_path = Path(gtkw_path) if gtkw_path else dump_path.with_suffix(".gtkw")
    if dump_path.suffix == ".vcd":
        signals = vcd_signals(dump_path)
    else:
        signals = _design_signals(component)
    return write_gtkw(gtkw_path, dump_path, signals, npu_groups(component.config.lanes),
                      scope=NPU_SCOPE, enums=enum_decoders(component))


def write_component_gtkw(dump_path, component, *, scope: str, gtkw_path=None) -> Path:
    """Save file for a Verilator recording of any component (``cosim.runner.run_cocotb``).

    One group per member of the component's signature (``i``, ``o``, ``a``...), holding its
    ports and their struct fields, then the clock and reset; internal signals stay in the
    trace but out of the save file. ``scope`` is the component's place in the trace (the
    Verilog toplevel name).
    """
    dump_path = Path(dump_path)
    gtkw_path = Path(gtkw_path) if gtkw_path else dump_path.with_suffix(".gtkw")
    if dump_path.suffix == ".vcd":
        signals = vcd_signals(dump_path)
    else:
        signals = _design_signals(component, scope)
    groups = [(name, [rf"{re.escape(name)}(__\w+)?(\.[\w.\[\]]+)?"])
              for name in component.signature.members]
    groups.append(("clock and reset", [r"clk", r"rst"]))
    return write_gtkw(gtkw_path, dump_path, signals, groups, scope=scope,
                      enums=enum_decoders(component))
