"""HMX weight layout, tile-group quantization and super-group coalescing (seeds/002).

HMX layout of a matrix ``w`` (R x C, both multiples of 32; for a GEMM weight R is the
reduction axis K, C the output axis N):

* 32 x 32 tiles, stored column-major by tile: tile (tr, tc) is tile number ``tc * R/32 + tr``;
* inside a tile, rows are interleaved in pairs: element (r, c) of the tile sits at offset
  ``(r // 2) * 64 + c * 2 + (r % 2)``, i.e. each row pair becomes 64 contiguous elements
  ``w[2p, 0], w[2p+1, 0], w[2p, 1], w[2p+1, 1], ...``.

:func:`hmx_layout` returns shape ``(C // 32, R // 32, 1024)``; its flat (C order) form is the
memory image. Tile-group quantization groups 32 consecutive elements of that image, which is
a 2 x 16 micro-tile (2 rows of K by 16 columns of N) instead of a 32 x 1 strip along K.

Super-group coalescing: 8 consecutive groups of 32 4-bit codes (256 codes) are stored as
128 bytes of packed codes (low nibble first) followed by their 8 FP16 scales (16 bytes,
little-endian), 144 bytes per super-group, so one 128-byte vector load gets all the values.
"""

from __future__ import annotations

import numpy as np

TILE = 32
GROUP = 32
SUPER = 8


def _check_2d(w: np.ndarray) -> tuple[int, int]:
    if w.ndim != 2 or w.shape[0] % TILE or w.shape[1] % TILE:
        raise ValueError(f"HMX layout needs a 2-D array with both sides multiples of 32, "
                         f"not shape {w.shape}")
    return w.shape


def hmx_layout(w) -> np.ndarray:
    """(R, C) -> (C // 32, R // 32, 1024): tiles column-major, row pairs interleaved."""
    w = np.asarray(w)
    r, c = _check_2d(w)
    t = w.reshape(r // TILE, TILE // 2, 2, c // TILE, TILE)  # (tr, p, s, tc, col)
    return np.ascontiguousarray(t.transpose(3, 0, 1, 4, 2)).reshape(c // TILE, r // TILE, 1024)


def hmx_unlayout(t) -> np.ndarray:
    """Inverse of :func:`hmx_layout`: (C // 32, R // 32, 1024) -> (R, C)."""
    t = np.asarray(t)
    if t.ndim != 3 or t.shape[2] != TILE * TILE:
        raise ValueError(f"HMX tiles must have shape (C // 32, R // 32, 1024), not {t.shape}")
    tc, tr = t.shape[:2]
    x = t.reshape(tc, tr, TILE // 2, TILE, 2).transpose(1, 2, 4, 0, 3)  # (tr, p, s, tc, col)
    return np.ascontiguousarray(x).reshape(tr * TILE, tc * TILE)


def tile_groups(w) -> np.ndarray:
    """(R, C) -> (R * C // 32, 32): the tile groups (2 x 16 micro-tiles) in memory order."""
    return hmx_layout(w).reshape(-1, GROUP)


def untile_groups(groups, shape) -> np.ndarray:
    """Inverse of :func:`tile_groups` for a matrix of ``shape`` (R, C)."""
    r, c = shape
    return hmx_unlayout(np.asarray(groups).reshape(c // TILE, r // TILE, TILE * TILE))


def common_groups(w) -> np.ndarray:
    """(R, C) -> (R * C // 32, 32): the conventional groups, 32 consecutive rows of K of one
    column (a 32 x 1 strip), for comparison with :func:`tile_groups`."""
    w = np.asarray(w)
    _r, _c = _check_2d(w)
    return np.ascontiguousarray(w.T).reshape(-1, GROUP)


def uncommon_groups(groups, shape) -> np.ndarray:
    """Inverse of :func:`common_groups`."""
    r, c = shape
    return np.ascontiguousarray(np.asarray(groups).reshape(c, r).T)


def supergroup_pack(codes, scales) -> np.ndarray:
    """Coalesce groups into super-groups.

    Parameters
    ----------
    codes : (G, 32) uint8 4-bit codes, G a multiple of 8 (groups in memory order)
    scales : (G,) float16 group scales

    Returns
    -------
    uint8 (G // 8, 144): per super-group 128 bytes of packed codes, then 8 FP16 scales.
    """
    codes = np.asarray(codes, dtype=np.uint8)
    scales = np.asarray(scales, dtype=np.float16)
    if codes.ndim != 2 or codes.shape[1] != GROUP or codes.shape[0] % SUPER:
        raise ValueError(f"codes must be (G, 32) with G a multiple of 8, not {codes.shape}")
    if scales.shape != (codes.shape[0],):
        raise ValueError(f"scales must have shape ({codes.shape[0]},), not {scales.shape}")
    if np.any(codes > 15):
        raise ValueError("codes must be 4-bit (0..15)")
    n = codes.shape[0] // SUPER
    flat = codes.reshape(n, SUPER * GROUP)
    packed = flat[:, 0::2] | (flat[:, 1::2] << 4)
    sc = scales.astype("<f2").reshape(n, SUPER).view(np.uint8)
    return np.concatenate([packed, sc], axis=1)


def supergroup_unpack(blob) -> tuple[np.ndarray, np.ndarray]:
    """Inverse of :func:`supergroup_pack`: (S, 144) bytes -> (codes (8S, 32), scales (8S,))."""
    blob = np.asarray(blob, dtype=np.uint8)
    if blob.ndim != 2 or blob.shape[1] != 144:
        raise ValueError(f"super-groups must have shape (S, 144), not {blob.shape}")
    n = blob.shape[0]
    packed = blob[:, :128]
    codes = np.empty((n, 256), dtype=np.uint8)
    codes[:, 0::2] = packed & 0xF
    codes[:, 1::2] = packed >> 4
    scales = np.ascontiguousarray(blob[:, 128:]).view("<f2").reshape(-1).astype(np.float16)
    return codes.reshape(n * SUPER, GROUP), scales
