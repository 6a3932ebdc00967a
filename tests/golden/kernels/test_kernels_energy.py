"""Energy and cycle model: each term from its count and the Horowitz number."""

import pytest

from golden.kernels import energy as en

PJ = en.HOROWITZ_45NM_PJ


def test_horowitz_numbers_of_the_spec():
    assert PJ["fp32_add"] == 0.9 and PJ["fp32_mult"] == 3.7 and PJ["int8_add"] == 0.03
    assert PJ["sram_32k_64b"] == 20 and PJ["dram_64b_low"] == 1300


def test_gemv_terms_by_hand():
    e = en.gemv_energy(4, 64, block=32, lanes=8)
    assert e.terms["mult"] == pytest.approx(256 * 0.2)
    assert e.terms["add"] == pytest.approx(256 * 0.1)
    assert e.terms["scale"] == pytest.approx(8 * (0.03 + 3.7))
    assert e.terms["accumulate"] == pytest.approx(8 * 0.9)
    w_bytes, x_bytes, y_bytes = 128 + 8, 32 + 2, 16
    assert e.terms["tcm"] == pytest.approx((2 * (w_bytes + x_bytes) + y_bytes) / 8 * 20)
    dram = (w_bytes + x_bytes + y_bytes) / 8
    assert e.terms["dram"] == pytest.approx(dram * 1950)
    assert e.dram_range_pj == pytest.approx((dram * 1300, dram * 2600))
    assert e.cycles == 32
    lo, hi = e.total_range_pj
    assert lo < e.total_pj < hi


def test_sparse_halves_the_arithmetic():
    d = en.gemv_energy(64, 256)
    s = en.gemv_energy(64, 256, sparse=True)
    assert s.terms["mult"] == pytest.approx(d.terms["mult"] / 2)
    assert s.cycles == d.cycles // 2


def test_from_counters_uses_dram_bytes_and_cycles():
    e = en.from_counters({"dram_bytes_read": 800, "dram_bytes_written": 80, "cycles": 1234},
                         16, 64)
    assert e.terms["dram"] == pytest.approx(110 * 1950)
    assert e.cycles == 1234
    hw_names = en.from_counters({"dram_rd_bytes": 800, "dram_wr_bytes": 80, "cycles": 9}, 16, 64)
    assert hw_names.terms["dram"] == pytest.approx(110 * 1950)


def test_token_energy_dram_dominates_unless_resident():
    t = en.token_energy(en.SMOLLM2_135M, context=1024)
    r = en.token_energy(en.SMOLLM2_135M, context=1024, weights_resident=True)
    assert t.terms["dram"] > 0.5 * t.total_pj
    assert r.total_pj < t.total_pj
    assert len(en.SMOLLM2_135M.linears()) == 30 * 7 + 1


def test_bad_block_raises():
    with pytest.raises(ValueError, match="block"):
        en.gemv_energy(4, 48, block=32)
