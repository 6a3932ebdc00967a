"""``python -m hw``: emit Verilog for any registered lutnpu block or for the NPU top.

Usage::

    python -m hw verilog --block fp32_adder -o build/verilog/fp32_adder.v
    python -m hw verilog --block block_accumulator --scale-format e4m3 -o acc.v
    python -m hw verilog --top -o build/verilog/lutnpu_top.v
    python -m hw list

Every :class:`hw.NpuConfig` field is an option (``--lanes 16``, ``--scale-format e4m3``...).

To add a block, add one entry to :data:`BLOCKS` below: ``"name": lambda cfg: Block(...)``.
The name is also the Verilog module name of the emitted top, the ``--block`` argument of
``python -m hw.synth``, and it is linted by tests/hw/test_hw_cli.py automatically.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

from .config import NpuConfig

__all__ = ["BLOCKS", "build_block", "build_top", "config_from_args", "emit_block", "main"]


def _e2m1(cfg):
    from .e2m1 import E2M1Multiplier
    return E2M1Multiplier()


def _sparse_mac(cfg):
    from .sparse_mac import SparseMacPair
    return SparseMacPair()


def _fp32_add(cfg):
    from .fp32_add import FP32Adder
    return FP32Adder()


def _block_acc(cfg):
    from .block_acc import BlockAccumulator
    return BlockAccumulator(cfg)


def _tcm(cfg):
    from .tcm import Tcm
    return Tcm(cfg)


def _dma(cfg):
    from .dma import Dma
    return Dma(cfg)


def _vlut16(cfg):
    from .vlut16 import VLut16
    return VLut16(cfg)


def _vlut_engine(cfg):
    from .vlut16 import VLutEngine
    return VLutEngine(cfg)


def _gemv(cfg):
    from .gemv import GemvEngine
    return GemvEngine(cfg)


def _csr(cfg):
    from .csr import Csr
    return Csr(cfg)


#: Block registry: Verilog top name -> factory(NpuConfig) -> wiring.Component.
#: ADD YOUR BLOCK HERE (import inside the factory so one broken block cannot break the CLI).
BLOCKS = {
    "e2m1_multiplier": _e2m1,
    "sparse_mac_pair": _sparse_mac,
    "fp32_adder": _fp32_add,
    "block_accumulator": _block_acc,
    "tcm": _tcm,
    "dma": _dma,
    "vlut16": _vlut16,
    "vlut_engine": _vlut_engine,
    "gemv_engine": _gemv,
    "csr": _csr,
}


def build_block(name: str, config: NpuConfig | None = None):
    """Instantiate registered block ``name`` for ``config`` (default ``NpuConfig()``).

    Raises
    ------
    ValueError
        If ``name`` is not in :data:`BLOCKS`.
    """
    if name not in BLOCKS:
        raise ValueError(f"unknown block {name!r}; registered blocks: {', '.join(sorted(BLOCKS))}")
    return BLOCKS[name](config or NpuConfig())


def build_top(config: NpuConfig | None = None):
    """Instantiate ``hw.NpuTop``; a clear RuntimeError while it does not exist yet."""
    import hw

    top = getattr(hw, "NpuTop", None)
    if top is None:
        raise RuntimeError("hw.NpuTop is not implemented yet (hw/top.py has not landed); "
                           "emit single blocks with --block NAME, see `python -m hw list`")
    return top(config or NpuConfig())


def emit_block(name: str, config: NpuConfig | None = None) -> str:
    """Verilog text of registered block ``name`` with top module ``name``."""
    from amaranth.back import verilog

    return verilog.convert(build_block(name, config), name=name, emit_src=False)


def _add_config_options(parser: argparse.ArgumentParser) -> None:
    defaults = NpuConfig()
    for f in dataclasses.fields(NpuConfig):
        kind = int if f.type in ("int", int) else str
        parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind,
                            default=None,
                            help=f"NpuConfig.{f.name} (default {getattr(defaults, f.name)!r})")


def config_from_args(args) -> NpuConfig:
    """NpuConfig from the parsed options (unset options keep their defaults)."""
    given = {f.name: getattr(args, f.name) for f in dataclasses.fields(NpuConfig)
             if getattr(args, f.name, None) is not None}
    return NpuConfig(**given)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hw", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    v = sub.add_parser("verilog", help="emit Verilog for a block or the NPU top")
    which = v.add_mutually_exclusive_group(required=True)
    which.add_argument("--block", choices=sorted(BLOCKS), help="registered block name")
    which.add_argument("--top", action="store_true", help="the whole NPU (hw.NpuTop)")
    v.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")
    _add_config_options(v)
    sub.add_parser("list", help="list the registered blocks")
    args = parser.parse_args(argv)

    if args.cmd == "list":
        for name in sorted(BLOCKS):
            print(name)
        return 0
    try:
        config = config_from_args(args)
        if args.top:
            from amaranth.back import verilog

            text = verilog.convert(build_top(config), name="lutnpu_top", emit_src=False)
        else:
            text = emit_block(args.block, config)
    except (ValueError, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
        print(f"wrote {args.output} ({len(text.splitlines())} lines)", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
