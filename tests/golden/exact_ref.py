"""Independent exact references for the golden tests (no import of the code under test).

Everything here is written from the SPEC tables with Python integers and Fractions: E2M1,
E4M3 and E8M0 decoding, an E2M1 RNE rounder, a Fraction -> binary32 RNE rounder and an exact
IEEE binary32 adder.
"""

from __future__ import annotations

import struct
from fractions import Fraction

import numpy as np

# SPEC section 2: codes 0..7 = 0, 0.5, 1, 1.5, 2, 3, 4, 6; 8..15 the negatives.
E2M1_MAGNITUDES = [Fraction(0), Fraction(1, 2), Fraction(1), Fraction(3, 2),
                   Fraction(2), Fraction(3), Fraction(4), Fraction(6)]  # fmt: skip
E2M1_FRACTIONS = E2M1_MAGNITUDES + [-v for v in E2M1_MAGNITUDES]

F32_MAX_EXP = 127
F32_MIN_NORMAL_EXP = -126
F32_MANT_BITS = 23


def e2m1_fraction(code: int) -> Fraction:
    return E2M1_FRACTIONS[code]


def e4m3_fraction(code: int):
    """fp8 e4m3fn: bias 7, no Inf, S.1111.111 is NaN (returns None for NaN)."""
    s, e, m = code >> 7, (code >> 3) & 0xF, code & 7
    if e == 0xF and m == 7:
        return None
    if e == 0:
        v = Fraction(m, 8) * Fraction(1, 2**6)
    else:
        v = (1 + Fraction(m, 8)) * Fraction(2) ** (e - 7)
    return -v if s else v


def e8m0_fraction(code: int):
    """2**(c - 127); None for the NaN code 255."""
    if code == 255:
        return None
    return Fraction(2) ** (code - 127)


def floor_log2(a: Fraction) -> int:
    """The integer e with 2**e <= a < 2**(e + 1), for a > 0."""
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    return e


def round_half_even(n: Fraction) -> int:
    fl = n.numerator // n.denominator
    rem = n - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2):
        return fl + 1
    return fl


def f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def bits_f32(b: int) -> float:
    return struct.unpack("<f", struct.pack("<I", b))[0]


def to_binary32(v: Fraction, negative_zero: bool = False) -> int:
    """Round an exact rational to IEEE binary32 (RNE, gradual underflow, overflow to Inf);
    returns the bit pattern. ``negative_zero`` gives the sign of an exact zero."""
    sign = 1 if (v < 0 or (v == 0 and negative_zero)) else 0
    a = abs(v)
    if a == 0:
        return sign << 31
    e = max(floor_log2(a), F32_MIN_NORMAL_EXP)
    quantum = Fraction(2) ** (e - F32_MANT_BITS)
    n = round_half_even(a / quantum)
    r = n * quantum
    if r >= Fraction(2) ** (F32_MAX_EXP + 1):
        return (sign << 31) | 0x7F800000
    if r == 0:
        return sign << 31
    return f32_bits(-float(r) if sign else float(r))  # r is a binary32 value: float() is exact


NAN = object()  # marker for NaN in the exact adder


def value_of_bits(b: int):
    """binary32 bits -> ('nan',) | ('inf', sign) | ('fin', Fraction, sign)."""
    sign = b >> 31
    e = (b >> 23) & 0xFF
    m = b & 0x7FFFFF
    if e == 0xFF:
        return ("nan",) if m else ("inf", sign)
    if e == 0:
        v = Fraction(m) * Fraction(2) ** (-149)
    else:
        v = Fraction(m + (1 << 23)) * Fraction(2) ** (e - 150)
    return ("fin", -v if sign else v, sign)


def add_binary32(a: int, b: int) -> int:
    """IEEE 754 binary32 addition in round-to-nearest-even, on bit patterns; NaN results
    are returned as the canonical 0x7FC00000."""
    va, vb = value_of_bits(a), value_of_bits(b)
    if va[0] == "nan" or vb[0] == "nan":
        return 0x7FC00000
    if va[0] == "inf" and vb[0] == "inf":
        return 0x7FC00000 if va[1] != vb[1] else a
    if va[0] == "inf":
        return a
    if vb[0] == "inf":
        return b
    s = va[1] + vb[1]
    if s == 0:
        # exact zero sum: -0 only if both operands are -0 (RNE)
        return 0x80000000 if (va[2] and vb[2] and va[1] == 0 and vb[1] == 0) else 0
    return to_binary32(s)


def gemv_exact(w_codes, w_scales, w_fmt, x_codes, x_scales, x_fmt, block) -> np.ndarray:
    """SPEC section 4 computed with Fractions and the exact adder; uint32 bit patterns."""
    w_codes = np.asarray(w_codes)
    m, k = w_codes.shape
    nb = k // block
    out = np.zeros(m, dtype=np.uint32)
    for i in range(m):
        acc = 0  # +0.0
        for b in range(nb):
            p = sum(
                e2m1_fraction(int(w_codes[i, k_])) * e2m1_fraction(int(x_codes[k_]))
                for k_ in range(b * block, (b + 1) * block)
            )
            q = block_term_exact(p, int(w_scales[i, b]), w_fmt, int(x_scales[b]), x_fmt)
            acc = add_binary32(acc, q)
        out[i] = acc
    return out


def block_term_exact(p: Fraction, sw_code: int, w_fmt: str, sx_code: int, x_fmt: str) -> int:
    """q = fl32(S_w * S_x * p) as bits. An exact zero product takes the sign
    sign(S_w) XOR sign(S_x) (p is an integer count of quarters, so p = 0 is +0)."""
    dec = {"e8m0": e8m0_fraction, "e4m3": e4m3_fraction}
    sw, sx = dec[w_fmt](sw_code), dec[x_fmt](sx_code)
    if sw is None or sx is None:
        return 0x7FC00000
    sign_w = (sw_code >> 7) if w_fmt == "e4m3" else 0
    sign_x = (sx_code >> 7) if x_fmt == "e4m3" else 0
    if p < 0:
        sign_w ^= 1
    return to_binary32(sw * sx * p, negative_zero=bool(sign_w ^ sign_x))


def e2m1_round(v: Fraction) -> int:
    """E2M1 code of v: nearest value, ties to the even code, saturating to +-6; -0 for
    negative values that round to zero."""
    neg = v < 0
    a = min(abs(v), Fraction(6))
    best = None
    for code, mag in enumerate(E2M1_MAGNITUDES):
        d = abs(a - mag)
        if best is None or d < best[0] or (d == best[0] and code % 2 == 0):
            best = (d, code)
    code = best[1]
    return code | 8 if neg else code
