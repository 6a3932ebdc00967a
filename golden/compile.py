"""The golden compiler: (W, x, config) -> DRAM image + command list, and its interpreter.

:func:`compile_gemv` lays a block-quantized GEMV out in DRAM and writes the command list that
streams it through the TCM with double buffering. The same :class:`Program` drives the RTL
cosimulation (``cosim.run_gemv``) and the analytic cycle estimate. :func:`execute` runs a
command list on a DRAM image in plain numpy with the arithmetic of SPEC section 4; its ``y``
equals ``golden.gemv_reference`` bit for bit, which proves the layout before any RTL runs.
The layouts are drawn in docs/architecture.md.

TCM operand layout of one GEMV (all offsets in bytes; ``Ln`` = TCM line bytes = banks x word
bytes, ``L`` = lanes, ``S`` = steps per block = block/4 for 2:4, block/2 dense, ``nb`` =
k_blocks, ``align`` rounds up to a multiple of ``Ln``):

* activations at ``x_addr``: the ``nb*block`` E2M1 codes two per byte (code 2i low nibble),
  ``align(nb*block/2)`` bytes, then the ``nb`` activation scale bytes, ``align(nb)`` bytes.
* weights at ``w_addr``: ``row_tiles`` panels back to back, one per group of L rows. A panel
  is three planes, each starting at a line boundary:

  - values: ``nb*S`` steps x L lanes bytes, step-major; byte = slot 0 (low nibble) | slot 1
    (high nibble) of that lane's group (dense: the pair k, k+1) -- ``align(nb*S*L)`` bytes;
  - patterns (2:4 only): ``nb*S*L`` 4-bit pattern fields, step-major, two per byte, low
    first (``golden.sparse.pack_patterns``) -- ``align(ceil(nb*S*L/2))`` bytes;
  - scales: ``nb`` blocks x L lanes bytes, block-major -- ``align(nb*L)`` bytes.

* y at ``y_addr``: FP32 little-endian, row ``r*L + lane`` at ``y_addr + 4*(r*L + lane)``.

So one step of the GEMV engine needs L value bytes, L/2 pattern bytes and (every S steps) L
scale bytes: for L = 8 that is 12 bytes per cycle, fed from a 4-bank x 64-bit TCM line.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from hw.commands import COMMAND_BYTES, ErrorCode, Opcode, decode, encode_list
from hw.config import NpuConfig

from .quant import scale_value
from .sparse import pack_nibbles, pack_patterns, unpack_nibbles

__all__ = [
    "CycleModel",
    "ExecResult",
    "Program",
    "TcmMap",
    "compile_gemv",
    "compile_lut",
    "execute",
    "gemv_block_products",
    "line_bytes",
    "lut_chunk",
    "panel_bytes",
    "x_bytes",
]

#: Alignment of the regions of the DRAM image (bytes).
DRAM_ALIGN = 64


def _align(n: int, a: int) -> int:
    return -(-n // a) * a


def steps_per_block(block: int, sparse: bool) -> int:
    """GEMV engine steps per scale block: block/4 groups (2:4) or block/2 pairs (dense)."""
    return block // 4 if sparse else block // 2


def line_bytes(config: NpuConfig) -> int:
    """Bytes of one TCM line (one word from every bank): the alignment of every plane, so
    that the operand feeder reads each plane with whole wide (line) reads."""
    return config.tcm_banks * config.tcm_word_bits // 8


def panel_bytes(config: NpuConfig, k_blocks: int, sparse: bool) -> tuple[int, int, int]:
    """Bytes of the (values, patterns, scales) planes of one weight panel (L rows)."""
    ln, lanes = line_bytes(config), config.lanes
    steps = k_blocks * steps_per_block(config.block_size, sparse)
    values = _align(steps * lanes, ln)
    patterns = _align(-(-steps * lanes // 2), ln) if sparse else 0
    scales = _align(k_blocks * lanes, ln)
    return values, patterns, scales


def x_bytes(config: NpuConfig, k_blocks: int) -> tuple[int, int]:
    """Bytes of the (codes, scales) parts of an activation chunk of ``k_blocks`` blocks."""
    ln = line_bytes(config)
    return _align(k_blocks * config.block_size // 2, ln), _align(k_blocks, ln)


def gemv_block_products(p_quarters, s_w, s_x, scale_format: str) -> np.ndarray:
    """q = fl32(S_w * S_x * p) for integer partial sums ``p`` in units of 1/4 (section 4).

    The product is exact in float64 (E8M0: a power of two >= 2^-256 times a 13-bit
    integer; E4M3: 4 x 4 x 13 significant bits), so the one float64 -> float32 conversion
    is the correctly rounded (RNE) fl32, including overflow to Inf and subnormal results.
    """
    sw = scale_value(np.asarray(s_w, dtype=np.uint8), scale_format)
    sx = scale_value(np.asarray(s_x, dtype=np.uint8), scale_format)
    with np.errstate(over="ignore", invalid="ignore"):
        return (sw * sx * (np.asarray(p_quarters, dtype=np.float64) / 4.0)).astype(np.float32)


def _canonical_nan(y: np.ndarray) -> np.ndarray:
    bits = y.view(np.uint32).copy()
    bits[np.isnan(y)] = 0x7FC00000
    return bits.view(np.float32)


@dataclass(frozen=True)
class TcmMap:
    """Byte addresses of the TCM regions a compiled GEMV uses."""

    x: int | None          # resident activations (None when K is chunked)
    y: tuple[int, int]     # the two y buffers
    buf: tuple[int, int]   # the two weight tile buffers (double buffering)
    buf_bytes: int
    y_bytes: int


@dataclass(frozen=True)
class CycleModel:
    """Overheads of the analytic cycle estimate (cycles). Calibrate against the RTL."""

    dma_cmd: int = 24        # descriptor start + AXI read latency of the first burst
    gemv_cmd: int = 16       # operand fetch start + MAC/accumulator pipeline drain
    dispatch: int = 2        # command fetch and decode per command (list prefetched)
    sync: int = 2


@dataclass
class Program:
    """A compiled GEMV: DRAM image, command list, TCM map and the numbers derived from them.

    Members
    -------
    config : NpuConfig
    m, k, sparse : the GEMV shape and format
    rows_padded : M rounded up to whole tiles (pad rows are zero weights; their y is 0)
    dram_base : DRAM address of ``image[0]``
    image : bytearray, the whole DRAM window (command list, x, W, y area)
    cmd_addr, cmd_count : DRAM address and number of command words
    x_addr, w_addr, y_addr : DRAM addresses of the regions
    commands : list of (Opcode, fields)
    tcm : TcmMap
    tile_rows, k_chunk_blocks, tiles : tiling (row tiles per tile, blocks per K chunk)
    """

    config: NpuConfig
    m: int
    k: int
    sparse: bool
    rows_padded: int
    dram_base: int
    image: bytearray
    cmd_addr: int
    cmd_count: int
    x_addr: int
    w_addr: int
    y_addr: int
    commands: list
    tcm: TcmMap
    tile_rows: int
    k_chunk_blocks: int
    tiles: int
    dram_read_bytes: int = 0
    dram_write_bytes: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def compute_cycles(self) -> int:
        """MAC steps at full lane occupancy: ceil(M/L) row tiles x K/4 (2:4) or K/2."""
        c = self.config
        per = 4 if self.sparse else 2
        return math.ceil(self.m / c.lanes) * self.k // per

    @property
    def min_dram_bytes(self) -> int:
        """Bytes that must cross the bus once: every operand byte of this layout read once
        (values, 4-bit patterns, scales, x) and y written once (4 bytes per real row)."""
        c = self.config
        n_rt = math.ceil(self.m / c.lanes)
        nb = self.k // c.block_size
        v, p, s = panel_bytes(c, nb, self.sparse)
        xc, xs = x_bytes(c, nb)
        return n_rt * (v + p + s) + xc + xs + 4 * self.m

    @property
    def bound_cycles(self) -> int:
        """max(compute cycles at full lane occupancy, minimal DRAM bytes / bus bytes)."""
        return max(self.compute_cycles, math.ceil(self.min_dram_bytes / self.config.bus_bytes))

    def estimate_cycles(self, model: CycleModel | None = None) -> int:
        """Analytic cycles: per SYNC interval, max(DMA work, compute work) plus overheads."""
        model = model or CycleModel()
        c = self.config
        total = 0
        dma = comp = 0
        for op, f in self.commands:
            total += model.dispatch
            if op in (Opcode.LOAD, Opcode.STORE):
                dma += model.dma_cmd + -(-f["length"] // c.bus_bytes)
            elif op == Opcode.GEMV:
                steps = f["k_blocks"] * steps_per_block(c.block_size, f["flags"]["sparse"])
                comp += model.gemv_cmd + f["row_tiles"] * steps
            elif op in (Opcode.SYNC, Opcode.END):
                total += max(dma, comp) + model.sync
                dma = comp = 0
        return total + max(dma, comp)

    def y_from_image(self, image=None) -> np.ndarray:
        """The M float32 results as they lie in the y area of a DRAM image."""
        img = self.image if image is None else image
        off = self.y_addr - self.dram_base
        return np.frombuffer(bytes(img[off:off + 4 * self.m]), dtype="<f4").copy()


def _check_operands(w, x, config: NpuConfig):
    for name, t in (("w", w), ("x", x)):
        if t.block != config.block_size:
            raise ValueError(f"{name}.block is {t.block} but NpuConfig.block_size is "
                             f"{config.block_size}")
        if t.scale_format != config.scale_format:
            raise ValueError(f"{name}.scale_format is {t.scale_format!r} but "
                             f"NpuConfig.scale_format is {config.scale_format!r}")
    wc, xc = np.asarray(w.codes), np.asarray(x.codes)
    if wc.ndim != 2 or xc.ndim != 1 or wc.shape[1] != xc.shape[0]:
        raise ValueError(f"compile_gemv needs w.codes (M, K) and x.codes (K,), not "
                         f"{wc.shape} and {xc.shape}")
    m, k = wc.shape
    if m < 1 or k < config.block_size or k % config.block_size:
        raise ValueError(f"compile_gemv needs M >= 1 and K a positive multiple of the block "
                         f"({config.block_size}), not M={m}, K={k}")
    return m, k


def _plan(config: NpuConfig, m: int, k: int, sparse: bool, tile_rows: int | None):
    """Choose (tile_rows R, k_chunk_blocks, x_resident, TcmMap)."""
    lanes, wb, tcm = config.lanes, config.tcm_word_bits // 8, config.tcm_bytes
    nb = k // config.block_size
    n_rt = math.ceil(m / lanes)
    xfull = sum(x_bytes(config, nb))
    pfull = sum(panel_bytes(config, nb, sparse))

    ln = line_bytes(config)

    def ybytes(r):
        return _align(r * lanes * 4, ln)

    # Whole K in one panel, x resident: R row tiles per tile, at least ~8 tiles when the
    # problem is big enough so that the exposed first load and last compute stay small.
    # A y STORE must be whole bus beats, so a tile has a multiple of rmul row tiles.
    rmul = max(1, wb // (lanes * 4))
    if tile_rows is not None and tile_rows % rmul:
        raise ValueError(f"tile_rows must be a multiple of {rmul} (bus bytes / (4 * lanes))")
    cap = _align(min(n_rt, 65535), rmul)
    want = tile_rows if tile_rows is not None else _align(max(1, math.ceil(n_rt / 8)), rmul)
    for r in range(min(cap, want), 0, -rmul):
        need = xfull + 2 * ybytes(r) + 2 * r * pfull
        if need <= tcm:
            buf = (tcm - xfull - 2 * ybytes(r)) // 2 // ln * ln
            ys = (xfull, xfull + ybytes(r))
            b0 = xfull + 2 * ybytes(r)
            return r, nb, True, TcmMap(x=0, y=ys, buf=(b0, b0 + buf), buf_bytes=buf,
                                       y_bytes=ybytes(r))
    if tile_rows not in (None, 1):
        raise ValueError(f"tile_rows={tile_rows} does not fit the TCM ({tcm} bytes)")
    # K chunked: one row tile per GEMV, lane accumulators carried between chunks.
    if rmul > 1:
        raise ValueError(f"K = {k} does not fit the TCM in one panel, and chunking K needs "
                         f"lanes * 4 >= bus bytes ({wb})")
    yb = ybytes(1)
    for kc in range(nb - 1, 0, -1):
        tile = sum(x_bytes(config, kc)) + sum(panel_bytes(config, kc, sparse))
        if 2 * yb + 2 * tile <= tcm:
            buf = (tcm - 2 * yb) // 2 // ln * ln
            return 1, kc, False, TcmMap(x=None, y=(0, yb), buf=(2 * yb, 2 * yb + buf),
                                        buf_bytes=buf, y_bytes=yb)
    raise ValueError(f"the TCM ({tcm} bytes) cannot hold two tiles of one scale block")


def compile_gemv(w, x, *, config: NpuConfig | None = None, sparse: bool = False,
                 dram_base: int = 0, tile_rows: int | None = None) -> Program:
    """Compile y = W x into a DRAM image and a double-buffered command list.

    Parameters
    ----------
    w, x : golden.quant.BlockQuantized
        Weights (M, K) and activations (K,), block and scale format as in ``config``.
    config : NpuConfig
    sparse : bool
        Use the 2:4 layout (``w.codes`` must be 2:4 sparse) instead of the dense one.
    dram_base : int
        DRAM address of the image (multiple of 64).
    tile_rows : int, optional
        Row tiles (of L rows) per weight tile; default: about 1/8 of the rows, as many as
        the TCM holds.

    Raises
    ------
    ValueError
        Mismatched block/format, bad shapes, W not 2:4 with ``sparse``, or a problem that
        does not fit the command fields or the TCM.
    """
    from .sparse import compress_2_4, dense_as_pairs

    config = config or NpuConfig()
    m, k = _check_operands(w, x, config)
    if dram_base % DRAM_ALIGN or dram_base < 0:
        raise ValueError(f"dram_base must be a non-negative multiple of {DRAM_ALIGN}")
    lanes, bs, wb = config.lanes, config.block_size, config.tcm_word_bits // 8
    nb = k // bs
    r, kc, x_resident, tmap = _plan(config, m, k, sparse, tile_rows)
    n_rt = -(-m // lanes)
    n_groups = -(-n_rt // r)
    rows_p = n_groups * r * lanes
    chunks = [(c, min(kc, nb - c)) for c in range(0, nb, kc)]

    wcodes = np.zeros((rows_p, k), dtype=np.uint8)
    wcodes[:m] = np.asarray(w.codes, dtype=np.uint8)
    wscales = np.zeros((rows_p, nb), dtype=np.uint8)
    wscales[:m] = np.asarray(w.scales, dtype=np.uint8)
    if sparse:
        vals, pats = compress_2_4(wcodes)
    else:
        vals, pats = dense_as_pairs(wcodes)
    vbytes = pack_nibbles(vals)                  # (rows_p, steps): slot0 low, slot1 high
    spb = steps_per_block(bs, sparse)
    xcodes = np.asarray(x.codes, dtype=np.uint8)
    xscales = np.asarray(x.scales, dtype=np.uint8)

    def pad(b: bytes, n: int) -> bytes:
        return b + bytes(n - len(b))

    def panel(rt: int, b0: int, nbk: int) -> bytes:
        rows = slice(rt * lanes, (rt + 1) * lanes)
        st = slice(b0 * spb, (b0 + nbk) * spb)
        v, p, s = panel_bytes(config, nbk, sparse)
        out = pad(vbytes[rows, st].T.tobytes(), v)
        if sparse:
            out += pad(pack_patterns(pats[rows, st].T.reshape(-1)).tobytes(), p)
        out += pad(wscales[rows, b0:b0 + nbk].T.tobytes(), s)
        return out

    def xchunk(b0: int, nbk: int) -> bytes:
        xc, xs = x_bytes(config, nbk)
        return (pad(pack_nibbles(xcodes[b0 * bs:(b0 + nbk) * bs]).tobytes(), xc)
                + pad(xscales[b0:b0 + nbk].tobytes(), xs))

    # Tiles in execution order: (row group g, chunk index ci).
    tiles = [(g, ci) for g in range(n_groups) for ci in range(len(chunks))]
    # DRAM image: [commands][x chunks][weight tiles][y]; command count known up front.
    n_cmds = ((1 if x_resident else 0) + len(tiles) * (1 if x_resident else 2) + 1
              + 2 * len(tiles) + n_groups + 1)
    cmd_addr = dram_base
    x_addr = dram_base + _align(n_cmds * COMMAND_BYTES, DRAM_ALIGN)
    x_blobs = [xchunk(b0, nbk) for b0, nbk in chunks]
    x_offs = np.cumsum([0] + [len(b) for b in x_blobs]).tolist()
    w_addr = x_addr + _align(x_offs[-1], DRAM_ALIGN)
    w_blobs = []
    for g, ci in tiles:
        b0, nbk = chunks[ci]
        w_blobs.append(b"".join(panel(g * r + j, b0, nbk) for j in range(r)))
    w_offs = np.cumsum([0] + [len(b) for b in w_blobs]).tolist()
    y_addr = w_addr + _align(w_offs[-1], DRAM_ALIGN)
    y_area = _align(rows_p * 4, DRAM_ALIGN)
    image = bytearray(y_addr + y_area - dram_base)
    for i, b in enumerate(x_blobs):
        o = x_addr - dram_base + x_offs[i]
        image[o:o + len(b)] = b
    for i, b in enumerate(w_blobs):
        o = w_addr - dram_base + w_offs[i]
        image[o:o + len(b)] = b

    cmds: list = []
    L, S = Opcode.LOAD, Opcode.STORE

    def load(t: int):
        _g, ci = tiles[t]
        buf = tmap.buf[t % 2]
        wdst = buf
        if not x_resident:
            xb = x_blobs[ci]
            cmds.append((L, {"tcm_addr": buf, "length": len(xb), "dram_addr": x_addr + x_offs[ci]}))
            wdst = buf + len(xb)
        cmds.append((L, {"tcm_addr": wdst, "length": len(w_blobs[t]),
                             "dram_addr": w_addr + w_offs[t]}))

    if x_resident:
        cmds.append((L, {"tcm_addr": tmap.x, "length": len(x_blobs[0]), "dram_addr": x_addr}))
    load(0)
    cmds.append((Opcode.SYNC, {"mask": {"dma": 1}}))
    for t, (g, ci) in enumerate(tiles):
        if t + 1 < len(tiles):
            load(t + 1)
        buf = tmap.buf[t % 2]
        b0, nbk = chunks[ci]
        if x_resident:
            xa, wa = tmap.x, buf
        else:
            xa, wa = buf, buf + len(x_blobs[ci])
        first, last = ci == 0, ci == len(chunks) - 1
        ybuf = tmap.y[g % 2]
        cmds.append((Opcode.GEMV, {
            "flags": {"sparse": int(sparse), "first": int(first), "last": int(last)},
            "w_addr": wa, "x_addr": xa, "y_addr": ybuf, "row_tiles": r, "k_blocks": nbk}))
        cmds.append((Opcode.SYNC, {"mask": {"dma": 1, "compute": 1}}))
        if last:
            nbytes = r * lanes * 4
            cmds.append((S, {"tcm_addr": ybuf, "length": _align(nbytes, wb),
                                 "dram_addr": y_addr + g * nbytes}))
    cmds.append((Opcode.END, {}))
    assert len(cmds) <= n_cmds
    blob = encode_list(cmds)
    image[cmd_addr - dram_base:cmd_addr - dram_base + len(blob)] = blob
    reads = sum(f["length"] for op, f in cmds if op == L) + len(blob)
    writes = sum(f["length"] for op, f in cmds if op == S)
    return Program(config=config, m=m, k=k, sparse=sparse, rows_padded=rows_p,
                   dram_base=dram_base, image=image, cmd_addr=cmd_addr, cmd_count=len(cmds),
                   x_addr=x_addr, w_addr=w_addr, y_addr=y_addr, commands=cmds, tcm=tmap,
                   tile_rows=r, k_chunk_blocks=kc, tiles=len(tiles),
                   dram_read_bytes=reads, dram_write_bytes=writes)


# ---- the command-list interpreter ------------------------------------------------------------


class _Fault(Exception):
    def __init__(self, code: ErrorCode, addr: int):
        super().__init__(code.name, addr)
        self.code, self.addr = code, addr


@dataclass
class ExecResult:
    """Outcome of :func:`execute`: the DRAM image after the run, the error (NONE if the
    list ran to END), the faulting address, the commands executed and the byte counts."""

    image: bytearray
    error: ErrorCode
    fault_addr: int
    executed: int
    dram_read_bytes: int
    dram_write_bytes: int


def execute(config: NpuConfig, image, dram_base: int, cmd_addr: int, cmd_count: int, *,
            check_hazards: bool = True) -> ExecResult:
    """Run a command list on a copy of a DRAM image, as the NPU does, in numpy.

    The DRAM window is ``[dram_base, dram_base + len(image))``. Commands run in list
    order; errors stop the run with the code and fault address the RTL reports (see
    :class:`hw.commands.ErrorCode`) and nothing further is written. With
    ``check_hazards`` every command also records the TCM bytes it reads and writes, and a
    DMA command that touches what a compute command of the same SYNC interval writes (or
    writes what it reads) raises AssertionError: the list relies on an order the hardware
    does not promise.
    """
    img = bytearray(image)
    tcm = bytearray(config.tcm_bytes)
    lanes, bs, bb = config.lanes, config.block_size, config.bus_bytes
    acc = np.zeros(lanes, dtype=np.float32)
    reads = writes = executed = 0
    window = (dram_base, dram_base + len(img))
    pending = {"dma": [], "compute": []}  # (lo, hi, is_write) TCM ranges since the last SYNC

    def note(unit, lo, hi, write):
        if not check_hazards:
            return
        other = pending["compute" if unit == "dma" else "dma"]
        for olo, ohi, ow in other:
            if lo < ohi and olo < hi and (write or ow):
                raise AssertionError(f"TCM hazard: {unit} [{lo:#x},{hi:#x}) overlaps "
                                     f"[{olo:#x},{ohi:#x}) of the other unit without a SYNC")
        pending[unit].append((lo, hi, write))

    def tcm_range(addr, n):
        if addr + n > len(tcm):
            raise _Fault(ErrorCode.TCM_RANGE, addr)

    def dram_range(addr, n):
        if addr < window[0] or addr + n > window[1]:
            raise _Fault(ErrorCode.DRAM_RANGE, addr)

    error, fault = ErrorCode.NONE, 0
    try:
        if cmd_count < 1:
            raise _Fault(ErrorCode.BAD_LENGTH, cmd_addr)
        dram_range(cmd_addr, cmd_count * COMMAND_BYTES)
        for i in range(cmd_count):
            a = cmd_addr + i * COMMAND_BYTES
            o = a - dram_base
            reads += COMMAND_BYTES
            op, f = decode(bytes(img[o:o + COMMAND_BYTES]))
            executed += 1
            if not isinstance(op, Opcode):
                raise _Fault(ErrorCode.UNKNOWN_OPCODE, a)
            if op in (Opcode.LOAD, Opcode.STORE):
                n, t, d = f["length"], f["tcm_addr"], f["dram_addr"]
                # Same order as the RTL (hw.Dma): length/alignment, TCM, DRAM window.
                if n == 0 or n >= 1 << 24 or n % bb or d % bb or t % bb:
                    raise _Fault(ErrorCode.BAD_LENGTH, a)
                tcm_range(t, n)
                dram_range(d, n)
                if op == Opcode.LOAD:
                    note("dma", t, t + n, True)
                    tcm[t:t + n] = img[d - dram_base:d - dram_base + n]
                    reads += n
                else:
                    note("dma", t, t + n, False)
                    img[d - dram_base:d - dram_base + n] = tcm[t:t + n]
                    writes += n
            elif op == Opcode.GEMV:
                acc = _gemv(config, tcm, f, acc, note, tcm_range, a)
            elif op == Opcode.LUT:
                _lut(config, tcm, f, note, tcm_range, a)
            elif op == Opcode.SYNC:
                if f["mask"]["dma"]:
                    pending["dma"].clear()
                if f["mask"]["compute"]:
                    pending["compute"].clear()
            elif op == Opcode.END:
                break
        else:
            raise _Fault(ErrorCode.BAD_LENGTH, cmd_addr)  # ran off the list without END
    except _Fault as fl:
        error, fault = fl.code, fl.addr
    del bs
    return ExecResult(img, error, fault, executed, reads, writes)


def _gemv(config, tcm, f, acc, note, tcm_range, cmd_at):
    lanes, bs = config.lanes, config.block_size
    flags = f["flags"]
    sparse = bool(flags["sparse"])
    rt, nbk = f["row_tiles"], f["k_blocks"]
    ln, wb = line_bytes(config), config.tcm_word_bits // 8
    if rt == 0 or nbk == 0 or f["w_addr"] % ln or f["x_addr"] % ln or f["y_addr"] % wb:
        raise _Fault(ErrorCode.BAD_LENGTH, cmd_at)
    if rt > 1 and not (flags["first"] and flags["last"]):
        raise _Fault(ErrorCode.BAD_GEMV, cmd_at)
    spb = steps_per_block(bs, sparse)
    steps = nbk * spb
    xc, xs = x_bytes(config, nbk)
    v, p, s = panel_bytes(config, nbk, sparse)
    xa, wa, ya = f["x_addr"], f["w_addr"], f["y_addr"]
    tcm_range(xa, xc + xs)
    tcm_range(wa, rt * (v + p + s))
    if flags["last"]:
        tcm_range(ya, rt * lanes * 4)
    note("compute", xa, xa + xc + xs, False)
    note("compute", wa, wa + rt * (v + p + s), False)
    xcodes = unpack_nibbles(np.frombuffer(bytes(tcm[xa:xa + nbk * bs // 2]), np.uint8))
    xsc = np.frombuffer(bytes(tcm[xa + xc:xa + xc + nbk]), np.uint8)
    xv = xcodes.reshape(steps, 4 if sparse else 2)
    from .formats import E2M1_PRODUCT_QUARTERS as PQ
    from .sparse import PATTERN_POSITIONS

    out = np.zeros((rt, lanes), dtype=np.float32)
    for r in range(rt):
        base = wa + r * (v + p + s)
        vb = np.frombuffer(bytes(tcm[base:base + steps * lanes]), np.uint8).reshape(steps, lanes)
        slot = np.stack([vb & 0xF, vb >> 4], axis=-1)          # (steps, lanes, 2)
        if sparse:
            pb = np.frombuffer(bytes(tcm[base + v:base + v + p]), np.uint8)
            pats = unpack_nibbles(pb)[:steps * lanes].reshape(steps, lanes)
            bad = np.flatnonzero(pats.reshape(-1) > 5)
            if bad.size:
                raise _Fault(ErrorCode.INVALID_PATTERN, base + v + int(bad[0]) // 2)
            pos = PATTERN_POSITIONS[pats].astype(np.intp)      # (steps, lanes, 2)
        else:
            pos = np.broadcast_to(np.array([0, 1], dtype=np.intp), (steps, lanes, 2))
        xsel = np.take_along_axis(xv[:, None, :], pos.reshape(steps, lanes, 2), axis=-1) \
            if sparse else np.broadcast_to(xv[:, None, :], (steps, lanes, 2))
        prod = PQ[slot.astype(np.intp), xsel.astype(np.intp)].astype(np.int64).sum(-1)
        psum = prod.reshape(nbk, spb, lanes).sum(1)            # (nbk, lanes) quarters
        sw = np.frombuffer(bytes(tcm[base + v + p:base + v + p + nbk * lanes]),
                           np.uint8).reshape(nbk, lanes)
        q = gemv_block_products(psum, sw, xsc[:, None], config.scale_format)
        a = np.zeros(lanes, dtype=np.float32) if flags["first"] else acc.copy()
        with np.errstate(over="ignore", invalid="ignore"):   # Inf and NaN are results here
            for b in range(nbk):
                a = (a + q[b]).astype(np.float32)
        out[r] = a
        acc = a
    if flags["last"]:
        n = rt * lanes * 4
        tcm_range(ya, n)
        note("compute", ya, ya + n, True)
        tcm[ya:ya + n] = _canonical_nan(out.reshape(-1)).astype("<f4").tobytes()
    return acc


def lut_chunk(config: NpuConfig) -> int:
    """LUT ``count`` granule: max(vlut_lanes, indices per TCM word) (hw.VLutEngine)."""
    return max(config.vlut_lanes, config.tcm_word_bits // 4)


def _lut(config, tcm, f, note, tcm_range, cmd_at):
    """dst[i] = table[src[i]]: 16 x 16-bit LE table, 4-bit indices (low nibble first)."""
    wb = config.tcm_word_bits // 8
    n, src, dst, tab = f["count"], f["src_addr"], f["dst_addr"], f["table_addr"]
    if n == 0 or n % lut_chunk(config) or src % wb or dst % wb or tab % wb:
        raise _Fault(ErrorCode.BAD_LENGTH, cmd_at)
    tcm_range(tab, 32)
    tcm_range(src, -(-n // 2))
    tcm_range(dst, 2 * n)
    note("compute", tab, tab + 32, False)
    note("compute", src, src + -(-n // 2), False)
    note("compute", dst, dst + 2 * n, True)
    table = np.frombuffer(bytes(tcm[tab:tab + 32]), dtype="<u2")
    idx = unpack_nibbles(np.frombuffer(bytes(tcm[src:src + -(-n // 2)]), np.uint8))[:n]
    tcm[dst:dst + 2 * n] = table[idx].astype("<u2").tobytes()


def compile_lut(table, indices, *, config: NpuConfig | None = None,
                dram_base: int = 0) -> Program:
    """A command list that maps ``indices`` (4-bit) through ``table`` (16 x uint16) on the
    vlut16 unit: LOAD table and indices, LUT, STORE the results, END. The results land at
    ``Program.y_addr`` (``2 * len(indices)`` bytes, little-endian uint16).

    Raises
    ------
    ValueError
        If the table is not 16 entries, an index is not 0..15, the count is not a positive
        multiple of :func:`lut_chunk`, or the operands do not fit the TCM.
    """
    config = config or NpuConfig()
    table = np.asarray(table)
    idx = np.asarray(indices)
    if table.shape != (16,) or table.min() < 0 or table.max() > 0xFFFF:
        raise ValueError("compile_lut: table must be 16 entries of 0..65535")
    n, q = idx.size, lut_chunk(config)
    if n == 0 or n % q:
        raise ValueError(f"compile_lut: the index count must be a positive multiple of {q}, "
                         f"not {n}")
    ln = line_bytes(config)
    src_b = pack_nibbles(idx.astype(np.uint8)).tobytes()
    tab_b = table.astype("<u2").tobytes()
    t_tab, t_src = 0, _align(32, ln)
    t_dst = t_src + _align(len(src_b), ln)
    if t_dst + _align(2 * n, ln) > config.tcm_bytes:
        raise ValueError(f"compile_lut: {n} indices do not fit the TCM")
    cmd_addr = dram_base
    n_cmds = 6
    in_addr = dram_base + _align(n_cmds * COMMAND_BYTES, DRAM_ALIGN)
    in_blob = tab_b + bytes(t_src - 32) + src_b
    in_blob += bytes(_align(len(in_blob), config.bus_bytes) - len(in_blob))
    out_addr = in_addr + _align(len(in_blob), DRAM_ALIGN)
    out_len = _align(2 * n, config.bus_bytes)
    image = bytearray(out_addr + _align(out_len, DRAM_ALIGN) - dram_base)
    image[in_addr - dram_base:in_addr - dram_base + len(in_blob)] = in_blob
    cmds = [
        (Opcode.LOAD, {"tcm_addr": t_tab, "length": len(in_blob), "dram_addr": in_addr}),
        (Opcode.SYNC, {"mask": {"dma": 1}}),
        (Opcode.LUT, {"src_addr": t_src, "dst_addr": t_dst, "table_addr": t_tab, "count": n}),
        (Opcode.SYNC, {"mask": {"compute": 1}}),
        (Opcode.STORE, {"tcm_addr": t_dst, "length": out_len, "dram_addr": out_addr}),
        (Opcode.END, {}),
    ]
    blob = encode_list(cmds)
    image[:len(blob)] = blob
    return Program(config=config, m=n, k=0, sparse=False, rows_padded=n, dram_base=dram_base,
                   image=image, cmd_addr=cmd_addr, cmd_count=len(cmds), x_addr=in_addr,
                   w_addr=in_addr, y_addr=out_addr, commands=cmds,
                   tcm=TcmMap(x=None, y=(t_dst, t_dst), buf=(0, 0), buf_bytes=0,
                              y_bytes=out_len),
                   tile_rows=0, k_chunk_blocks=0, tiles=1,
                   dram_read_bytes=len(in_blob) + len(blob), dram_write_bytes=out_len,
                   extra={"kind": "lut"})
