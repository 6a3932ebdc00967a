"""SparseMacPair in Amaranth's simulator: every pattern code, random codes, against numpy."""

import numpy as np
import pytest

from golden.formats import E2M1_VALUES
from hw import SparseMacPair

# Kept positions by pattern code, written from the SPEC section 3 table (not from the RTL).
SPEC_PATTERNS = {0: (0, 1), 1: (0, 2), 2: (0, 3), 3: (1, 2), 4: (1, 3), 5: (2, 3)}


def golden_sum(x, w, pattern):
    if pattern not in SPEC_PATTERNS:
        return 0
    p0, p1 = SPEC_PATTERNS[pattern]
    v = E2M1_VALUES.astype(np.float64)
    return int((v[w[0]] * v[x[p0]] + v[w[1]] * v[x[p1]]) * 4)


def run(rtl_run, cases, latency=0):
    dut = SparseMacPair(latency)
    assert dut.latency == latency
    return rtl_run(dut, cases, ["sum", "invalid"], latency=latency)


@pytest.mark.parametrize("latency", [0, 1, 2])
@pytest.mark.parametrize("pattern", range(8))
def test_each_pattern_code_with_random_codes(rtl_run, pattern, latency):
    rng = np.random.default_rng(100 + pattern)
    cases = []
    for _ in range(200):
        cases.append({"x": [int(c) for c in rng.integers(0, 16, 4)],
                      "w": [int(c) for c in rng.integers(0, 16, 2)], "pattern": pattern})
    got = run(rtl_run, cases, latency)
    for c, r in zip(cases, got):
        assert r["invalid"] == (pattern >= 6), (c, r)
        assert r["sum"] == golden_sum(c["x"], c["w"], pattern), (c, r)


def test_patterns_by_name_select_the_right_positions(rtl_run):
    # Distinct activations 0.5, 1, 2, 4 (codes 1, 2, 4, 6) at positions 0..3 and weights
    # 1 and -1 expose which positions each code routes: sum = x[pos0] - x[pos1].
    x = [1, 2, 4, 6]
    cases = [{"x": x, "w": [2, 10], "pattern": p} for p in range(8)]
    got = run(rtl_run, cases)
    q = {0: 2, 1: 4, 2: 8, 3: 16}  # positions -> value in quarters
    for p, r in enumerate(got):
        if p < 6:
            pos0, pos1 = SPEC_PATTERNS[p]
            assert (r["sum"], r["invalid"]) == (q[pos0] - q[pos1], 0), p
        else:
            assert (r["sum"], r["invalid"]) == (0, 1), p


def test_extremes_and_dense_pattern_zero(rtl_run):
    cases = [
        {"x": [7, 7, 0, 0], "w": [7, 7], "pattern": 0},    # 6*6 + 6*6 = 72 -> 288
        {"x": [15, 15, 3, 3], "w": [7, 7], "pattern": 0},  # -288
        {"x": [8, 0, 7, 7], "w": [8, 8], "pattern": 0},    # -0 * -0 + -0 * 0 = 0
        {"x": [7, 7, 7, 7], "w": [7, 7], "pattern": 7},    # invalid -> 0
    ]
    got = run(rtl_run, cases)
    assert [(r["sum"], r["invalid"]) for r in got] == [(288, 0), (-288, 0), (0, 0), (0, 1)]


@pytest.mark.parametrize("latency", [1, 2])
def test_pipelined_forms_take_a_new_group_every_cycle(rtl_run, latency):
    # Back-to-back groups with every pattern code interleaved: with the stage registers,
    # each result belongs to the group `latency` cycles before, never to a neighbour.
    rng = np.random.default_rng(7)
    cases = [{"x": [int(c) for c in rng.integers(0, 16, 4)],
              "w": [int(c) for c in rng.integers(0, 16, 2)], "pattern": int(p)}
             for p in rng.integers(0, 8, 400)]
    got = run(rtl_run, cases, latency=latency)
    for c, r in zip(cases, got):
        assert r["invalid"] == (c["pattern"] >= 6), (c, r)
        assert r["sum"] == golden_sum(c["x"], c["w"], c["pattern"]), (c, r)


@pytest.mark.parametrize("latency", [-1, 3, 1.5])
def test_latency_other_than_0_1_or_2_is_rejected(latency):
    with pytest.raises(ValueError, match="latency must be 0, 1 or 2, not"):
        SparseMacPair(latency)
