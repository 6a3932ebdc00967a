"""2:4 structured sparsity and the nibble byte packing of DRAM images (SPEC section 3).

In each group of 4 consecutive weights along K (the last axis) at most 2 are non-zero. A
compressed group stores 2 values (slot 0 = the lower position) and a 3-bit pattern code:

=====  =====  =====  =====  =====  =====  =====  =======
code   0      1      2      3      4      5      6, 7
kept   0,1    0,2    0,3    1,2    1,3    2,3    invalid
=====  =====  =====  =====  =====  =====  =====  =======

Dense data runs on the same datapath as groups of 2 with pattern 0 (see :func:`dense_as_pairs`).

Byte packing (docs/formats.md has the bit pictures): two 4-bit fields per byte, element
``2i`` in the low nibble (bits 3..0) and element ``2i+1`` in the high nibble (bits 7..4).
Pattern codes use the same 4-bit fields with bit 3 always 0.
"""

from __future__ import annotations

import numpy as np

#: int8[8, 2]: pattern code -> (position of slot 0, position of slot 1); -1 for invalid codes.
PATTERN_POSITIONS: np.ndarray = np.array(
    [[0, 1], [0, 2], [0, 3], [1, 2], [1, 3], [2, 3], [-1, -1], [-1, -1]], dtype=np.int8
)
PATTERN_POSITIONS.setflags(write=False)
#: Number of valid pattern codes (0..5); codes 6 and 7 are invalid.
NUM_PATTERNS = 6


def _cover_table() -> np.ndarray:
    """int8[16]: 4-bit mask of non-zero positions -> smallest pattern code covering it, or -1."""
    table = np.full(16, -1, dtype=np.int8)
    for mask in range(16):
        for code in range(NUM_PATTERNS):
            kept = (1 << int(PATTERN_POSITIONS[code, 0])) | (1 << int(PATTERN_POSITIONS[code, 1]))
            if mask & ~kept == 0:
                table[mask] = code
                break
    return table


#: int8[16]: mask of non-zero positions in a group -> the pattern code compress_2_4 picks.
COVER_PATTERN: np.ndarray = _cover_table()
COVER_PATTERN.setflags(write=False)


def _check_groups(a: np.ndarray, what: str) -> None:
    if a.ndim < 1 or a.shape[-1] % 4:
        raise ValueError(
            f"{what}: the last axis (K = {a.shape[-1] if a.ndim else 'scalar'}) "
            "must be a multiple of 4 for 2:4 sparsity"
        )


def prune_2_4(w) -> np.ndarray:
    """Zero 2 of every 4 consecutive elements along the last axis, keeping the 2 largest |w|.

    Ties in |w| keep the lower index. The result has the input's shape and dtype; pruned
    elements are +0. Prune *before* quantizing.

    Raises
    ------
    ValueError
        If the last axis is not a multiple of 4, or ``w`` holds NaN.
    """
    w = np.asarray(w)
    _check_groups(w, "prune_2_4")
    if w.dtype.kind == "f" and np.isnan(w).any():
        raise ValueError("prune_2_4: input holds NaN")
    g = w.reshape(*w.shape[:-1], -1, 4)
    # A stable sort on -|w| puts the larger magnitudes first and, among equal ones, the lower
    # index first, so the first two positions are exactly the ones to keep.
    order = np.argsort(-np.abs(g.astype(np.float64)), axis=-1, kind="stable")
    keep = np.zeros(g.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :2], True, axis=-1)
    out = np.where(keep, g, np.zeros((), dtype=w.dtype)).astype(w.dtype)
    return out.reshape(w.shape)


def compress_2_4(codes) -> tuple[np.ndarray, np.ndarray]:
    """Compress 2:4-sparse E2M1 codes into values and pattern codes.

    Parameters
    ----------
    codes : array of uint8, shape (..., K)
        E2M1 codes; code 0 (+0) and 8 (-0) are zeros.

    Returns
    -------
    values : uint8, shape (..., K // 2)
        The codes at the two kept positions of each group, lower position first.
    patterns : uint8, shape (..., K // 4)
        The pattern code of each group (0..5).

    Notes
    -----
    The pattern is the smallest code whose kept positions cover every code other than +0 in
    the group; if -0 codes make that impossible, it covers the codes of non-zero magnitude
    (and a -0 at a dropped position comes back as +0, which no product can tell apart). A
    group with fewer than 2 non-zeros is therefore padded with its lowest zero positions;
    an all-zero group is pattern 0.

    Raises
    ------
    ValueError
        If K is not a multiple of 4, a code is not 0..15, or a group has more than 2 non-zero
        magnitudes.
    """
    codes = np.asarray(codes)
    _check_groups(codes, "compress_2_4")
    if codes.dtype.kind not in "iu" or (codes.size and (codes.min() < 0 or codes.max() > 15)):
        raise ValueError("compress_2_4: codes must be integers 0..15 (E2M1 codes)")
    g = codes.astype(np.uint8).reshape(*codes.shape[:-1], -1, 4)
    weights = np.array([1, 2, 4, 8], dtype=np.uint8)
    mask_any = ((g != 0) * weights).sum(axis=-1)  # anything but +0
    mask_mag = (((g & 7) != 0) * weights).sum(axis=-1)  # non-zero magnitude
    pat_mag = COVER_PATTERN[mask_mag]
    if np.any(pat_mag < 0):
        bad = np.argwhere(pat_mag < 0)[0]
        raise ValueError(
            f"compress_2_4: group {tuple(int(i) for i in bad)} has more than 2 non-zero "
            "values (not 2:4 sparse)"
        )
    pat_any = COVER_PATTERN[mask_any]
    patterns = np.where(pat_any >= 0, pat_any, pat_mag).astype(np.uint8)
    pos = PATTERN_POSITIONS[patterns].astype(np.intp)  # (..., G, 2)
    values = np.take_along_axis(g, pos, axis=-1)
    return values.reshape(*codes.shape[:-1], -1).astype(np.uint8), patterns


def decompress_2_4(values, patterns) -> np.ndarray:
    """Expand values (..., K//2) and pattern codes (..., K//4) back to codes (..., K).

    Dropped positions get code 0.

    Raises
    ------
    ValueError
        If the shapes do not match or a pattern code is not 0..5.
    """
    values = np.asarray(values)
    patterns = np.asarray(patterns)
    if (
        values.ndim < 1
        or patterns.shape != values.shape[:-1] + (values.shape[-1] // 2,)
        or (values.shape[-1] % 2)
    ):
        raise ValueError(
            f"decompress_2_4: values shape {values.shape} needs patterns shape "
            f"(..., K // 4) matching it, got {patterns.shape}"
        )
    if patterns.dtype.kind not in "iu" or (
        patterns.size and (patterns.min() < 0 or patterns.max() >= NUM_PATTERNS)
    ):
        raise ValueError("decompress_2_4: pattern codes must be 0..5 (6 and 7 are invalid)")
    v = values.astype(np.uint8).reshape(*patterns.shape, 2)
    pos = PATTERN_POSITIONS[patterns.astype(np.intp)].astype(np.intp)
    out = np.zeros(patterns.shape + (4,), dtype=np.uint8)
    np.put_along_axis(out, pos, v, axis=-1)
    return out.reshape(*patterns.shape[:-1], -1)


def dense_as_pairs(codes) -> tuple[np.ndarray, np.ndarray]:
    """Dense codes (..., K) as the sparse datapath sees them: groups of 2 with pattern 0.

    Returns ``(values, patterns)`` with ``values = codes`` (K per row) and ``K // 2`` zero
    pattern codes: each pair (k, k+1) is a "group" whose slots sit at positions 0 and 1.
    """
    codes = np.asarray(codes).astype(np.uint8)
    if codes.ndim < 1 or codes.shape[-1] % 2:
        raise ValueError("dense_as_pairs: the last axis must be even")
    return codes.copy(), np.zeros(codes.shape[:-1] + (codes.shape[-1] // 2,), dtype=np.uint8)


# ---- byte packing --------------------------------------------------------------------------


def pack_nibbles(codes) -> np.ndarray:
    """Pack 4-bit codes two per byte along the last axis: element 2i low, 2i+1 high.

    An odd last axis is padded with one zero nibble (pass ``count`` to :func:`unpack_nibbles`).

    Raises
    ------
    ValueError
        If a code is not 0..15.
    """
    c = np.asarray(codes)
    if c.ndim < 1:
        raise ValueError("pack_nibbles: need at least one axis")
    if c.dtype.kind not in "iub" or (c.size and (c.min() < 0 or c.max() > 15)):
        raise ValueError("pack_nibbles: codes must be integers 0..15")
    c = c.astype(np.uint8)
    if c.shape[-1] % 2:
        c = np.concatenate([c, np.zeros(c.shape[:-1] + (1,), dtype=np.uint8)], axis=-1)
    return (c[..., 0::2] | (c[..., 1::2] << 4)).astype(np.uint8)


def unpack_nibbles(data, count: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_nibbles`: bytes (..., N) to codes (..., count or 2N)."""
    d = np.asarray(data)
    if d.ndim < 1 or d.dtype.kind not in "iu" or (d.size and (d.min() < 0 or d.max() > 255)):
        raise ValueError("unpack_nibbles: data must be bytes (integers 0..255)")
    d = d.astype(np.uint8)
    out = np.stack([d & 0xF, d >> 4], axis=-1).reshape(*d.shape[:-1], -1)
    if count is not None:
        if not 0 <= count <= out.shape[-1] or count < out.shape[-1] - 1:
            raise ValueError(f"unpack_nibbles: count {count} does not fit {d.shape[-1]} bytes")
        out = out[..., :count]
    return out


def pack_patterns(patterns) -> np.ndarray:
    """Pack 3-bit pattern codes into 4-bit fields, two per byte, low first, bit 3 = 0.

    Codes 6 and 7 are packed as they are (so error-path tests can build invalid images).

    Raises
    ------
    ValueError
        If a code is not 0..7.
    """
    p = np.asarray(patterns)
    if p.dtype.kind not in "iub" or (p.size and (p.min() < 0 or p.max() > 7)):
        raise ValueError("pack_patterns: pattern codes must be integers 0..7")
    return pack_nibbles(p)


def unpack_patterns(data, count: int | None = None) -> np.ndarray:
    """Inverse of :func:`pack_patterns`; ValueError if a field has bit 3 set."""
    p = unpack_nibbles(data, count)
    if np.any(p & 8):
        raise ValueError("unpack_patterns: bit 3 of a pattern field must be 0")
    return p
