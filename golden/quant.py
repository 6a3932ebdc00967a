"""Block-scaled FP4 and INT4 quantizers (SPEC section 3).

All arithmetic is on the input converted to float32 (one RNE rounding if it was float64),
so every step below is a defined IEEE binary32 operation.

MXFP4 (block B = 32 along K, E8M0 scale)::

    amax_b = max |x| over the block
    X_b    = floor(log2(amax_b)) - 2, clamped to [-127, 127]   (amax_b = 0 gives -127)
    code   = e2m1(x * 2**-X_b)                                  (exact scaling, RNE, saturating)

NVFP4 (block B = 16, E4M3 scale, FP32 tensor scale)::

    g      = fl32(amax_tensor / (6 * 448))                      (tensor_scale)
    s_b    = e4m3(fl32(amax_b / fl32(6 * g)))                  (RNE, saturating to 448)
    code   = e2m1(fl32(x / fl32(g * s_b)))                      (0 where g * s_b is 0)

Dequantization is ``e2m1(code) * scale * tensor_scale`` computed exactly in float64 and
rounded once to float32.

INT4 (FP16 scales, per tensor / per channel = per row / per group along K)::

    symmetric:  scale = fp16_up(amax / 7),          q = clip(rint(x / scale), -8, 7)
    asymmetric: lo = min(min x, 0), hi = max(max x, 0)
                scale = fp16_up((hi - lo) / 15),    z = clip(rint(-lo / scale), 0, 15)
                q = clip(rint(x / scale) + z, 0, 15)
    dequant:    (q - z) * scale                     (z = 0 for symmetric)

fp16_up rounds up to the next FP16 value (not to nearest), so nothing saturates; a range
beyond the FP16 limit saturates the scale at 65504. A zero range gives scale 0 and q = 0
(or z). x / scale is computed in float32.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import formats

SCALE_FORMATS = ("e8m0", "e4m3")
INT4_GRANULARITIES = ("tensor", "channel", "group")


def _finite_f32(x, what: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 1:
        raise ValueError(f"{what}: input must have at least one axis (the last is K)")
    if not np.all(np.isfinite(x)):
        raise ValueError(f"{what}: input holds NaN or Inf")
    return x


def _check_block(k: int, block, what: str) -> int:
    if isinstance(block, bool) or not isinstance(block, (int, np.integer)) or block <= 0:
        raise ValueError(f"{what}: block must be a positive integer, not {block!r}")
    if k % block:
        raise ValueError(f"{what}: block {block} does not divide K = {k}")
    return int(block)


def scale_value(codes, scale_format: str) -> np.ndarray:
    """Scale codes to their exact values as float64 (NaN for NaN codes).

    ``"e8m0"``: ``2**(c - 127)``, 255 is NaN. ``"e4m3"``: fp8 e4m3fn, 0x7F/0xFF are NaN.

    Raises
    ------
    ValueError
        For an unknown scale format.
    """
    if scale_format == "e8m0":
        return formats.e8m0_to_float(codes)
    if scale_format == "e4m3":
        return formats.e4m3_to_float(codes).astype(np.float64)
    raise ValueError(f"unknown scale format {scale_format!r}; known: {', '.join(SCALE_FORMATS)}")


@dataclass(frozen=True)
class BlockQuantized:
    """A block-scaled FP4 tensor; the last axis is K.

    Members
    -------
    codes : np.ndarray
        uint8 E2M1 codes, shape (..., K), unpacked (one code per element).
    scales : np.ndarray
        uint8 scale codes, shape (..., K // block).
    block : int
        Elements per scale block (32 for MXFP4, 16 for NVFP4).
    scale_format : str
        ``"e8m0"`` (MXFP4) or ``"e4m3"`` (NVFP4).
    tensor_scale : float
        NVFP4 FP32 tensor scale g (1.0 for MXFP4); applied by the host, not the NPU.

    Raises
    ------
    ValueError
        If the scale format is unknown, the block does not divide K, the shapes disagree or a
        code is out of range.
    """

    codes: np.ndarray
    scales: np.ndarray
    block: int
    scale_format: str
    tensor_scale: float = 1.0

    def __post_init__(self):
        if self.scale_format not in SCALE_FORMATS:
            raise ValueError(
                f"BlockQuantized.scale_format must be one of {', '.join(SCALE_FORMATS)}, "
                f"not {self.scale_format!r}"
            )
        codes = np.asarray(self.codes)
        scales = np.asarray(self.scales)
        if codes.ndim < 1:
            raise ValueError("BlockQuantized.codes must have at least one axis (K)")
        block = _check_block(codes.shape[-1], self.block, "BlockQuantized")
        for name, arr, hi in (("codes", codes, 15), ("scales", scales, 255)):
            if arr.dtype.kind not in "iu" or (arr.size and (arr.min() < 0 or arr.max() > hi)):
                raise ValueError(f"BlockQuantized.{name} must be integer codes 0..{hi}")
        want = codes.shape[:-1] + (codes.shape[-1] // block,)
        if scales.shape != want:
            raise ValueError(
                f"BlockQuantized.scales shape must be {want} for codes {codes.shape} and "
                f"block {block}, not {scales.shape}"
            )
        ts = float(self.tensor_scale)
        object.__setattr__(self, "codes", codes.astype(np.uint8))
        object.__setattr__(self, "scales", scales.astype(np.uint8))
        object.__setattr__(self, "block", block)
        object.__setattr__(self, "tensor_scale", ts)

    @property
    def shape(self) -> tuple:
        """Shape of the (unpacked) tensor, (..., K)."""
        return self.codes.shape

    def scale_values(self) -> np.ndarray:
        """The block scales as exact float64 values, shape (..., K // block)."""
        return scale_value(self.scales, self.scale_format)


def quantize_mxfp4(x, block: int = 32) -> BlockQuantized:
    """Quantize to MXFP4: E2M1 elements with one E8M0 scale per ``block`` along K.

    ``X = floor(log2(amax)) - 2`` clamped to [-127, 127] (amax = 0 gives -127); elements
    ``e2m1(x / 2**X)`` (RNE, saturating to +-6).

    Raises
    ------
    ValueError
        On NaN/Inf input or a block that does not divide K.
    """
    x = _finite_f32(x, "quantize_mxfp4")
    block = _check_block(x.shape[-1], block, "quantize_mxfp4")
    xb = x.reshape(*x.shape[:-1], -1, block)
    amax = np.abs(xb).max(axis=-1)
    # frexp: amax = m * 2**e with 0.5 <= m < 1, so floor(log2(amax)) = e - 1 exactly.
    _, e = np.frexp(amax)
    X = np.where(amax > 0, e.astype(np.int32) - 1 - 2, -127)
    X = np.clip(X, -127, 127)
    # x * 2**-X is exact in float32 unless it falls below 2**-126, where it is far below the
    # smallest E2M1 step (0.5) and any rounding still gives a zero code.
    scaled = np.ldexp(xb, (-X)[..., None].astype(np.int32))
    codes = formats.float_to_e2m1(scaled).reshape(x.shape)
    scales = formats.e8m0_from_exponent(X)
    return BlockQuantized(codes, scales, block, "e8m0", 1.0)


def quantize_nvfp4(x, block: int = 16) -> BlockQuantized:
    """Quantize to NVFP4: E2M1 elements, E4M3 scale per ``block``, FP32 tensor scale.

    ``g = amax_tensor / (6 * 448)``, ``s = e4m3(amax_b / (6 g))``, elements
    ``e2m1(x / (g s))``; every step in float32 (see the module docstring). An all-zero
    tensor gets g = 0 stored as tensor_scale 0.0, with zero scales and codes.

    Raises
    ------
    ValueError
        On NaN/Inf input or a block that does not divide K.
    """
    x = _finite_f32(x, "quantize_nvfp4")
    block = _check_block(x.shape[-1], block, "quantize_nvfp4")
    xb = x.reshape(*x.shape[:-1], -1, block)
    amax_b = np.abs(xb).max(axis=-1)
    amax_t = np.float32(amax_b.max()) if amax_b.size else np.float32(0)
    g = np.float32(amax_t / np.float32(6 * 448))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if g > 0:
            ratio = amax_b / np.float32(np.float32(6) * g)
        else:
            ratio = np.zeros_like(amax_b)
        s_codes = formats.float_to_e4m3(np.nan_to_num(ratio, nan=0.0, posinf=formats.E4M3_MAX))
        s = formats.e4m3_to_float(s_codes)
        denom = (g * s).astype(np.float32)
        q = np.where(denom[..., None] > 0, xb / denom[..., None], np.float32(0))
    codes = formats.float_to_e2m1(q.astype(np.float32)).reshape(x.shape)
    return BlockQuantized(codes, s_codes, block, "e4m3", float(g))


# ---- INT4 ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Int4Quantized:
    """An INT4 tensor with FP16 scales; the last axis is K.

    Members
    -------
    codes : np.ndarray
        uint8 4-bit codes, shape (..., K): two's complement nibbles (-8..7) when symmetric,
        0..15 when asymmetric.
    scales : np.ndarray
        uint16 FP16 bit patterns, shape (..., K // group) (``group = K`` for per-channel,
        shape ``(1,) * ndim`` for per-tensor).
    zero_points : np.ndarray or None
        uint8 zero points 0..15 with the shape of ``scales`` (asymmetric), else None.
    granularity : str
        ``"tensor"``, ``"channel"`` (one scale per row) or ``"group"``.
    group : int
        Elements per scale along K (K for tensor and channel granularity).
    symmetric : bool
        True for signed -8..7 codes, False for 0..15 codes with a zero point.
    """

    codes: np.ndarray
    scales: np.ndarray
    zero_points: np.ndarray | None
    granularity: str
    group: int
    symmetric: bool

    @property
    def shape(self) -> tuple:
        return self.codes.shape

    def scale_values(self) -> np.ndarray:
        """The FP16 scales as float32, shape of ``scales``."""
        return formats.fp16_to_float(self.scales)

    def integers(self) -> np.ndarray:
        """The stored integers (int8): -8..7, or 0..15 when asymmetric."""
        if self.symmetric:
            return formats.int4_to_int(self.codes)
        return formats.uint4_to_int(self.codes)


def _fp16_scale_up(s: np.ndarray) -> np.ndarray:
    """FP16 bits of the smallest FP16 value >= s (s >= 0, float64).

    Rounding the scale up rather than to nearest keeps ``amax / scale <= 7`` (``range / scale
    <= 15``), so no element saturates; it matters for tiny ranges, whose scales are FP16
    subnormals with few significant bits (RNE could lose the whole range to 0).
    """
    s = np.minimum(np.asarray(s, dtype=np.float64), formats.FP16_MAX)
    bits = formats.float_to_fp16(s)
    low = formats.fp16_to_float(bits).astype(np.float64) < s
    return np.where(low, bits + 1, bits).astype(np.uint16)  # positive: next pattern is next value


def quantize_int4(
    x, *, granularity: str = "group", group: int | None = None, symmetric: bool = True
) -> Int4Quantized:
    """Quantize to INT4 with FP16 scales.

    Parameters
    ----------
    x : array, shape (..., K)
    granularity : {"tensor", "channel", "group"}
        One scale for the whole tensor, one per row (all leading indices), or one per
        ``group`` consecutive elements along K.
    group : int, optional
        Group size for ``"group"`` (usually 32, 64 or 128; default 128); must divide K.
        Must be None (or K) otherwise.
    symmetric : bool
        Signed codes -8..7 with ``scale = amax / 7``, or unsigned 0..15 with a zero point.

    Raises
    ------
    ValueError
        On NaN/Inf input, an unknown granularity, or a group that does not divide K.
    """
    x = _finite_f32(x, "quantize_int4")
    k = x.shape[-1]
    if granularity == "group":
        group = _check_block(k, 128 if group is None else group, "quantize_int4")
        xg = x.reshape(*x.shape[:-1], -1, group)
        axes: tuple = (-1,)
    elif granularity == "channel":
        if group not in (None, k):
            raise ValueError("quantize_int4: group is only for granularity='group'")
        group = k
        xg = x.reshape(*x.shape[:-1], 1, k)
        axes = (-1,)
    elif granularity == "tensor":
        if group not in (None, k):
            raise ValueError("quantize_int4: group is only for granularity='group'")
        group = k
        xg = x.reshape((1,) * (x.ndim - 1) + (1, x.size))
        axes = (-1,)
    else:
        raise ValueError(
            f"quantize_int4: unknown granularity {granularity!r}; "
            f"known: {', '.join(INT4_GRANULARITIES)}"
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        if symmetric:
            amax = np.abs(xg).max(axis=axes)
            scale_bits = _fp16_scale_up(amax.astype(np.float64) / 7)
            scale = formats.fp16_to_float(scale_bits)
            v = np.where(scale[..., None] > 0, xg / scale[..., None], np.float32(0))
            codes = formats.float_to_int4(v)
            zp = None
        else:
            lo = np.minimum(xg.min(axis=axes), 0).astype(np.float64)
            hi = np.maximum(xg.max(axis=axes), 0).astype(np.float64)
            scale_bits = _fp16_scale_up((hi - lo) / 15)
            scale = formats.fp16_to_float(scale_bits)
            pos = scale > 0
            z = np.where(pos, -lo / np.where(pos, scale, 1), 0)
            zp = formats.float_to_uint4(z)
            v = np.where(pos[..., None], xg / np.where(pos, scale, 1)[..., None], np.float32(0))
            codes = formats.float_to_uint4(np.rint(v) + zp[..., None])
    codes = codes.reshape(x.shape)
    if granularity == "tensor":
        scale_bits = scale_bits.reshape((1,) * x.ndim)
        zp = None if zp is None else zp.reshape((1,) * x.ndim)
    return Int4Quantized(codes, scale_bits, zp, granularity, group, bool(symmetric))


# ---- common --------------------------------------------------------------------------------


def dequantize(q) -> np.ndarray:
    """Values of a quantized tensor as float32.

    BlockQuantized: ``e2m1(code) * scale * tensor_scale``, exact in float64, rounded once
    (NaN where the scale code is NaN). Int4Quantized: ``(q - z) * scale``.

    Raises
    ------
    ValueError
        For an object that is neither.
    """
    if isinstance(q, BlockQuantized):
        v = formats.e2m1_to_float(q.codes).astype(np.float64)
        s = np.repeat(q.scale_values(), q.block, axis=-1)
        with np.errstate(over="ignore", invalid="ignore"):
            return (v * s * q.tensor_scale).astype(np.float32)
    if isinstance(q, Int4Quantized):
        ints = q.integers().astype(np.float64)
        zp = 0 if q.zero_points is None else q.zero_points.astype(np.float64)
        s = q.scale_values().astype(np.float64)
        if q.granularity == "tensor":
            return ((ints - zp) * s).astype(np.float32)
        s = np.repeat(s, q.group, axis=-1)
        if q.zero_points is not None:
            zp = np.repeat(zp, q.group, axis=-1)
        return ((ints - zp) * s).astype(np.float32)
    raise ValueError(f"dequantize: unknown quantized format {type(q).__name__}")


def quantize(x, fmt: str, **kwargs):
    """Quantize by format name: ``"mxfp4"``, ``"nvfp4"`` or ``"int4"`` (kwargs passed on).

    Raises
    ------
    ValueError
        For an unknown format.
    """
    fns = {"mxfp4": quantize_mxfp4, "nvfp4": quantize_nvfp4, "int4": quantize_int4}
    if fmt not in fns:
        raise ValueError(f"unknown format {fmt!r}; known: {', '.join(fns)}")
    return fns[fmt](x, **kwargs)


def sqnr_db(ref, approx) -> float:
    """Signal-to-quantization-noise ratio ``10 log10(sum ref**2 / sum (ref - approx)**2)``
    in dB, computed in float64; +inf when they are equal.

    Raises
    ------
    ValueError
        If the shapes differ or either holds NaN/Inf.
    """
    r = np.asarray(ref, dtype=np.float64)
    a = np.asarray(approx, dtype=np.float64)
    if r.shape != a.shape:
        raise ValueError(f"sqnr_db: shapes differ, {r.shape} vs {a.shape}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(a))):
        raise ValueError("sqnr_db: input holds NaN or Inf")
    noise = float(np.sum((r - a) ** 2))
    signal = float(np.sum(r**2))
    if noise == 0:
        return float("inf")
    if signal == 0:
        return float("-inf")
    return 10.0 * np.log10(signal / noise)
