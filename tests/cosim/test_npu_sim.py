"""NpuTop end to end in Amaranth's simulator: CSR programming, command list, DMA, GEMV.

Every run is compared with golden.gemv_reference (y, bit for bit) and, for the error paths,
with golden.compile.execute (error code, fault address, DRAM contents).
"""

import dataclasses
import itertools

import numpy as np
import pytest

from cosim.faults import ERROR_CASES, TILE_ROWS, error_images, patch_command
from cosim.npu import run_program_amaranth
from golden import gemv_reference, quant, sparse
from golden.compile import compile_gemv, execute
from hw.axi import Resp
from hw.commands import ErrorCode, Opcode
from hw.config import NpuConfig


def _operands(m, k, *, seed=0, sparse_w=True, fmt="mxfp4", block=32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32) * 2
    x = rng.standard_normal(k).astype(np.float32)
    if sparse_w:
        w = sparse.prune_2_4(w)
    qf = quant.quantize_mxfp4 if fmt == "mxfp4" else quant.quantize_nvfp4
    return qf(w, block=block), qf(x, block=block)


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


SMALL = NpuConfig(tcm_bank_words=64)     # 2 KiB TCM: several tiles even for small shapes


@pytest.mark.parametrize("name,m,k,sp,cfg,kw", [
    ("sparse_double_buffered", 40, 128, True, SMALL, {"p_ready": 1.0}),
    ("dense_with_bus_back_pressure", 20, 96, False, SMALL, {"p_ready": 0.6}),
    ("k_chunked", 8, 512, True, NpuConfig(tcm_bank_words=16), {}),
    ("nvfp4_e4m3", 16, 64, True, NpuConfig(tcm_bank_words=64, block_size=16,
                                           scale_format="e4m3"), {}),
])
def test_npu_gemv_bit_exact(name, m, k, sp, cfg, kw):
    fmt, block = ("nvfp4", 16) if cfg.scale_format == "e4m3" else ("mxfp4", 32)
    w, x = _operands(m, k, seed=len(name), sparse_w=sp, fmt=fmt, block=block)
    prog = compile_gemv(w, x, config=cfg, sparse=sp)
    run = run_program_amaranth(prog, seed=1, **kw)
    assert run.status["error"] is ErrorCode.NONE and run.status["done"] == 1
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    # DRAM outside the y area is untouched; the interpreter writes the same image.
    gold = execute(cfg, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert run.image == gold.image
    c = run.counters
    steps = -(-m // cfg.lanes) * k // (4 if sp else 2)
    assert c["mac_active"] == steps
    assert c["dram_wr_bytes"] == prog.dram_write_bytes
    assert c["dram_rd_bytes"] == prog.dram_read_bytes
    assert c["cycles"] >= prog.bound_cycles


@pytest.mark.parametrize("offset", [16, 48])
def test_npu_command_list_off_a_64_byte_boundary(offset):
    # The fetcher's bursts end at 64-byte boundaries: a list that starts 16 or 48 bytes past
    # one is fetched in a short first burst, then whole ones, then the rest.
    w, x = _operands(12, 64, seed=offset, sparse_w=True)
    prog = compile_gemv(w, x, config=SMALL, sparse=True)
    blob = prog.image[prog.cmd_addr - prog.dram_base:][:prog.cmd_count * 16]
    pad = (offset - (prog.dram_base + len(prog.image))) % 64
    image = bytearray(prog.image) + bytes(pad) + blob
    cmd_addr = prog.dram_base + len(prog.image) + pad
    assert cmd_addr % 64 == offset and prog.cmd_count > 5
    moved = dataclasses.replace(prog, image=image, cmd_addr=cmd_addr)
    run = run_program_amaranth(moved, seed=2)
    assert run.status["error"] is ErrorCode.NONE and run.status["done"] == 1
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    gold = execute(SMALL, image, prog.dram_base, cmd_addr, prog.cmd_count)
    assert run.image == gold.image
    # The fetcher's bursts (AR id 1) read the list once, in order, none across 64 bytes.
    fetch = [(a, n) for i, a, n in run.extra["read_bursts"] if i == 1]
    beat = SMALL.bus_bytes
    assert all(a // 64 == (a + n * beat - 1) // 64 for a, n in fetch)
    assert fetch[0][0] == cmd_addr and fetch[0][1] * beat == 64 - offset
    assert [a for a, _ in fetch] == list(itertools.accumulate(
        [cmd_addr] + [n * beat for _, n in fetch[:-1]]))
    assert sum(n for _, n in fetch) * beat == prog.cmd_count * 16


@pytest.mark.parametrize("case", ERROR_CASES)
def test_npu_error_paths_match_the_interpreter_and_recover(case):
    w, x = _operands(24, 64, seed=5)
    prog = compile_gemv(w, x, config=SMALL, sparse=True, tile_rows=TILE_ROWS.get(case))
    img = error_images(prog)[case]
    gold = execute(prog.config, img, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert gold.error is not ErrorCode.NONE
    w2, x2 = _operands(8, 64, seed=6)
    prog2 = compile_gemv(w2, x2, config=SMALL, sparse=True)
    run, run2 = run_program_amaranth(prog, image=img, then=prog2)
    assert run.status["error"] is gold.error
    assert run.status["fault_addr"] == gold.fault_addr
    assert run.status["done"] == 0 and run.status["irq_status"] == 0b10
    yo = prog.y_addr - prog.dram_base
    assert run.image[:yo] == img[:yo]                  # nothing written outside y
    assert run.image[yo:] == gold.image[yo:]
    # After a soft reset the next command list runs.
    assert run2.status["error"] is ErrorCode.NONE and run2.status["done"] == 1
    np.testing.assert_array_equal(_bits(run2.y), _bits(gemv_reference(w2, x2)))


def test_npu_axi_read_error_is_reported_without_hang():
    w, x = _operands(16, 64, seed=7)
    prog = compile_gemv(w, x, config=SMALL, sparse=True)
    bad = prog.w_addr + 64
    run = run_program_amaranth(prog, errors={(bad, bad + 8): Resp.SLVERR})
    assert run.status["error"] is ErrorCode.AXI_SLVERR
    assert run.status["fault_addr"] == bad
    yo = prog.y_addr - prog.dram_base
    assert run.image[yo:] == prog.image[yo:]


def test_npu_command_list_without_end_and_empty_list():
    w, x = _operands(8, 64, seed=8)
    prog = compile_gemv(w, x, config=SMALL, sparse=True)
    run = run_program_amaranth(prog, cmd_count=prog.cmd_count - 1)
    assert (run.status["error"], run.status["fault_addr"]) == (ErrorCode.BAD_LENGTH,
                                                              prog.cmd_addr)
    run = run_program_amaranth(prog, cmd_count=0)
    assert run.status["error"] is ErrorCode.BAD_LENGTH
    run = run_program_amaranth(prog, window=(prog.dram_base + 64, len(prog.image)))
    assert (run.status["error"], run.status["fault_addr"]) == (ErrorCode.DRAM_RANGE,
                                                              prog.cmd_addr)
    # The list starts inside the window and runs past its end (the end's sum and its
    # compare are registered: this fails if CHECK reads them too early).
    run = run_program_amaranth(prog, window=(prog.dram_base,
                                             prog.cmd_addr - prog.dram_base + 16))
    assert (run.status["error"], run.status["fault_addr"]) == (ErrorCode.DRAM_RANGE,
                                                              prog.cmd_addr)


def test_npu_lut_command_matches_interpreter_and_table():
    from golden.compile import compile_lut

    rng = np.random.default_rng(9)
    table = rng.integers(0, 1 << 16, 16)
    idx = rng.integers(0, 16, 64)
    prog = compile_lut(table, idx, config=SMALL)
    run = run_program_amaranth(prog)
    assert run.status["error"] is ErrorCode.NONE and run.status["done"] == 1
    o = prog.y_addr - prog.dram_base
    got = np.frombuffer(bytes(run.image[o:o + 2 * idx.size]), dtype="<u2")
    np.testing.assert_array_equal(got, table[idx])
    gold = execute(prog.config, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert run.image == gold.image


@pytest.mark.parametrize("field,value,code", [
    ("count", 40, ErrorCode.BAD_LENGTH), ("dst_addr", 2048 - 64, ErrorCode.TCM_RANGE),
    # which range failed decides the fault address (NpuTop works it out from the command)
    ("src_addr", 2048 - 16, ErrorCode.TCM_RANGE), ("table_addr", 2048 - 16, ErrorCode.TCM_RANGE)])
def test_npu_lut_errors_match_interpreter(field, value, code):
    from golden.compile import compile_lut

    rng = np.random.default_rng(10)
    prog = compile_lut(rng.integers(0, 1 << 16, 16), rng.integers(0, 16, 64), config=SMALL)
    li = next(i for i, (op, _) in enumerate(prog.commands) if op is Opcode.LUT)
    img = patch_command(prog, li, Opcode.LUT, **{**prog.commands[li][1], field: value})
    gold = execute(prog.config, img, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    run = run_program_amaranth(prog, image=img)
    assert gold.error is code
    assert (run.status["error"], run.status["fault_addr"]) == (gold.error, gold.fault_addr)
    assert run.image == gold.image


@pytest.mark.parametrize("seed", range(6))
def test_npu_gemv_bit_exact_under_random_bus_back_pressure(seed):
    """Random AR/AW ready on the bus model, so W beats often arrive before their AW: y and
    every DRAM byte must still match (this once caught the bus model accepting a W beat while
    it showed wready low, which duplicated a beat of y)."""
    w, x = _operands(17, 64, seed=seed + 100, sparse_w=bool(seed % 2))
    prog = compile_gemv(w, x, config=SMALL, sparse=bool(seed % 2))
    run = run_program_amaranth(prog, seed=seed, p_ready=0.3)
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    gold = execute(prog.config, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert run.image == gold.image


def test_operand_stalls_of_a_tcm_resident_gemv_are_only_the_pipeline_fill():
    # 4 row tiles x 256 steps with W and x in the TCM: after the first step every step must
    # be fed back to back (the second plane-reader set prefetches the next row tile), and
    # the fill must not wait for one reader to fill its whole credit before the next reader
    # gets a line (fixed-order arbitration: 53 stall cycles; round robin: 16).
    w, x = _operands(32, 1024, seed=3)
    run = run_program_amaranth(compile_gemv(w, x, config=NpuConfig(), sparse=True,
                                            tile_rows=4))
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    assert run.counters["mac_active"] == 4 * 256
    assert run.counters["stall_operand"] <= 24
