"""NpuTop in Verilator through cocotb (HDL clock, HDL DRAM model): cosim.run_gemv end to end.

One Verilator build (default NpuConfig) serves every test here; the first build takes about
two minutes on the 2-core reference machine, hence ``slow``.
"""

import numpy as np
import pytest

from cosim.faults import ERROR_CASES, TILE_ROWS, error_images
from cosim.npu import run_gemv, run_program_verilator
from golden import gemv_reference, quant, sparse
from golden.compile import compile_gemv, execute
from hw.axi import Resp
from hw.commands import ErrorCode
from hw.config import NpuConfig

pytestmark = pytest.mark.slow


def _operands(m, k, *, seed=0, sparse_w=True):
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((m, k)).astype(np.float32)
    if sparse_w:
        w = sparse.prune_2_4(w)
    return (quant.quantize_mxfp4(w),
            quant.quantize_mxfp4(rng.standard_normal(k).astype(np.float32)))


def _bits(a):
    return np.asarray(a, dtype=np.float32).view(np.uint32)


def test_run_gemv_4096x4096_2_4_mxfp4_bit_exact():
    w, x = _operands(4096, 4096, seed=1)
    run = run_gemv(w, x, sparse=True)
    assert run.status["error"] is ErrorCode.NONE and run.status["done"] == 1
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    prog = run.program
    assert run.counters["mac_active"] == prog.compute_cycles == 4096 // 8 * 4096 // 4
    assert run.counters["dram_rd_bytes"] == prog.dram_read_bytes
    assert run.counters["dram_wr_bytes"] == prog.dram_write_bytes == 4 * 4096
    assert run.cycles >= run.bound_cycles


@pytest.mark.parametrize("sparse_w", [True, False])
def test_run_gemv_tcm_resident_dense_and_2_4(sparse_w):
    w, x = _operands(16, 4096, seed=2, sparse_w=sparse_w)
    prog = compile_gemv(w, x, config=NpuConfig(), sparse=sparse_w, tile_rows=2)
    assert prog.tiles == 1
    run = run_program_verilator(prog)
    np.testing.assert_array_equal(_bits(run.y), _bits(gemv_reference(w, x)))
    c = run.counters
    assert c["mac_active"] == prog.compute_cycles <= c["compute_busy"] <= c["cycles"]


def test_axi_slverr_from_dram_is_reported_like_the_interpreter_says():
    w, x = _operands(64, 256, seed=3)
    prog = compile_gemv(w, x, config=NpuConfig(), sparse=True)
    bad = prog.w_addr + 8 * 40
    run = run_program_verilator(prog, errors=(bad, bad + 8, Resp.SLVERR))
    assert run.status["error"] is ErrorCode.AXI_SLVERR
    assert run.status["fault_addr"] == bad
    assert run.status["irq_status"] == 0b10
    # y in DRAM is untouched: the run stopped before any STORE.
    gold = execute(prog.config, prog.image, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    yo = prog.y_addr - prog.dram_base
    assert run.image[yo:] == prog.image[yo:] != gold.image[yo:]


@pytest.mark.parametrize("case", ERROR_CASES)
def test_error_paths_end_cleanly_in_verilator_like_the_interpreter_says(case):
    """Each named fault stops the NPU with the interpreter's error code and fault address,
    raises the error interrupt (no hang: the cocotb driver waits on irq with a timeout), and
    leaves DRAM outside the y area untouched."""
    w, x = _operands(24, 256, seed=5)
    prog = compile_gemv(w, x, config=NpuConfig(), sparse=True,
                        tile_rows=TILE_ROWS.get(case, 1))
    img = error_images(prog)[case]
    gold = execute(prog.config, img, prog.dram_base, prog.cmd_addr, prog.cmd_count)
    assert gold.error is not ErrorCode.NONE
    run = run_program_verilator(prog, image=img)
    assert run.status["error"] is gold.error
    assert run.status["fault_addr"] == gold.fault_addr
    assert run.status["done"] == 0 and run.status["irq_status"] == 0b10
    yo = prog.y_addr - prog.dram_base
    assert run.image[:yo] == img[:yo]
    assert run.image[yo:] == gold.image[yo:]
