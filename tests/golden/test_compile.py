"""golden.compile: DRAM image + command list, proved by the interpreter against gemv_reference."""

import numpy as np
import pytest

from golden import gemv_reference, quant, sparse
from golden.compile import compile_gemv, execute
from hw.commands import COMMAND_BYTES, ErrorCode, Opcode, decode, encode
from hw.config import NpuConfig


def _operands(m, k, *, seed=0, sparse_w=False, fmt="mxfp4", block=32):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32) * 4
    x = rng.standard_normal(k).astype(np.float32)
    if sparse_w:
        w = sparse.prune_2_4(w)
    qf = quant.quantize_mxfp4 if fmt == "mxfp4" else quant.quantize_nvfp4
    return qf(w, block=block), qf(x, block=block)


def _run(prog):
    res = execute(prog.config, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    return res, prog.y_from_image(res.image)


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


CASES = {
    # name: (M, K, sparse, config kwargs, compile kwargs)
    "dense_small": (8, 64, False, {}, {}),
    "sparse_small": (16, 128, True, {}, {}),
    "rows_not_multiple_of_lanes": (13, 96, True, {}, {}),
    "many_tiles_double_buffered": (200, 256, True, {"tcm_bank_words": 64}, {}),
    "k_chunked_through_small_tcm": (24, 1024, True, {"tcm_bank_words": 16}, {}),
    "k_chunked_dense": (9, 512, False, {"tcm_bank_words": 16}, {}),
    "one_lane": (5, 64, True, {"lanes": 1, "tcm_bank_words": 32}, {}),
    "wide_bus_16_lanes": (40, 128, False, {"lanes": 16, "bus_data_bits": 128,
                                           "tcm_word_bits": 128}, {}),
    "tile_rows_forced": (64, 128, True, {}, {"tile_rows": 3}),
    "dram_base_offset": (8, 64, False, {}, {"dram_base": 0x8000_0000}),
}


@pytest.mark.parametrize("name", list(CASES))
def test_interpreter_matches_gemv_reference_bit_for_bit(name):
    m, k, sp, ckw, kw = CASES[name]
    cfg = NpuConfig(**ckw)
    w, x = _operands(m, k, seed=len(name), sparse_w=sp)
    prog = compile_gemv(w, x, config=cfg, sparse=sp, **kw)
    res, y = _run(prog)
    assert res.error is ErrorCode.NONE
    np.testing.assert_array_equal(_bits(y), _bits(gemv_reference(w, x)))
    # Nothing outside the y area changed.
    yo = prog.y_addr - prog.dram_base
    assert res.image[:yo] == prog.image[:yo]
    assert res.dram_write_bytes == prog.dram_write_bytes


def test_nvfp4_e4m3_scales_bit_exact():
    cfg = NpuConfig(block_size=16, scale_format="e4m3")
    for sp in (False, True):
        w, x = _operands(24, 160, seed=3, sparse_w=sp, fmt="nvfp4", block=16)
        res, y = _run(compile_gemv(w, x, config=cfg, sparse=sp))
        assert res.error is ErrorCode.NONE
        np.testing.assert_array_equal(_bits(y), _bits(gemv_reference(w, x)))


def test_special_scales_nan_inf_subnormal_bit_exact():
    rng = np.random.default_rng(7)
    m, k = 16, 128
    codes = rng.integers(0, 16, (m, k)).astype(np.uint8)
    scales = rng.integers(100, 160, (m, k // 32)).astype(np.uint8)
    scales[0, 1] = 255                  # NaN scale
    scales[1, :] = 254                  # overflow to +-Inf, Inf - Inf = NaN
    scales[2, :] = 0                    # subnormal / underflow results
    scales[3, :] = 1
    xs = np.array([254, 127, 0, 30], dtype=np.uint8)
    w = quant.BlockQuantized(codes, scales, 32, "e8m0")
    x = quant.BlockQuantized(rng.integers(0, 16, k).astype(np.uint8), xs, 32, "e8m0")
    _res, y = _run(compile_gemv(w, x))
    ref = gemv_reference(w, x)
    assert np.isnan(ref[0]) and np.any(np.isinf(ref) | np.isnan(ref[1:2]))
    np.testing.assert_array_equal(_bits(y), _bits(ref))


def test_sparse_requires_2_4_weights():
    w, x = _operands(8, 64)
    with pytest.raises(ValueError, match="2:4"):
        compile_gemv(w, x, sparse=True)


def test_bad_operands_raise():
    w, x = _operands(8, 64)
    with pytest.raises(ValueError, match="block_size"):
        compile_gemv(w, x, config=NpuConfig(block_size=16))
    w2, _ = _operands(8, 96)
    with pytest.raises(ValueError, match="K"):
        compile_gemv(w2, x)
    with pytest.raises(ValueError, match="tile_rows"):
        compile_gemv(w, x, config=NpuConfig(tcm_bank_words=16), tile_rows=50)


def test_next_load_is_issued_before_the_current_gemv():
    w, x = _operands(128, 256, sparse_w=True)
    prog = compile_gemv(w, x, sparse=True, config=NpuConfig(tcm_bank_words=64))
    assert prog.tiles >= 4
    ops = [op for op, _ in prog.commands]
    gemvs = [i for i, op in enumerate(ops) if op is Opcode.GEMV]
    for g in gemvs[:-1]:
        # Between the previous SYNC and this GEMV there is a LOAD (of the next tile).
        prev_sync = max(i for i in range(g) if ops[i] is Opcode.SYNC)
        assert Opcode.LOAD in ops[prev_sync:g]
    bufs = {f["w_addr"] for op, f in prog.commands if op is Opcode.GEMV}
    assert bufs == set(prog.tcm.buf)


def test_missing_sync_is_caught_as_a_hazard():
    w, x = _operands(128, 256, sparse_w=True)
    prog = compile_gemv(w, x, sparse=True, config=NpuConfig(tcm_bank_words=64))
    cmds = list(prog.commands)
    # Drop the SYNC after the first GEMV: LOAD of tile 2 then overwrites tile 0's buffer.
    first_gemv = next(i for i, (op, _) in enumerate(cmds) if op is Opcode.GEMV)
    assert cmds[first_gemv + 1][0] is Opcode.SYNC
    del cmds[first_gemv + 1]
    blob = b"".join(encode(op, **f) for op, f in cmds) + bytes(COMMAND_BYTES)
    img = bytearray(prog.image)
    img[:len(blob)] = blob
    with pytest.raises(AssertionError, match="hazard"):
        execute(prog.config, img, prog.dram_base, prog.cmd_addr, len(cmds))


def _patched(prog, index, op, **fields):
    img = bytearray(prog.image)
    o = prog.cmd_addr - prog.dram_base + index * COMMAND_BYTES
    img[o:o + COMMAND_BYTES] = encode(op, **fields) if op is not None else fields["raw"]
    return img


def _cmd_index(prog, opcode, nth=0):
    return [i for i, (op, _) in enumerate(prog.commands) if op is opcode][nth]


def test_error_paths_stop_with_code_and_fault_address():
    w, x = _operands(32, 128, sparse_w=True)
    prog = compile_gemv(w, x, sparse=True)
    cfg, base = prog.config, prog.dram_base

    def run(img, count=prog.cmd_count):
        return execute(cfg, img, base, prog.cmd_addr, count)

    # Unknown opcode
    img = _patched(prog, 0, None, raw=bytes([0x0F]) + bytes(15))
    r = run(img)
    assert (r.error, r.fault_addr, r.executed) == (ErrorCode.UNKNOWN_OPCODE, prog.cmd_addr, 1)
    # DRAM address outside the window
    i = _cmd_index(prog, Opcode.LOAD)
    f = dict(prog.commands[i][1])
    r = run(_patched(prog, i, Opcode.LOAD, **{**f, "dram_addr": base + len(prog.image)}))
    assert (r.error, r.fault_addr) == (ErrorCode.DRAM_RANGE, base + len(prog.image))
    # TCM out of range
    r = run(_patched(prog, i, Opcode.LOAD, **{**f, "tcm_addr": cfg.tcm_bytes - 8}))
    assert (r.error, r.fault_addr) == (ErrorCode.TCM_RANGE, cfg.tcm_bytes - 8)
    # Zero length
    r = run(_patched(prog, i, Opcode.LOAD, **{**f, "length": 0}))
    assert r.error is ErrorCode.BAD_LENGTH
    # Command list without END
    r = run(prog.image, count=prog.cmd_count - 1)
    assert r.error is ErrorCode.BAD_LENGTH
    # Invalid pattern code 6 in the first panel's pattern plane: y is never written.
    img = bytearray(prog.image)
    wo = prog.w_addr - base
    from golden.compile import panel_bytes
    v, _, _ = panel_bytes(cfg, 128 // 32, True)
    img[wo + v + 3] = 0x06 | (img[wo + v + 3] & 0xF0)
    r = run(img)
    gi = _cmd_index(prog, Opcode.GEMV)
    assert r.error is ErrorCode.INVALID_PATTERN
    assert r.fault_addr == prog.commands[gi][1]["w_addr"] + v + 3
    yo = prog.y_addr - base
    assert r.image[yo:] == prog.image[yo:]
    # All errors left the command words untouched (nothing written outside y).
    assert r.image[:yo] == img[:yo]


def test_bound_and_estimate():
    w, x = _operands(1024, 4096, sparse_w=True, seed=1)
    prog = compile_gemv(w, x, sparse=True)
    cfg = prog.config
    assert prog.compute_cycles == 1024 // cfg.lanes * 4096 // 4
    nbytes = 1024 * 4096 // 4 + 1024 * 4096 // 8 + 1024 * 4096 // 32 + 4096 // 2 + 4096 // 32
    assert prog.min_dram_bytes == nbytes + 4 * 1024
    assert prog.bound_cycles == max(prog.compute_cycles, -(-prog.min_dram_bytes // 8))
    est = prog.estimate_cycles()
    assert prog.bound_cycles <= est <= 1.05 * prog.bound_cycles
    # Whatever the tiling, the layout moves each operand byte once.
    assert prog.dram_read_bytes - prog.cmd_count * COMMAND_BYTES <= prog.min_dram_bytes


def test_dense_takes_twice_the_compute_steps_of_2_4():
    w, x = _operands(64, 1024, sparse_w=True)
    d = compile_gemv(w, x, sparse=False)
    s = compile_gemv(w, x, sparse=True)
    assert d.compute_cycles == 2 * s.compute_cycles
    steps = {p.sparse: sum(f["row_tiles"] * f["k_blocks"] for op, f in p.commands
                           if op is Opcode.GEMV) for p in (d, s)}
    assert steps[False] == steps[True]  # same blocks; 16 vs 8 steps each
    for op, f in s.commands:
        if op is Opcode.GEMV:
            assert decode(encode(op, **f))[1]["flags"]["sparse"] == 1


def test_lut_program_maps_indices_through_the_table():
    from golden.compile import compile_lut

    rng = np.random.default_rng(4)
    table = rng.integers(0, 1 << 16, 16)
    idx = rng.integers(0, 16, 48)
    prog = compile_lut(table, idx)
    res = execute(prog.config, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert res.error is ErrorCode.NONE
    o = prog.y_addr - prog.dram_base
    got = np.frombuffer(bytes(res.image[o:o + 2 * idx.size]), dtype="<u2")
    np.testing.assert_array_equal(got, table[idx])
    with pytest.raises(ValueError, match="multiple of 16"):
        compile_lut(table, idx[:40])
