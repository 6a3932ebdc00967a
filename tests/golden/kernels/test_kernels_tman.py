"""T-MAN two-level LUT dequant on the bit-serial layout, INT2 and INT4."""

import numpy as np
import pytest

from golden.kernels import tman


def test_level1_example_from_the_article():
    # seeds/004 figure 7: plane 3 of 4 INT4 weights, bits 0b0011 -> 0b0000000010001000.
    assert tman.LEVEL1[4][3, 0b0011] == 0b0000000010001000


@pytest.mark.parametrize("bits", tman.BITS)
def test_level1_all_entries_place_bit_i_of_weight_t(bits):
    for i in range(bits):
        for n in range(16):
            word = int(tman.LEVEL1[bits][i, n])
            for t in range(4):
                field = (word >> (bits * t)) & ((1 << bits) - 1)
                assert field == (((n >> t) & 1) << i)


@pytest.mark.parametrize("bits", tman.BITS)
def test_bit_serial_round_trip_and_plane_bits(bits):
    rng = np.random.default_rng(bits)
    q = rng.integers(0, 1 << bits, size=(5, 64), dtype=np.uint8)
    planes = tman.to_bit_serial(q, bits)
    assert planes.shape == (bits, 5, 8)
    # Weight 8j + t's bit i is bit t of byte j of plane i (checked by plain indexing).
    for i in range(bits):
        for j in (0, 3, 7):
            for t in range(8):
                assert (planes[i, 2, j] >> t) & 1 == (q[2, 8 * j + t] >> i) & 1
    assert np.array_equal(tman.from_bit_serial(planes), q)
    words = tman.repack_level1(planes, bits)
    for t in range(4):
        assert np.array_equal((words >> (bits * t)) & ((1 << bits) - 1), q[:, t::4])


@pytest.mark.parametrize("bits", tman.BITS)
@pytest.mark.parametrize("group", [32, 64, 128])
def test_tman_dequant_bit_identical_to_plain(bits, group):
    rng = np.random.default_rng(group * bits)
    m, k = 64, 512
    q = rng.integers(0, 1 << bits, size=(m, k), dtype=np.uint8)
    scales = (rng.standard_normal((m, k // group)) * 0.01).astype(np.float16)
    zeros = rng.integers(0, 1 << bits, size=(m, k // group))
    ref = tman.dequant_plain(q, scales, zeros, bits=bits, group=group)
    out = tman.tman_dequant(tman.to_bit_serial(q, bits), scales, zeros, bits=bits, group=group)
    assert np.array_equal(out.view(np.uint16), ref.view(np.uint16))
    # and the plain dequant is what it says, element by element on a few entries
    for r, c in [(0, 0), (5, 77), (63, 511)]:
        g = c // group
        expect = np.float16(np.float32(int(q[r, c]) - int(zeros[r, g])) * np.float32(scales[r, g]))
        assert ref[r, c].view(np.uint16) == expect.view(np.uint16)


@pytest.mark.parametrize("bits", tman.BITS)
def test_tman_dequant_4096x4096(bits):
    rng = np.random.default_rng(11)
    m = k = 4096
    group = 64
    q = rng.integers(0, 1 << bits, size=(m, k), dtype=np.uint8)
    scales = rng.standard_normal((m, k // group)).astype(np.float16)
    zeros = rng.integers(0, 1 << bits, size=(m, k // group))
    out = tman.tman_dequant(tman.to_bit_serial(q, bits), scales, zeros, bits=bits, group=group)
    ref = tman.dequant_plain(q, scales, zeros, bits=bits, group=group)
    assert np.array_equal(out.view(np.uint16), ref.view(np.uint16))


def test_bad_arguments_raise():
    q = np.zeros((2, 64), dtype=np.uint8)
    with pytest.raises(ValueError, match="bits"):
        tman.to_bit_serial(q, 3)
    with pytest.raises(ValueError, match="2-bit"):
        tman.to_bit_serial(q + 4, 2)
    with pytest.raises(ValueError, match="group"):
        tman.dequant_plain(q, np.ones((2, 2)), np.zeros((2, 2)), bits=2, group=30)
    with pytest.raises(ValueError, match="zero points"):
        tman.dequant_plain(q, np.ones((2, 2)), np.full((2, 2), 4), bits=2, group=32)
    with pytest.raises(ValueError, match="planes"):
        tman.repack_level1(tman.to_bit_serial(q, 2), 4)
