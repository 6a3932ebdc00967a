"""HMX tile layout, tile-group quantization and super-group coalescing."""

import numpy as np
import pytest

from golden import quant
from golden.kernels import hmx, hmx_layout, hmx_unlayout


def test_layout_positions_by_definition():
    r, c = 64, 96
    w = np.arange(r * c, dtype=np.int64).reshape(r, c)
    t = hmx_layout(w)
    assert t.shape == (3, 2, 1024)
    flat = t.reshape(-1)
    # Plain loops over the definition: tiles column-major, row pairs interleaved.
    for row in range(0, r, 7):
        for col in range(0, c, 5):
            tr, tc, rr, cc = row // 32, col // 32, row % 32, col % 32
            offset = (tc * (r // 32) + tr) * 1024 + (rr // 2) * 64 + cc * 2 + rr % 2
            assert flat[offset] == w[row, col]


def test_round_trip_4096():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4096, 4096)).astype(np.float16)
    assert np.array_equal(hmx_unlayout(hmx_layout(w)), w)


def test_tile_group_is_a_2x16_micro_tile():
    w = np.arange(64 * 64).reshape(64, 64)
    g = hmx.tile_groups(w)
    assert g.shape == (128, 32)
    assert sorted(g[0]) == sorted(w[0:2, 0:16].ravel())
    assert sorted(g[1]) == sorted(w[0:2, 16:32].ravel())
    assert sorted(g[2]) == sorted(w[2:4, 0:16].ravel())
    # the conventional group is a 32 x 1 strip along K (rows)
    assert np.array_equal(hmx.common_groups(w)[0], w[0:32, 0])
    assert np.array_equal(hmx.untile_groups(g, w.shape), w)
    assert np.array_equal(hmx.uncommon_groups(hmx.common_groups(w), w.shape), w)


def test_tile_group_quantization_and_super_group_round_trip():
    rng = np.random.default_rng(1)
    w = rng.standard_normal((256, 128)).astype(np.float32)
    groups = hmx.tile_groups(w)
    q = quant.quantize_int4(groups, granularity="group", group=32)
    scales = q.scales.reshape(-1).view(np.float16)
    blob = hmx.supergroup_pack(q.codes, scales)
    assert blob.shape == (groups.shape[0] // 8, 144)
    codes2, scales2 = hmx.supergroup_unpack(blob)
    assert np.array_equal(codes2, q.codes)
    assert np.array_equal(scales2.view(np.uint16), scales.view(np.uint16))
    # Byte layout: 128 code bytes (group 0 first, low nibble first), then 8 LE FP16 scales.
    assert blob[0, 0] == q.codes[0, 0] | (q.codes[0, 1] << 4)
    assert blob[0, 16] == q.codes[1, 0] | (q.codes[1, 1] << 4)
    assert int(blob[1, 128]) | int(blob[1, 129]) << 8 == int(scales[8].view(np.uint16))
    # Dequantised tile groups map back to the matrix and stay close to it.
    deq = hmx.untile_groups(quant.dequantize(q), w.shape)
    assert deq.shape == w.shape
    assert quant.sqnr_db(w, deq) > 15


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="multiples of 32"):
        hmx_layout(np.zeros((48, 32)))
    with pytest.raises(ValueError, match="1024"):
        hmx_unlayout(np.zeros((1, 1, 512)))
    with pytest.raises(ValueError, match="multiple of 8"):
        hmx.supergroup_pack(np.zeros((4, 32), np.uint8), np.zeros(4, np.float16))
    with pytest.raises(ValueError, match="4-bit"):
        hmx.supergroup_pack(np.full((8, 32), 16, np.uint8), np.zeros(8, np.float16))
    with pytest.raises(ValueError, match="144"):
        hmx.supergroup_unpack(np.zeros((2, 128), np.uint8))
