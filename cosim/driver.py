"""Reusable stimulus for the cocotb benches: per-cycle vector driving, stream drivers, and
numpy generators of test vectors (FP32 operand pairs drawn across corner classes).

The cocotb parts keep per-cycle Python small: a :class:`VectorDriver` writes one row of
vectors per clock, :class:`StreamSource` / :class:`StreamSink` run an
``amaranth.lib.stream`` handshake (``<prefix>__valid``, ``<prefix>__ready``,
``<prefix>__payload`` in the emitted Verilog) with pause patterns for back-pressure.
"""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["FP32_CLASSES", "StreamSink", "StreamSource", "VectorDriver", "pause_pattern",
           "random_fp32_pairs"]

_SIGN = np.uint32(0x80000000)


def _bits(sign, exp, frac) -> np.ndarray:
    sign = np.asarray(sign, dtype=np.uint32) & 1
    exp = np.asarray(exp, dtype=np.uint32) & 0xFF
    frac = np.asarray(frac, dtype=np.uint32) & 0x7FFFFF
    return (sign << 31) | (exp << 23) | frac


def _uniform(rng, n):
    return (rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32),
            rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))


def _finite(rng, n, lo=0, hi=254):
    return _bits(rng.integers(0, 2, n), rng.integers(lo, hi + 1, n), rng.integers(0, 2**23, n))


def _cancellation(rng, n):
    # b = -(a nudged by a few ulps, sometimes across a binade edge): massive cancellation.
    a = _finite(rng, n, 0, 254)
    delta = rng.integers(-2000, 2001, n).astype(np.int64)
    delta = np.where(rng.random(n) < 0.3, rng.integers(-3, 4, n), delta)
    mag = np.clip((a & 0x7FFFFFFF).astype(np.int64) + delta, 0, 0x7F7FFFFF).astype(np.uint32)
    b = (mag | (a & _SIGN)) ^ _SIGN
    return a, b


def _far_apart(rng, n):
    ea = rng.integers(0, 255, n)
    diff = rng.integers(0, 64, n)
    eb = np.clip(ea - diff, 0, 254)
    a = _bits(rng.integers(0, 2, n), ea, rng.integers(0, 2**23, n))
    b = _bits(rng.integers(0, 2, n), eb, rng.integers(0, 2**23, n))
    swap = rng.random(n) < 0.5
    return np.where(swap, b, a), np.where(swap, a, b)


def _subnormals(rng, n):
    a = _bits(rng.integers(0, 2, n), 0, rng.integers(0, 2**23, n))
    b = _bits(rng.integers(0, 2, n), np.where(rng.random(n) < 0.7, 0, rng.integers(1, 4, n)),
              rng.integers(0, 2**23, n))
    return a, b


def _round_up_binade(rng, n):
    # Significand near all-ones plus a small same-sign addend: rounding carries into the
    # next binade (and from the largest subnormal into the smallest normal).
    ea = rng.integers(0, 254, n)
    fa = 0x7FFFFF - rng.integers(0, 8, n)
    eb = np.clip(ea - rng.integers(20, 28, n), 0, 254)
    sign = rng.integers(0, 2, n)
    return _bits(sign, ea, fa), _bits(sign, eb, rng.integers(0, 2**23, n))


def _near_overflow(rng, n):
    sign = rng.integers(0, 2, n)
    a = _bits(sign, rng.integers(250, 255, n), rng.integers(0, 2**23, n))
    b = _bits(np.where(rng.random(n) < 0.8, sign, 1 - sign), rng.integers(225, 255, n),
              rng.integers(0, 2**23, n))
    return a, b


def _specials(rng, n):
    special = np.array([0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7F800001,
                        0xFFBFFFFF, 0x00000000, 0x80000000, 0x7F7FFFFF, 0xFF7FFFFF,
                        0x00000001, 0x80000001], dtype=np.uint32)
    pick = lambda: np.where(rng.random(n) < 0.6,
                            special[rng.integers(0, len(special), n)],
                            rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32))
    a, b = pick(), pick()
    # Random NaN payloads as well.
    nan = _bits(rng.integers(0, 2, n), 255, rng.integers(1, 2**23, n))
    a = np.where(rng.random(n) < 0.15, nan, a)
    return a, b


def _negation(rng, n):
    # x + -x = +0 (also for -0 + +0), and x + x.
    a = np.where(rng.random(n) < 0.2, rng.integers(0, 2, n).astype(np.uint32) << 31,
                 _finite(rng, n))
    b = np.where(rng.random(n) < 0.8, a ^ _SIGN, a)
    return a, b


#: Class name -> generator(rng, n) -> (a_bits, b_bits), uint32 arrays.
FP32_CLASSES = {
    "uniform_bits": _uniform,
    "cancellation": _cancellation,
    "far_apart_exponents": _far_apart,
    "subnormals": _subnormals,
    "round_into_next_binade": _round_up_binade,
    "near_overflow": _near_overflow,
    "nan_inf_mixes": _specials,
    "negation_and_doubling": _negation,
    "finite_random": lambda rng, n: (_finite(rng, n), _finite(rng, n)),
}


def random_fp32_pairs(n: int, seed: int = 0):
    """``n`` FP32 operand pairs, an equal share from every class of :data:`FP32_CLASSES`,
    shuffled. Returns ``(a_bits, b_bits, class_index)`` as uint32/uint32/uint8 arrays."""
    rng = np.random.default_rng(seed)
    k = len(FP32_CLASSES)
    counts = [n // k + (1 if i < n % k else 0) for i in range(k)]
    parts = [gen(rng, c) for gen, c in zip(FP32_CLASSES.values(), counts)]
    a = np.concatenate([p[0] for p in parts]).astype(np.uint32)
    b = np.concatenate([p[1] for p in parts]).astype(np.uint32)
    cls = np.repeat(np.arange(k, dtype=np.uint8), counts)
    order = rng.permutation(n)
    return a[order], b[order], cls[order]


def pause_pattern(kind: str, seed: int = 0):
    """Endless iterator of booleans, True = pause this cycle (drop valid or ready).

    ``kind``: ``"none"``, ``"random"`` (50 %), ``"bursty"`` (long runs), ``"alternate"``.
    """
    rng = np.random.default_rng(seed)
    if kind == "none":
        return itertools.repeat(False)
    if kind == "alternate":
        return itertools.cycle([False, True])
    if kind == "random":
        def rand():
            while True:
                yield from (rng.random(1024) < 0.5).tolist()
        return rand()
    if kind == "bursty":
        def gen():
            while True:
                yield from [bool(rng.random() < 0.5)] * int(rng.integers(1, 12))
        return gen()
    raise ValueError(f"pause_pattern kind must be none, random, bursty or alternate, not {kind!r}")


class VectorDriver:
    """Apply one row of port values per clock cycle (on the falling edge) and sample outputs.

    ``clk=None`` drives a combinational block: one row per nanosecond, sampled after settling.

    ``drive(rows)`` with rows = list of ``{port: int}``; returns the list of sampled
    ``{port: int}`` for ``outputs``, one per row, read ``latency`` cycles after the row was
    applied (just before the next rising edge, after the outputs settled).
    """

    def __init__(self, dut, clk, outputs, latency: int = 0):
        self.dut = dut
        self.clk = clk
        self.outputs = list(outputs)
        self.latency = latency

    async def drive(self, rows):
        from cocotb.triggers import FallingEdge, ReadOnly, Timer

        got = []
        n = len(rows)
        if self.clk is None:
            # Combinational block: apply, let it settle, sample.
            for row in rows:
                for port, value in row.items():
                    getattr(self.dut, port).value = value
                await Timer(1, unit="ns")
                got.append({o: int(getattr(self.dut, o).value) for o in self.outputs})
            return got
        for i in range(n + self.latency):
            await FallingEdge(self.clk)
            if i < n:
                for port, value in rows[i].items():
                    getattr(self.dut, port).value = value
            if i >= self.latency:
                await ReadOnly()
                got.append({o: int(getattr(self.dut, o).value) for o in self.outputs})
        return got


class StreamSource:
    """Drive an amaranth ``stream`` (``prefix__valid/ready/payload``) from a list of payloads,
    dropping valid in the cycles the pause pattern says."""

    def __init__(self, dut, clk, prefix: str, pauses=None):
        self.clk = clk
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.pauses = pauses if pauses is not None else pause_pattern("none")
        self.valid.value = 0
        self.sent = 0

    async def send(self, payloads):
        from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

        for item in payloads:
            while True:
                await FallingEdge(self.clk)
                if next(self.pauses):
                    self.valid.value = 0
                    continue
                self.valid.value = 1
                self.payload.value = int(item)
                await ReadOnly()
                accepted = int(self.ready.value) == 1
                await RisingEdge(self.clk)
                if accepted:
                    self.sent += 1
                    break
        await FallingEdge(self.clk)
        self.valid.value = 0


class StreamSink:
    """Accept an amaranth ``stream`` and hand each payload to ``on_item`` (e.g. a checker's
    ``check``), dropping ready in the cycles the pause pattern says."""

    def __init__(self, dut, clk, prefix: str, on_item, pauses=None):
        self.clk = clk
        self.valid = getattr(dut, f"{prefix}__valid")
        self.ready = getattr(dut, f"{prefix}__ready")
        self.payload = getattr(dut, f"{prefix}__payload")
        self.on_item = on_item
        self.pauses = pauses if pauses is not None else pause_pattern("none")
        self.ready.value = 0
        self.received = 0

    async def run(self, count: int):
        from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

        while self.received < count:
            await FallingEdge(self.clk)
            self.ready.value = 0 if next(self.pauses) else 1
            await ReadOnly()
            if int(self.valid.value) and int(self.ready.value):
                self.on_item(int(self.payload.value))
                self.received += 1
            await RisingEdge(self.clk)
        await FallingEdge(self.clk)
        self.ready.value = 0


# ---- BlockAccumulator stimulus ----------------------------------------------------------------


def pack_partial_sum(psum: int, block_last: int, row_last: int, scale_w: int,
                     scale_x: int) -> int:
    """``hw.block_acc.PartialSum`` as an int (psum 10-bit two's complement in bits 9:0,
    block_last bit 10, row_last bit 11, scale_w bits 19:12, scale_x bits 27:20)."""
    return ((psum & 0x3FF) | (block_last << 10) | (row_last << 11) | (scale_w << 12)
            | (scale_x << 20))


def block_accumulator_beats(w, x, *, sparse: bool) -> list[int]:
    """The partial-sum beats a GEMV engine feeds one ``BlockAccumulator`` for all rows of
    ``w`` (``golden.quant.BlockQuantized``, M x K) against ``x`` (K), as packed ints.

    One beat per 2:4 group (``sparse``: ``sum = w0*x[pos0] + w1*x[pos1]`` from
    ``golden.sparse.compress_2_4``) or per dense pair (pattern 0), in units of 1/4, computed
    from ``golden.formats.E2M1_PRODUCT_QUARTERS``; ``block_last`` on the last beat of each
    block with that block's scale codes, ``row_last`` on the last block of each row.
    """
    from golden import sparse as gsparse
    from golden.formats import E2M1_PRODUCT_QUARTERS as Q

    codes = np.asarray(w.codes)
    xc = np.asarray(x.codes).astype(np.int64)
    m, k = codes.shape
    if sparse:
        values, patterns = gsparse.compress_2_4(codes)
        pos = gsparse.PATTERN_POSITIONS[patterns].astype(np.int64)          # (M, K/4, 2)
        base = (np.arange(k // 4) * 4)[None, :, None]
        xs = xc[base + pos]                                                 # (M, K/4, 2)
        v = values.reshape(m, k // 4, 2).astype(np.int64)
        psum = Q[v, xs].sum(axis=-1)
        steps = w.block // 4
    else:
        v = codes.reshape(m, k // 2, 2).astype(np.int64)
        psum = Q[v, xc.reshape(k // 2, 2)[None]].sum(axis=-1)
        steps = w.block // 2
    nb = k // w.block
    beats = []
    for i in range(m):
        for j in range(psum.shape[1]):
            b, last = divmod(j, steps)
            block_last = int(last == steps - 1)
            row_last = int(block_last and b == nb - 1)
            sw = int(w.scales[i, b]) if block_last else 0
            sx = int(x.scales[b]) if block_last else 0
            beats.append(pack_partial_sum(int(psum[i, j]), block_last, row_last, sw, sx))
    return beats


def random_block_operands(rng, m: int, k: int, *, block: int, scale_format: str,
                          sparse: bool, scales: str = "random"):
    """Random ``BlockQuantized`` weights (M x K) and activations (K) for accumulator tests.

    ``scales``: ``"random"`` (moderate), ``"overflow"`` (products beyond FP32 max),
    ``"underflow"`` (subnormal and zero results), ``"nan"`` (some NaN scale codes),
    ``"any"`` (every code, E4M3 negatives and NaNs included).
    """
    from golden.quant import BlockQuantized

    wc = rng.integers(0, 16, (m, k)).astype(np.uint8)
    if sparse:
        g = wc.reshape(m, k // 4, 4)
        keep = np.argsort(rng.random(g.shape), axis=-1)[..., :2]
        mask = np.zeros(g.shape, dtype=bool)
        np.put_along_axis(mask, keep, True, axis=-1)
        wc = np.where(mask, g, 0).reshape(m, k).astype(np.uint8)
    xc = rng.integers(0, 16, k).astype(np.uint8)
    nb = k // block
    if scale_format == "e8m0":
        lo, hi = {"random": (100, 154), "overflow": (190, 254), "underflow": (40, 75),
                  "nan": (90, 164), "any": (0, 255)}[scales]
        sw = rng.integers(lo, hi + 1, (m, nb))
        sx = rng.integers(lo, hi + 1, nb)
        if scales == "nan":
            sw = np.where(rng.random(sw.shape) < 0.1, 255, sw)
            sx = np.where(rng.random(sx.shape) < 0.05, 255, sx)
    else:
        def e4m3(shape):
            if scales == "any":
                return rng.integers(0, 256, shape)
            exp_lo, exp_hi = {"random": (4, 11), "overflow": (13, 15), "underflow": (0, 2),
                              "nan": (4, 11)}[scales]
            c = (rng.integers(exp_lo, exp_hi + 1, shape) << 3) | rng.integers(0, 8, shape)
            c = np.minimum(c, 0x7E)
            if scales == "nan":
                c = np.where(rng.random(shape) < 0.1, 0x7F, c)
            return c
        sw, sx = e4m3((m, nb)), e4m3(nb)
    w = BlockQuantized(codes=wc, scales=sw.astype(np.uint8), block=block,
                       scale_format=scale_format)
    x = BlockQuantized(codes=xc, scales=sx.astype(np.uint8), block=block,
                       scale_format=scale_format)
    return w, x
