"""Element and scale number formats (SPEC section 2).

Every conversion goes through ``ml_dtypes`` so that rounding is the library's, not ours.

E2M1 (FP4): 1 sign, 2 exponent, 1 mantissa bit, bias 1, no Inf/NaN.
Codes 0..7 are 0, 0.5, 1, 1.5, 2, 3, 4, 6; codes 8..15 are their negatives (8 is -0).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

#: float32[16], index = E2M1 code.
E2M1_VALUES: np.ndarray = np.arange(16, dtype=np.uint8).view(ml_dtypes.float4_e2m1fn).astype(
    np.float32
)
E2M1_VALUES.setflags(write=False)

#: int16[16, 16]: ``E2M1_PRODUCT_QUARTERS[a, b] = E2M1_VALUES[a] * E2M1_VALUES[b] * 4``.
#: Every E2M1 product is a multiple of 1/4 (0.5 * 0.5), so in units of 1/4 it is an exact
#: integer in -144..144. The RTL multiplier's table is generated from this array.
E2M1_PRODUCT_QUARTERS: np.ndarray = (np.outer(E2M1_VALUES, E2M1_VALUES) * 4).astype(np.int16)
E2M1_PRODUCT_QUARTERS.setflags(write=False)


def _check_finite(x: np.ndarray, what: str) -> None:
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what} input must be finite, not NaN or Inf")


def float_to_e2m1(x) -> np.ndarray:
    """Round ``x`` to E2M1 codes: round-to-nearest-even, saturating to +-6.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf (ml_dtypes would map them to a meaningless code).
    """
    x = np.asarray(x, dtype=np.float32)
    _check_finite(x, "E2M1")
    return np.clip(x, -6.0, 6.0).astype(ml_dtypes.float4_e2m1fn).view(np.uint8) & 0xF


def e2m1_to_float(codes) -> np.ndarray:
    """E2M1 codes (low nibble of each element) to float32 values."""
    codes = np.asarray(codes)
    return E2M1_VALUES[codes.astype(np.uint8) & 0xF]
