"""E2M1Multiplier in Amaranth's simulator: all 256 code pairs against the golden table."""

import numpy as np
import pytest

from golden.formats import E2M1_PRODUCT_QUARTERS, E2M1_VALUES
from hw import E2M1Multiplier


@pytest.mark.parametrize("form", ["table", "arith"])
def test_all_256_products_match_golden_values(rtl_run, form):
    cases = [{"a": a, "b": b} for a in range(16) for b in range(16)]
    got = rtl_run(E2M1Multiplier(form), cases, ["p"])
    p = np.array([r["p"] for r in got]).reshape(16, 16)
    # Compare with the float product of the value table, not with the table the RTL used.
    expect = np.outer(E2M1_VALUES.astype(np.float64), E2M1_VALUES.astype(np.float64)) * 4
    np.testing.assert_array_equal(p, expect)
    np.testing.assert_array_equal(p, E2M1_PRODUCT_QUARTERS)


@pytest.mark.parametrize("form", ["table", "arith"])
def test_named_products(rtl_run, form):
    # (a, b) -> quarters: 6*6=36 -> 144, -6*6 -> -144, 0.5*0.5 -> 1, -0 * x -> 0
    named = {(7, 7): 144, (15, 7): -144, (15, 15): 144, (1, 1): 1, (8, 7): 0, (8, 8): 0,
             (3, 5): 18, (9, 1): -1}
    got = rtl_run(E2M1Multiplier(form), [{"a": a, "b": b} for a, b in named], ["p"])
    assert [r["p"] for r in got] == list(named.values())
    assert min(E2M1_PRODUCT_QUARTERS.flat) == -144 and max(E2M1_PRODUCT_QUARTERS.flat) == 144


def test_unknown_form_is_rejected():
    with pytest.raises(ValueError, match="form must be one of"):
        E2M1Multiplier("rom")
