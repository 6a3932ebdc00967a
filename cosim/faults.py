"""Fault injection for NPU runs: command lists and images broken in one named way each.

``error_images(prog)`` returns, for a compiled ``golden.compile.Program``, DRAM images that
differ from ``prog.image`` in exactly one place, each of which must stop the NPU with an
error (the golden interpreter ``golden.compile.execute`` says which code and fault address).
The same images drive the Amaranth-simulator and the Verilator end-to-end tests.
"""

from __future__ import annotations

from golden.compile import Program, panel_bytes
from hw.commands import COMMAND_BYTES, Opcode, encode

__all__ = ["ERROR_CASES", "TILE_ROWS", "error_images", "patch_command"]

#: The named faults of :func:`error_images`.
ERROR_CASES = ("unknown_opcode", "dram_outside_window", "tcm_out_of_range", "zero_length",
               "dma_oversized_length", "dma_misaligned_tcm", "dma_dram_beyond_bus",
               "gemv_tcm_range", "gemv_x_range", "gemv_y_range", "gemv_misaligned",
               "gemv_tiles_without_first_last", "invalid_pattern", "invalid_pattern_tile1")

#: ``tile_rows`` for ``compile_gemv`` where a case needs its own (its first GEMV must have
#: 2+ row tiles); the other cases are built from any program.
TILE_ROWS = {"invalid_pattern_tile1": 3}


def patch_command(prog: Program, index: int, op, **fields) -> bytearray:
    """A copy of the image with command ``index`` replaced (``op=None``: ``fields["raw"]``)."""
    img = bytearray(prog.image)
    o = prog.cmd_addr - prog.dram_base + index * COMMAND_BYTES
    img[o:o + COMMAND_BYTES] = encode(op, **fields) if op is not None else fields["raw"]
    return img


def _nth(prog: Program, opcode: Opcode, n: int = 0) -> int:
    return [i for i, (op, _) in enumerate(prog.commands) if op is opcode][n]


def error_images(prog: Program) -> dict[str, bytearray]:
    """One faulty image per name in :data:`ERROR_CASES` (needs a 2:4 program with 2+ LOADs);
    ``invalid_pattern_tile1`` only where the first GEMV has 2+ row tiles (:data:`TILE_ROWS`)."""
    cfg, base = prog.config, prog.dram_base
    li = _nth(prog, Opcode.LOAD, 1)
    lf = dict(prog.commands[li][1])
    gi = _nth(prog, Opcode.GEMV)
    gf = dict(prog.commands[gi][1])
    values_bytes, pattern_bytes, scale_bytes = panel_bytes(cfg, gf["k_blocks"], True)

    def bad_pattern(row_tile):
        # Pattern code 6 in the high nibble of that weight tile's second pattern byte.
        img = bytearray(prog.image)
        o = (prog.w_addr - base + row_tile * (values_bytes + pattern_bytes + scale_bytes)
             + values_bytes + 1)
        img[o] = 0x60 | (img[o] & 0x0F)
        return img

    images = {
        "unknown_opcode": patch_command(prog, 2, None, raw=bytes([0x0F]) + bytes(15)),
        "dram_outside_window": patch_command(prog, li, Opcode.LOAD,
                                             **{**lf, "dram_addr": base + len(prog.image)}),
        "tcm_out_of_range": patch_command(prog, li, Opcode.LOAD,
                                          **{**lf, "tcm_addr": cfg.tcm_bytes - 8}),
        "zero_length": patch_command(prog, li, Opcode.LOAD, **{**lf, "length": 0}),
        "dma_oversized_length": patch_command(prog, li, Opcode.LOAD,
                                              **{**lf, "length": 1 << 24}),
        "dma_misaligned_tcm": patch_command(prog, li, Opcode.LOAD,
                                            **{**lf, "tcm_addr": lf["tcm_addr"] + 4}),
        "dma_dram_beyond_bus": patch_command(prog, li, Opcode.LOAD,
                                             **{**lf, "dram_addr": 1 << cfg.bus_addr_bits}),
        "gemv_tcm_range": patch_command(prog, gi, Opcode.GEMV,
                                        **{**gf, "w_addr": cfg.tcm_bytes - 64}),
        "gemv_x_range": patch_command(prog, gi, Opcode.GEMV,
                                      **{**gf, "x_addr": cfg.tcm_bytes - 32}),
        "gemv_y_range": patch_command(prog, gi, Opcode.GEMV,
                                      **{**gf, "y_addr": cfg.tcm_bytes - 8,
                                         "flags": {**gf["flags"], "last": 1}}),
        "gemv_misaligned": patch_command(prog, gi, Opcode.GEMV,
                                         **{**gf, "x_addr": gf["x_addr"] + 8}),
        "gemv_tiles_without_first_last": patch_command(
            prog, gi, Opcode.GEMV, **{**gf, "row_tiles": 2, "flags": {**gf["flags"], "first": 0}}),
        "invalid_pattern": bad_pattern(0),
    }
    if gf["row_tiles"] >= 2:
        # The fault address then depends on the row tile (NpuTop multiplies it out).
        images["invalid_pattern_tile1"] = bad_pattern(1)
    return images
