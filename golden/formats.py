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


# --------------------------------------------------------------------------------------------
# Extensions: E8M0, E4M3, INT4, UINT4, NF4, FP16.
#
# Conventions shared by every encoder below:
#   * the input is converted to float32 first (one RNE rounding if it was float64). ml_dtypes
#     converts float64 to its small formats *through* float32, so doing it explicitly keeps
#     the definition honest: "round the float32 value";
#   * NaN and Inf raise ValueError (ml_dtypes would silently produce NaN or garbage codes);
#   * out-of-range values saturate to the largest finite value of the format;
#   * codes are returned as uint8 (uint16 for FP16), one code per element, unpacked.
# --------------------------------------------------------------------------------------------

#: Largest finite E2M1 magnitude.
E2M1_MAX = 6.0
#: Largest finite E4M3 (fp8 e4m3fn) magnitude.
E4M3_MAX = 448.0
#: E4M3 codes that are NaN (S.1111.111).
E4M3_NAN_CODES = (0x7F, 0xFF)
#: E8M0 code that is NaN.
E8M0_NAN_CODE = 255
#: E8M0 exponent bias: code c means 2**(c - 127).
E8M0_BIAS = 127
#: Largest finite FP16 magnitude.
FP16_MAX = 65504.0


def _as_f32(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    _check_finite(x, what)
    return x


def _as_codes(codes, nbits: int, what: str) -> np.ndarray:
    codes = np.asarray(codes)
    if codes.dtype.kind not in "iub":
        raise ValueError(f"{what} codes must be integers, not {codes.dtype}")
    if codes.size and (codes.min() < 0 or codes.max() >= (1 << nbits)):
        raise ValueError(f"{what} codes must be in 0..{(1 << nbits) - 1}")
    return codes.astype(np.uint16 if nbits > 8 else np.uint8)


# ---- E8M0 (MX block scale) -----------------------------------------------------------------

#: float64[256]: E8M0 code -> value; 2**(c-127) exactly for c in 0..254, NaN for 255.
E8M0_VALUES: np.ndarray = np.ldexp(1.0, np.arange(256) - E8M0_BIAS).astype(np.float64)
E8M0_VALUES[E8M0_NAN_CODE] = np.nan
E8M0_VALUES.setflags(write=False)


def e8m0_to_float(codes) -> np.ndarray:
    """E8M0 codes to exact float64 values ``2**(c - 127)``; code 255 gives NaN.

    float64 rather than float32 because 2**-127 is a float32 subnormal and products of two
    scales reach 2**-254; float64 holds every such product exactly.
    """
    return E8M0_VALUES[_as_codes(codes, 8, "E8M0")]


def e8m0_from_exponent(exponent) -> np.ndarray:
    """Integer exponents ``X`` in -127..127 to E8M0 codes ``X + 127``.

    Raises
    ------
    ValueError
        If an exponent is outside -127..127 (code 255 is NaN, so 128 is not encodable).
    """
    e = np.asarray(exponent)
    if e.dtype.kind not in "iu":
        raise ValueError(f"E8M0 exponents must be integers, not {e.dtype}")
    if e.size and (e.min() < -127 or e.max() > 127):
        raise ValueError("E8M0 exponents must be in -127..127")
    return (e.astype(np.int64) + E8M0_BIAS).astype(np.uint8)


def e8m0_exponent(codes) -> np.ndarray:
    """E8M0 codes 0..254 to their exponents ``c - 127`` (int16). Code 255 (NaN) raises."""
    c = _as_codes(codes, 8, "E8M0")
    if np.any(c == E8M0_NAN_CODE):
        raise ValueError("E8M0 code 255 is NaN and has no exponent")
    return c.astype(np.int16) - E8M0_BIAS


def float_to_e8m0(x) -> np.ndarray:
    """Positive floats to the E8M0 code of the nearest power of two (via ml_dtypes).

    A value ``m * 2**e`` with ``1 <= m < 2`` becomes ``2**e`` when ``m < 1.5`` and ``2**(e+1)``
    when ``m >= 1.5`` (ml_dtypes' RNE with no mantissa bits: ties go up). Values are
    saturated to ``[2**-127, 2**127]``. The block quantizers do not use this (MXFP4 takes
    ``floor(log2(amax)) - 2``, see ``golden.quant``); it is for converting arbitrary scales.

    Raises
    ------
    ValueError
        On NaN, Inf, zero or negative input (E8M0 has neither zero nor sign).
    """
    x = np.asarray(x, dtype=np.float64)
    _check_finite(x, "E8M0")
    if np.any(x <= 0):
        raise ValueError("E8M0 input must be positive (E8M0 has no zero and no sign)")
    x = np.clip(x, 2.0**-127, 2.0**127).astype(np.float32)
    return x.astype(ml_dtypes.float8_e8m0fnu).view(np.uint8)


# ---- E4M3 (NVFP4 block scale) --------------------------------------------------------------

#: float32[256]: E4M3 (fp8 e4m3fn) code -> value; codes 0x7F and 0xFF are NaN.
E4M3_VALUES: np.ndarray = (
    np.arange(256, dtype=np.uint8).view(ml_dtypes.float8_e4m3fn).astype(np.float32)
)
E4M3_VALUES.setflags(write=False)


def float_to_e4m3(x) -> np.ndarray:
    """Round to E4M3 (fp8 e4m3fn) codes: RNE, subnormals kept, saturating to +-448.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf.
    """
    x = _as_f32(x, "E4M3")
    # ml_dtypes maps |x| >= 464 to NaN (e4m3fn has no Inf): saturate first.
    return np.clip(x, -E4M3_MAX, E4M3_MAX).astype(ml_dtypes.float8_e4m3fn).view(np.uint8)


def e4m3_to_float(codes) -> np.ndarray:
    """E4M3 codes to float32 values (exact); 0x7F and 0xFF give NaN."""
    return E4M3_VALUES[_as_codes(codes, 8, "E4M3")]


# ---- INT4 (two's complement) and UINT4 (asymmetric, with a zero point) ---------------------


def float_to_int4(x) -> np.ndarray:
    """Round to signed INT4 codes: RNE to an integer, saturate to -8..7, two's complement nibble.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf.
    """
    x = _as_f32(x, "INT4")
    v = np.clip(np.rint(x), -8, 7).astype(np.int8)
    return (v.view(np.uint8) & 0xF).astype(np.uint8)


def int4_to_int(codes) -> np.ndarray:
    """Signed INT4 nibble codes 0..15 to int8 values -8..7 (codes 8..15 are -8..-1)."""
    c = _as_codes(codes, 4, "INT4").astype(np.int8)
    return np.where(c >= 8, c - 16, c).astype(np.int8)


def float_to_uint4(x) -> np.ndarray:
    """Round to unsigned 4-bit codes: RNE to an integer, saturate to 0..15.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf.
    """
    x = _as_f32(x, "UINT4")
    return np.clip(np.rint(x), 0, 15).astype(np.uint8)


def uint4_to_int(codes) -> np.ndarray:
    """Unsigned 4-bit codes to int8 values 0..15 (range-checked)."""
    return _as_codes(codes, 4, "UINT4").astype(np.int8)


# ---- NF4 (QLoRA NormalFloat-4) -------------------------------------------------------------

#: float32[16]: the QLoRA NF4 levels (Dettmers et al. 2023, bitsandbytes), index = code.
NF4_VALUES: np.ndarray = np.array(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ],
    dtype=np.float32,
)
NF4_VALUES.setflags(write=False)
# Decision points between neighbouring levels, computed in float64 from the float32 levels.
_NF4_MID = (NF4_VALUES[:-1].astype(np.float64) + NF4_VALUES[1:].astype(np.float64)) / 2


def float_to_nf4(x) -> np.ndarray:
    """Nearest NF4 level code for values normalised to [-1, 1] (saturating outside).

    A value exactly on the midpoint between two levels goes to the lower code (the
    smaller level): code = number of midpoints strictly below x.

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf.
    """
    x = _as_f32(x, "NF4").astype(np.float64)
    return np.searchsorted(_NF4_MID, x, side="left").astype(np.uint8)


def nf4_to_float(codes) -> np.ndarray:
    """NF4 codes to their float32 levels."""
    return NF4_VALUES[_as_codes(codes, 4, "NF4")]


# ---- FP16 ----------------------------------------------------------------------------------


def float_to_fp16(x) -> np.ndarray:
    """Round to IEEE binary16 bit patterns (uint16): RNE, subnormals kept, saturating to
    +-65504 (a scale that overflowed to Inf would poison every element it multiplies).

    Raises
    ------
    ValueError
        If ``x`` holds NaN or Inf.
    """
    x = np.asarray(x, dtype=np.float64)
    _check_finite(x, "FP16")
    # numpy converts float64 -> float16 directly with one RNE rounding.
    with np.errstate(over="ignore"):
        h = x.astype(np.float16)
    h = np.where(np.isinf(h), np.copysign(np.float16(FP16_MAX), h), h).astype(np.float16)
    return h.view(np.uint16)


def fp16_to_float(bits) -> np.ndarray:
    """IEEE binary16 bit patterns (uint16) to float32 values (exact)."""
    return _as_codes(bits, 16, "FP16").view(np.float16).astype(np.float32)


# ---- generic access by name ----------------------------------------------------------------

#: Element formats known to :func:`encode` / :func:`decode`.
FORMATS = ("e2m1", "e8m0", "e4m3", "int4", "uint4", "nf4", "fp16")

_ENCODE = {
    "e2m1": float_to_e2m1,
    "e8m0": float_to_e8m0,
    "e4m3": float_to_e4m3,
    "int4": float_to_int4,
    "uint4": float_to_uint4,
    "nf4": float_to_nf4,
    "fp16": float_to_fp16,
}
_DECODE = {
    "e2m1": e2m1_to_float,
    "e8m0": e8m0_to_float,
    "e4m3": e4m3_to_float,
    "int4": int4_to_int,
    "uint4": uint4_to_int,
    "nf4": nf4_to_float,
    "fp16": fp16_to_float,
}


def _lookup(table: dict, fmt: str):
    try:
        return table[fmt]
    except (KeyError, TypeError):
        raise ValueError(f"unknown format {fmt!r}; known formats: {', '.join(FORMATS)}") from None


def encode(x, fmt: str) -> np.ndarray:
    """Encode floats to codes of format ``fmt`` (one of :data:`FORMATS`)."""
    return _lookup(_ENCODE, fmt)(x)


def decode(codes, fmt: str) -> np.ndarray:
    """Decode codes of format ``fmt`` (one of :data:`FORMATS`) to values."""
    return _lookup(_DECODE, fmt)(codes)
