"""W4A16 dequant: arithmetic, vlut16 and byte-LUT paths bit-identical to the plain reference."""

import numpy as np
import pytest

from golden.formats import E2M1_VALUES, NF4_VALUES
from golden.kernels import dequant as dq
from golden.sparse import pack_nibbles


def _random(rng, m, k, group):
    codes = rng.integers(0, 16, size=(m, k), dtype=np.uint8)
    # FP16 scales over a wide range, including subnormal and large ones.
    scales = (rng.standard_normal((m, k // group)) * 2.0 ** rng.integers(-20, 12, (m, k // group)))
    return pack_nibbles(codes), scales.astype(np.float16), codes


def test_format_tables_match_golden_formats():
    assert np.array_equal(dq.format_values("e2m1").astype(np.float32), E2M1_VALUES)
    assert np.array_equal(dq.format_values("int4"), np.r_[0:8, -8:0].astype(np.float16))
    assert np.array_equal(dq.format_values("nf4"), NF4_VALUES.astype(np.float16))


@pytest.mark.parametrize("fmt", dq.FORMATS)
def test_arith_decode_of_all_16_codes(fmt):
    codes = np.arange(16, dtype=np.uint8)
    ref = dq.format_values(fmt).astype(np.float32)
    assert np.array_equal(dq._decode_arith(codes, fmt), ref)


@pytest.mark.parametrize("fmt", dq.FORMATS)
@pytest.mark.parametrize("group", dq.GROUPS)
def test_all_paths_equal_plain_reference_small(fmt, group):
    rng = np.random.default_rng(group + len(fmt))
    packed, scales, _ = _random(rng, 3, 256, group)
    ref = dq.dequant_plain(packed, scales, fmt=fmt, group=group).view(np.uint16)
    for out in (
        dq.dequant_arith(packed, scales, fmt=fmt, group=group),
        dq.dequant_lut16(packed, scales, fmt=fmt, group=group, rows=2),
        dq.dequant_lut_byte(packed, scales, fmt=fmt, group=group, scale="baked", rows=2),
        dq.dequant_lut_byte(packed, scales, fmt=fmt, group=group, scale="broadcast"),
    ):
        assert out.dtype == np.float16
        assert np.array_equal(out.view(np.uint16), ref)


@pytest.mark.parametrize("fmt", dq.FORMATS)
def test_lut_paths_bit_identical_at_4096x4096(fmt):
    rng = np.random.default_rng(7)
    group = {"int4": 32, "e2m1": 64, "nf4": 128}[fmt]
    packed, scales, _ = _random(rng, 4096, 4096, group)
    ref = dq.dequant_arith(packed, scales, fmt=fmt, group=group).view(np.uint16)
    assert np.array_equal(dq.dequant_lut16(packed, scales, fmt=fmt, group=group).view(np.uint16),
                          ref)
    byte = dq.dequant_lut_byte(packed, scales, fmt=fmt, group=group,
                               scale="broadcast" if fmt == "e2m1" else "baked")
    assert np.array_equal(byte.view(np.uint16), ref)
    # Spot-check the vectorised result against the plain reference on a slice.
    sl = slice(1000, 1002)
    assert np.array_equal(dq.dequant_plain(packed[sl], scales[sl], fmt=fmt,
                                           group=group).view(np.uint16), ref[sl])


def test_corner_scales_zero_max_and_subnormal():
    codes = np.tile(np.arange(16, dtype=np.uint8), (4, 2))  # (4, 32)
    scales = np.array([[0.0], [65504.0], [2.0 ** -24], [-1.0]], dtype=np.float16)
    packed = pack_nibbles(codes)
    for fmt in dq.FORMATS:
        ref = dq.dequant_plain(packed, scales, fmt=fmt, group=32).view(np.uint16)
        for fn in (dq.dequant_arith, dq.dequant_lut16, dq.dequant_lut_byte):
            assert np.array_equal(fn(packed, scales, fmt=fmt, group=32).view(np.uint16), ref)
    # 65504 * 6 overflows FP16 to Inf; 2^-24 * 0.5 rounds (to even) to zero.
    e2m1 = dq.dequant_arith(packed, scales, fmt="e2m1", group=32)
    assert np.isinf(e2m1[1, 15]) and e2m1[2, 1] == 0


def test_byte_pair_table_order():
    t = dq.byte_pair_table(dq.format_values("int4"))
    pair = t[np.array([0x9F], dtype=np.uint8)].view(np.float16)
    assert pair.tolist() == [-1.0, -7.0]  # low nibble 0xF = -1 first, high 0x9 = -7


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"fmt": "int3", "group": 32}, "fmt"),
        ({"fmt": "int4", "group": 48}, "group"),
        ({"fmt": "int4", "group": 128}, "multiple"),
    ],
)
def test_bad_arguments_raise(kwargs, match):
    packed = np.zeros((2, 32), dtype=np.uint8)  # K = 64
    scales = np.ones((2, 2), dtype=np.float16)
    with pytest.raises(ValueError, match=match):
        dq.dequant_arith(packed, scales, **kwargs)


def test_bad_scale_shape_and_mode_raise():
    packed = np.zeros((2, 32), dtype=np.uint8)
    with pytest.raises(ValueError, match="scales"):
        dq.dequant_lut16(packed, np.ones((2, 3), np.float16), fmt="int4", group=32)
    with pytest.raises(ValueError, match="scale must be"):
        dq.dequant_lut_byte(packed, np.ones((2, 2), np.float16), fmt="int4", group=32,
                            scale="fused")
