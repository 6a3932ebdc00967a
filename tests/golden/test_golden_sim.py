"""cosim.sim: the built-in workload and its summary (golden engine)."""

from __future__ import annotations

import numpy as np
import pytest

from cosim import sim
from golden import gemv_reference, sparse


@pytest.mark.parametrize(("dense", "scale"), [(False, "e8m0"), (True, "e4m3")])
def test_workload_shapes_sparsity_and_formats(dense, scale):
    wl = sim.make_workload(8, 128, dense=dense, scale=scale, seed=1)
    assert wl.w.shape == (8, 128) and wl.x.shape == (128,)
    assert wl.w.scale_format == scale and wl.w.block == sim.SCALE_BLOCK[scale]
    if not dense:
        sparse.compress_2_4(wl.w.codes)  # raises unless 2:4
        assert ((wl.w_float.reshape(-1, 4) != 0).sum(axis=1) <= 2).all()
    items = sim.run_golden(wl)
    assert items["shape"] == "M=8 x K=128"
    assert ("2:4 sparse" in items["weights"]) == (not dense)
    assert items["non-finite outputs"] == 0


def test_summary_sqnr_is_reasonable():
    wl = sim.make_workload(64, 512, seed=0)
    items = sim.run_golden(wl)
    sqnr = float(items["SQNR y vs fp32 W@x (same W)"].split()[0])
    assert 5.0 < sqnr < 40.0
    y = gemv_reference(wl.w, wl.x)
    assert np.isfinite(y).all()


def test_main_prints_table(capsys):
    assert sim.main(["--m", "4", "--k", "64", "--seed", "2", "--golden-only"]) == 0
    out = capsys.readouterr().out
    for key in ("shape", "SQNR", "golden GEMV time", "M=4 x K=64"):
        assert key in out


def test_main_rejects_bad_k(capsys):
    with pytest.raises(SystemExit):
        sim.main(["--k", "100"])
    assert "multiple of 32" in capsys.readouterr().err


def test_format_summary():
    text = sim.format_summary({"a": 1, "long name": "x"}, title="T")
    assert text.splitlines()[0] == "T"
    assert "a         : 1" in text and "long name : x" in text
