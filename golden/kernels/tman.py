"""T-MAN two-level LUT dequant on a bit-serial weight layout (seeds/004, INT2 and INT4).

Weights are unsigned ``bits``-bit integers ``q`` (0 .. 2^bits - 1) with, per group of
``group`` elements along K, an FP16 scale ``s`` and an integer zero point ``z``::

    w = fp16( fp32(q - z) * fp32(s) )                      (the plain dequant)

Bit-serial layout (what the LUT GEMV of the decode phase wants): plane ``i`` holds bit ``i``
of every weight, packed 8 weights per byte with weight ``8j + t`` at bit ``t`` of byte ``j``
(so a nibble holds the bit ``i`` of 4 consecutive weights). Shape ``(bits, M, K // 8)``.

Level 1 (bit repack): a nibble ``n`` of plane ``i`` indexes ``LEVEL1[bits][i, n]``, the
bit-parallel word in which weight ``t`` (0..3) of the nibble owns field
``[bits*t, bits*t + bits)`` and bit ``t`` of ``n`` lands at position ``bits*t + i``. OR-ing
the ``bits`` lookups gives 4 weights bit-parallel (16 bits for INT4, 8 for INT2): seeds/004's
example, plane 3 nibble 0b0011 -> 0b0000000010001000, replaces 12 shift/and operations.

Level 2 (int -> float): per group a ``2^bits``-entry FP16 table ``fp16((q - z) * s)`` with
scale and zero point baked in, indexed by each field of the bit-parallel word.
"""

from __future__ import annotations

import numpy as np


def _to_f16(a) -> np.ndarray:
    """Round float32 to FP16 (RNE); overflow to +-Inf is the IEEE result, not an error."""
    with np.errstate(over="ignore"):
        return np.asarray(a, dtype=np.float32).astype(np.float16)

BITS = (2, 4)


def _level1(bits: int) -> np.ndarray:
    n = np.arange(16)
    table = np.zeros((bits, 16), dtype=np.uint16)
    for i in range(bits):
        for t in range(4):
            table[i] |= (((n >> t) & 1) << (bits * t + i)).astype(np.uint16)
    table.setflags(write=False)
    return table


#: LEVEL1[bits]: uint16 (bits, 16), the level-1 repack table of each plane.
LEVEL1 = {b: _level1(b) for b in BITS}


def _check_bits(bits: int) -> None:
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, not {bits}")


def to_bit_serial(q, bits: int) -> np.ndarray:
    """Unsigned integers (M, K) -> bit planes uint8 (bits, M, K // 8)."""
    _check_bits(bits)
    q = np.asarray(q)
    if q.ndim != 2 or q.shape[1] % 8:
        raise ValueError(f"q must be 2-D with K a multiple of 8, not {q.shape}")
    if np.any(q < 0) or np.any(q >= 1 << bits):
        raise ValueError(f"q must hold {bits}-bit unsigned values")
    q = q.astype(np.uint8)
    return np.stack(
        [np.packbits((q >> i) & 1, axis=-1, bitorder="little") for i in range(bits)]
    )


def from_bit_serial(planes) -> np.ndarray:
    """Bit planes (bits, M, K // 8) -> unsigned integers uint8 (M, K) (plain bit gather)."""
    planes = np.asarray(planes, dtype=np.uint8)
    q = np.zeros(planes.shape[1:-1] + (planes.shape[-1] * 8,), dtype=np.uint8)
    for i in range(planes.shape[0]):
        q |= np.unpackbits(planes[i], axis=-1, bitorder="little") << i
    return q


def _check_params(q_shape, scales, zeros, bits, group):
    m, k = q_shape
    if group <= 0 or k % group or group % 8:
        raise ValueError(f"group must be a positive multiple of 8 dividing K = {k}, not {group}")
    scales = np.asarray(scales, dtype=np.float16)
    zeros = np.asarray(zeros)
    if scales.shape != (m, k // group) or zeros.shape != (m, k // group):
        raise ValueError(f"scales and zeros must have shape {(m, k // group)}")
    if np.any(zeros < 0) or np.any(zeros >= 1 << bits):
        raise ValueError(f"zero points must be {bits}-bit unsigned integers")
    return scales, zeros.astype(np.int32)


def dequant_plain(q, scales, zeros, *, bits: int, group: int) -> np.ndarray:
    """Plain (bit-parallel, arithmetic) dequant of unsigned ``q`` (M, K): float16 (M, K)."""
    _check_bits(bits)
    q = np.asarray(q)
    scales, zeros = _check_params(q.shape, scales, zeros, bits, group)
    m, k = q.shape
    d = q.astype(np.int32).reshape(m, k // group, group) - zeros[:, :, None]
    return _to_f16((d.astype(np.float32) * scales.astype(np.float32)[:, :, None]).reshape(m, k))


def level2_tables(scales, zeros, bits: int) -> np.ndarray:
    """float16 (..., 2^bits): per group ``fp16((q - z) * s)`` for every q."""
    q = np.arange(1 << bits, dtype=np.int32)
    d = (q - np.asarray(zeros, dtype=np.int32)[..., None]).astype(np.float32)
    return _to_f16(d * np.asarray(scales, dtype=np.float16).astype(np.float32)[..., None])


def repack_level1(planes, bits: int) -> np.ndarray:
    """Level 1: bit planes (bits, M, K // 8) -> bit-parallel words uint16 (M, K // 4).

    Word ``j`` holds weights ``4j .. 4j + 3`` in fields of ``bits`` bits.
    """
    _check_bits(bits)
    planes = np.asarray(planes, dtype=np.uint8)
    if planes.shape[0] != bits:
        raise ValueError(f"expected {bits} bit planes, not {planes.shape[0]}")
    m, kb = planes.shape[1:]
    words = np.zeros((m, kb * 2), dtype=np.uint16)
    table = LEVEL1[bits]
    for i in range(bits):
        words[:, 0::2] |= table[i][planes[i] & 0xF]
        words[:, 1::2] |= table[i][planes[i] >> 4]
    return words


def tman_dequant(planes, scales, zeros, *, bits: int, group: int) -> np.ndarray:
    """Two-level LUT dequant of bit-serial weights: float16 (M, K), bit-identical to plain."""
    words = repack_level1(planes, bits)
    m, k = words.shape[0], words.shape[1] * 4
    scales, zeros = _check_params((m, k), scales, zeros, bits, group)
    ng, size = k // group, 1 << bits
    table = level2_tables(scales, zeros, bits).view(np.uint16).reshape(-1)
    base = (np.arange(m * ng, dtype=np.int32) * size).reshape(m, ng, 1, 1)
    mask = size - 1
    fields = np.stack([(words >> (bits * t)) & mask for t in range(4)], axis=-1)  # (M, K/4, 4)
    idx = fields.reshape(m, ng, group // 4, 4).astype(np.int32) + base
    return table[idx].reshape(m, k).view(np.float16)
