"""NPU performance targets of issue 5, measured in the Verilator cosimulation.

Keys (see cosim.npu.measure_targets for how each is measured):
- ``mac_utilization``: mac_active / compute_busy, 2:4 GEMV with the operands in TCM.
- ``gemv_cycles_over_bound``: end-to-end cycles / bound_cycles, 1024 x 4096 2:4 MXFP4 from DRAM.
- ``sparse_speedup``: compute cycles dense / 2:4 on the same shape with the operands in TCM.
- ``cosim_4096_wall_s``: wall seconds of a 4096 x 4096 2:4 MXFP4 GEMV in Verilator (compile,
  DRAM image, simulation and read-back; the one-off Verilator build excluded), bit-exact.
"""

from cosim.npu import measure_targets


def run() -> dict:
    raw = measure_targets()
    if not raw["npu_4096x4096_exact"]:
        raise AssertionError("4096 x 4096 NPU result is not bit-exact: refusing to report it")
    out = {
        "mac_utilization": raw["npu_mac_util_tcm"],
        "gemv_cycles_over_bound": raw["npu_e2e_ratio_1024x4096"],
        "sparse_speedup": raw["npu_sparse_speedup"],
        "cosim_4096_wall_s": raw["npu_4096x4096_wall_s"],
    }
    out.update(raw)
    return out
