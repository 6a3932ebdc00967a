"""W4A16 group dequantisation: arithmetic, vlut16-style 16-entry LUT and byte-indexed LUT.

Weights are 4-bit codes packed two per byte along K (element ``2j`` in the low nibble of
byte ``j``), with one FP16 scale per group of ``group`` consecutive elements along K.

The dequantised value of code ``c`` in a group with scale ``s`` is, for every path here::

    w = fp16( fp32(V[c]) * fp32(s) )

where ``V`` is the format's 16-entry value table held in FP16 (:func:`format_values`):
INT4 two's complement (-8..7), E2M1 (SPEC section 2) and NF4 (the QLoRA levels rounded to
FP16, since a 16-bit LUT entry is what the hardware holds). The FP16 x FP16 product is exact
in FP32 (22 significant bits), so the single rounding to FP16 is the correctly rounded FP16
multiply. The three paths are:

* :func:`dequant_arith` -- unpack, decode the code arithmetically (INT4 sign extension, E2M1
  exponent/mantissa decode; NF4 has no arithmetic form and uses its table), multiply.
* :func:`dequant_lut16` -- vlut16 with the scale baked in: per group a 16-entry FP16 table
  ``fp16(V[c] * s)`` indexed by each nibble.
* :func:`dequant_lut_byte` -- a byte indexes a 256-entry table that yields its two FP16
  values at once, either with the scale baked in (one table per group) or with a shared
  unscaled table and the scale broadcast afterwards.

All paths are bit-identical; the tests check that against :func:`dequant_plain`, an
element-by-element Python reference.
"""

from __future__ import annotations

import numpy as np

from golden.formats import E2M1_VALUES, NF4_VALUES
from golden.sparse import pack_nibbles  # noqa: F401  (re-exported for callers)


def _to_f16(a) -> np.ndarray:
    """Round float32 to FP16 (RNE); overflow to +-Inf is the IEEE result, not an error."""
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.float32).astype(np.float16)

FORMATS = ("int4", "e2m1", "nf4")
GROUPS = (32, 64, 128)

_INT4 = (np.arange(16, dtype=np.int16) ^ 8) - 8  # two's complement nibble

_TABLES = {
    "int4": _INT4.astype(np.float16),
    "e2m1": E2M1_VALUES.astype(np.float16),
    "nf4": NF4_VALUES.astype(np.float16),
}
for _t in _TABLES.values():
    _t.setflags(write=False)


def _check_fmt(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"fmt must be one of {FORMATS}, not {fmt!r}")


def format_values(fmt: str) -> np.ndarray:
    """float16[16]: the value of each 4-bit code of ``fmt`` ("int4", "e2m1" or "nf4")."""
    _check_fmt(fmt)
    return _TABLES[fmt]


def unpack_nibbles(packed) -> np.ndarray:
    """Fast inverse of :func:`golden.sparse.pack_nibbles` for trusted uint8 input:
    bytes (..., K // 2) -> codes (..., K), element 2j from the low nibble."""
    packed = np.asarray(packed, dtype=np.uint8)
    out = np.empty(packed.shape[:-1] + (packed.shape[-1] * 2,), dtype=np.uint8)
    out[..., 0::2] = packed & 0xF
    out[..., 1::2] = packed >> 4
    return out


def _check(packed, scales, group: int):
    packed = np.asarray(packed, dtype=np.uint8)
    scales = np.asarray(scales, dtype=np.float16)
    if group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, not {group}")
    if packed.ndim != 2:
        raise ValueError(f"packed weights must be 2-D (M, K // 2), not {packed.shape}")
    m, k = packed.shape[0], packed.shape[1] * 2
    if k % group:
        raise ValueError(f"K = {k} is not a multiple of the group size {group}")
    if scales.shape != (m, k // group):
        raise ValueError(f"scales must have shape {(m, k // group)}, not {scales.shape}")
    return packed, scales, m, k


def dequant_plain(packed, scales, *, fmt: str, group: int) -> np.ndarray:
    """Element-by-element Python reference (slow: for tests on small slices only)."""
    _check_fmt(fmt)
    packed, scales, m, k = _check(packed, scales, group)
    values = format_values(fmt)
    out = np.empty((m, k), dtype=np.float16)
    for i in range(m):
        for j in range(k):
            byte = int(packed[i, j // 2])
            code = (byte >> 4) if j % 2 else (byte & 0xF)
            out[i, j] = _to_f16(np.float32(values[code]) * np.float32(scales[i, j // group]))
    return out


def _decode_arith(codes: np.ndarray, fmt: str) -> np.ndarray:
    """Code -> float32 value without a table where the format has an arithmetic form."""
    if fmt == "int4":
        return ((codes.astype(np.int8) ^ 8) - 8).astype(np.float32)
    if fmt == "e2m1":
        # s ee m, bias 1: e == 0 is subnormal (m * 0.5), else (1 + m/2) * 2^(e-1).
        e = ((codes >> 1) & 3).astype(np.int32)
        m = (codes & 1).astype(np.float32)
        mag = np.where(e == 0, 0.5 * m, np.ldexp(1.0 + 0.5 * m, e - 1).astype(np.float32))
        return np.where(codes & 8, -mag, mag).astype(np.float32)
    return format_values(fmt).astype(np.float32)[codes]  # NF4: no arithmetic form


def dequant_arith(packed, scales, *, fmt: str, group: int) -> np.ndarray:
    """Vectorised arithmetic dequant: float16 (M, K) = fp16(fp32(V[c]) * fp32(scale))."""
    _check_fmt(fmt)
    packed, scales, m, k = _check(packed, scales, group)
    vals = _decode_arith(unpack_nibbles(packed), fmt).reshape(m, k // group, group)
    vals *= scales.astype(np.float32)[:, :, None]
    return _to_f16(vals.reshape(m, k))


def lut16_tables(scales, fmt: str) -> np.ndarray:
    """Per-group vlut16 tables with the scale baked in: float16 (..., 16)."""
    s = np.asarray(scales, dtype=np.float16).astype(np.float32)
    return _to_f16(s[..., None] * format_values(fmt).astype(np.float32))


def dequant_lut16(packed, scales, *, fmt: str, group: int, rows: int = 512) -> np.ndarray:
    """vlut16-style dequant: each nibble indexes its group's 16-entry FP16 table.

    ``rows`` bounds the working set (the index array) per step.
    """
    _check_fmt(fmt)
    packed, scales, m, k = _check(packed, scales, group)
    out = np.empty((m, k), dtype=np.uint16)
    ng = k // group
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        table = lut16_tables(scales[r0:r1], fmt).view(np.uint16).reshape(-1)
        base = (np.arange((r1 - r0) * ng, dtype=np.int32) * 16).reshape(r1 - r0, ng, 1)
        idx = unpack_nibbles(packed[r0:r1]).reshape(r1 - r0, ng, group) + base
        out[r0:r1] = table[idx].reshape(r1 - r0, k)
    return out.view(np.float16)


def byte_pair_table(values16: np.ndarray) -> np.ndarray:
    """uint32[..., 256]: byte b -> the FP16 bits of (values[b & 15], values[b >> 4]).

    The low half-word holds the value of the low nibble, so viewing the result as float16
    gives the two elements in memory order (little-endian).
    """
    bits = np.asarray(values16, dtype=np.float16).view(np.uint16).astype(np.uint32)
    b = np.arange(256)
    return bits[..., b & 15] | (bits[..., b >> 4] << 16)


def dequant_lut_byte(
    packed, scales, *, fmt: str, group: int, scale: str = "baked", rows: int = 256
) -> np.ndarray:
    """Byte-indexed LUT dequant: each packed byte yields its two FP16 values in one lookup.

    ``scale="baked"``: one 256-entry table per group holds ``fp16(V[c] * s)`` pairs
    (1 KiB of table per group: table traffic, not arithmetic, is the price).
    ``scale="broadcast"``: one shared table of unscaled FP16 pairs; the group scale is then
    broadcast and multiplied (FP32 product, one rounding to FP16), as vlut16 does with the
    scale broadcast.
    """
    _check_fmt(fmt)
    if scale not in ("baked", "broadcast"):
        raise ValueError(f"scale must be 'baked' or 'broadcast', not {scale!r}")
    packed, scales, m, k = _check(packed, scales, group)
    ng, half = k // group, group // 2
    if scale == "broadcast":
        pairs = byte_pair_table(format_values(fmt))[packed].view(np.float16)  # (M, K) f16
        vals = pairs.astype(np.float32).reshape(m, ng, group)
        vals *= scales.astype(np.float32)[:, :, None]
        return _to_f16(vals.reshape(m, k))
    out = np.empty((m, k // 2), dtype=np.uint32)
    for r0 in range(0, m, rows):
        r1 = min(m, r0 + rows)
        table = byte_pair_table(lut16_tables(scales[r0:r1], fmt)).reshape(-1)
        base = (np.arange((r1 - r0) * ng, dtype=np.int32) * 256).reshape(r1 - r0, ng, 1)
        idx = packed[r0:r1].reshape(r1 - r0, ng, half) + base
        out[r0:r1] = table[idx].reshape(r1 - r0, k // 2)
    return out.view(np.float16).reshape(m, k)
