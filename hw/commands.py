"""The NPU command set, defined once: opcodes, command words, error codes, encoder/decoder.

A command list is a sequence of 128-bit command words in DRAM, little-endian (bit 0 of a
word is bit 0 of its first byte). Every word starts with a 4-bit :class:`Opcode`. The RTL
decodes a word through :data:`Command` (an ``amaranth.lib.data`` union of the per-opcode
structs); the golden compiler encodes words through :func:`encode`, which walks the same
layouts, so no field offset is typed twice. ``python -m hw.docs`` writes docs/commands.md
from these definitions.

Execution model (what SYNC means): the command processor reads the list in order and hands
each command to its unit -- LOAD and STORE to the DMA unit, GEMV and LUT to the compute
unit. A command waits only until its own unit is free; the DMA unit and the compute unit run
at the same time, each in list order. SYNC waits until every unit named in its mask is idle
(its commands finished, including the last write into the TCM or DRAM). The compiler places
a SYNC wherever a command depends on a command of the other unit; that is how a LOAD of tile
t+1 overlaps the GEMV of tile t (double buffering). END waits for both units, then stops with
status.done and raises the interrupt.
"""



from amaranth.lib import data, enum

__all__ = [
    "COMMAND_BITS",
    "COMMAND_BYTES",
    "FIELD_DOCS",
    "OPCODE_LAYOUTS",
    "Command",
    "DmaCmd",
    "EndCmd",
    "ErrorCode",
    "GemvCmd",
    "GemvFlags",
    "LutCmd",
    "Opcode",
    "SyncCmd",
    "SyncMask",
    "decode",
    "decode_list",
    "encode",
    "encode_list",
]

#: Width of one command word.
COMMAND_BITS = 128
#: Bytes of one command word in DRAM.
COMMAND_BYTES = COMMAND_BITS // 8


class Opcode(enum.Enum, shape=4):
    """Command opcodes. Codes 0 and 7..15 are unknown: they stop the NPU with
    :attr:`ErrorCode.UNKNOWN_OPCODE` (0 so that a zeroed list never runs)."""

    LOAD = 1    #: DRAM -> TCM copy (DMA unit)
    STORE = 2   #: TCM -> DRAM copy (DMA unit)
    GEMV = 3    #: y = W x over TCM operands (compute unit)
    LUT = 4     #: vlut16 over a TCM vector of 4-bit indices (compute unit)
    SYNC = 5    #: wait until the units in the mask are idle
    END = 6     #: wait for all units, set status.done, raise the interrupt


class ErrorCode(enum.Enum, shape=4):
    """status.error codes. The first error stops the NPU; status.fault_addr names the
    address involved (see each code)."""

    NONE = 0             #: no error
    UNKNOWN_OPCODE = 1   #: opcode 0 or 7..15; fault_addr = DRAM address of the command
    INVALID_PATTERN = 2  #: 2:4 pattern code 6 or 7 in a GEMV; fault_addr = TCM byte address
    AXI_SLVERR = 3       #: SLVERR response on the AXI4 master; fault_addr = burst address
    AXI_DECERR = 4       #: DECERR response on the AXI4 master; fault_addr = burst address
    TCM_RANGE = 5        #: a TCM range past the end of the TCM; fault_addr = start address
    DRAM_RANGE = 6       #: a DRAM range outside the DRAM window; fault_addr = start address
    BAD_LENGTH = 7       #: zero or oversized length / count / command-list length
    BAD_GEMV = 8         #: GEMV with row_tiles > 1 that does not set both first and last


class SyncMask(data.Struct):
    """Units a SYNC waits for."""

    dma: 1
    compute: 1
    _reserved: 2


class GemvFlags(data.Struct):
    """GEMV option bits."""

    sparse: 1   # 1: 2:4 layout (4 activations per step); 0: dense (2 per step, pattern 0)
    first: 1    # 1: lane accumulators start at +0.0; 0: continue the previous GEMV's sums
    last: 1     # 1: write the lane accumulators to y; 0: keep them for the next GEMV
    _reserved: 1


class DmaCmd(data.Struct):
    """LOAD (DRAM -> TCM) and STORE (TCM -> DRAM): a 1-D copy of ``length`` bytes."""

    op: Opcode
    _flags: 4
    tcm_addr: 24
    length: 32
    dram_addr: 64


class GemvCmd(data.Struct):
    """GEMV over ``row_tiles`` x lanes rows and ``k_blocks`` x block_size columns."""

    op: Opcode
    flags: GemvFlags
    w_addr: 24
    x_addr: 24
    y_addr: 24
    row_tiles: 16
    k_blocks: 16
    _reserved: 16


class LutCmd(data.Struct):
    """LUT: dst[i] = table[src[i]] for ``count`` 4-bit indices (16-bit entries)."""

    op: Opcode
    _flags: 4
    src_addr: 24
    dst_addr: 24
    table_addr: 24
    count: 24
    _reserved: 24


class SyncCmd(data.Struct):
    """SYNC: wait until the units set in ``mask`` are idle."""

    op: Opcode
    mask: SyncMask
    _reserved: 120


class EndCmd(data.Struct):
    """END: wait for all units, then stop with status.done and raise the interrupt."""

    op: Opcode
    _reserved: 124


#: Layout of each opcode's command word.
OPCODE_LAYOUTS = {
    Opcode.LOAD: DmaCmd,
    Opcode.STORE: DmaCmd,
    Opcode.GEMV: GemvCmd,
    Opcode.LUT: LutCmd,
    Opcode.SYNC: SyncCmd,
    Opcode.END: EndCmd,
}

#: A command word as the RTL sees it: ``cmd.gemv.w_addr``, ``cmd.raw``, ...
Command = data.UnionLayout({
    "raw": COMMAND_BITS,
    "dma": DmaCmd,
    "gemv": GemvCmd,
    "lut": LutCmd,
    "sync": SyncCmd,
    "end": EndCmd,
})

#: Field descriptions for docs/commands.md, keyed by (layout name, field name).
FIELD_DOCS = {
    ("DmaCmd", "op"): "LOAD or STORE",
    ("DmaCmd", "tcm_addr"): "TCM byte address; multiple of the TCM word size",
    ("DmaCmd", "length"): "bytes to copy; 1.. and a multiple of the bus width in bytes; "
                          "tcm_addr + length <= TCM size",
    ("DmaCmd", "dram_addr"): "DRAM byte address; multiple of the bus width in bytes; the "
                             "whole range must lie inside the DRAM window",
    ("GemvCmd", "op"): "GEMV",
    ("GemvCmd", "flags"): "sparse, first, last (see GemvFlags)",
    ("GemvCmd", "w_addr"): "TCM byte address of the first weight panel (docs/architecture.md)",
    ("GemvCmd", "x_addr"): "TCM byte address of the activation codes; their scales follow",
    ("GemvCmd", "y_addr"): "TCM byte address of y: FP32, little-endian, one per row",
    ("GemvCmd", "row_tiles"): "row tiles of `lanes` rows each, 1..65535",
    ("GemvCmd", "k_blocks"): "scale blocks along K, 1..65535",
    ("LutCmd", "op"): "LUT",
    ("LutCmd", "src_addr"): "TCM byte address of the 4-bit indices (low nibble first)",
    ("LutCmd", "dst_addr"): "TCM byte address of the 16-bit results",
    ("LutCmd", "table_addr"): "TCM byte address of the 16 x 16-bit table",
    ("LutCmd", "count"): "indices to map, 1.., a multiple of the vlut16 lanes",
    ("SyncCmd", "op"): "SYNC",
    ("SyncCmd", "mask"): "units to wait for (see SyncMask)",
    ("EndCmd", "op"): "END",
    ("SyncMask", "dma"): "wait for the DMA unit (LOAD, STORE)",
    ("SyncMask", "compute"): "wait for the compute unit (GEMV, LUT)",
    ("GemvFlags", "sparse"): "1: 2:4 layout, 4 activations per step; 0: dense, 2 per step",
    ("GemvFlags", "first"): "1: lane accumulators start at +0.0; 0: continue the previous "
                            "GEMV's sums (row_tiles must be 1)",
    ("GemvFlags", "last"): "1: write the accumulators to y; 0: keep them (row_tiles must be 1)",
}


def _is_enum(layout) -> bool:
    return isinstance(layout, type) and issubclass(layout, enum.Enum)


def _shape_of(layout):
    if _is_enum(layout):
        return layout
    return layout.as_shape() if hasattr(layout, "as_shape") else layout


def _to_int(layout, value, path) -> int:
    """Pack ``value`` (int, enum member or dict of fields) into the bits of ``layout``."""
    shape = _shape_of(layout)
    if isinstance(shape, data.Layout):
        if isinstance(value, int) and not isinstance(value, enum.Enum):
            if not 0 <= value < 2 ** shape.size:
                raise ValueError(f"{path} = {value} does not fit in {shape.size} bits")
            return value
        if not isinstance(value, dict):
            raise TypeError(f"{path} must be a dict of fields, not {value!r}")
        names = {n for n, _ in shape}
        for name in value:
            if name not in names or name.startswith("_"):
                raise ValueError(f"{path} has no field {name!r}")
        bits = 0
        for name, field in shape:
            if name in value:
                bits |= _to_int(field.shape, value[name], f"{path}.{name}") << field.offset
        return bits
    if _is_enum(shape):
        return shape(value).value
    width = shape.width if hasattr(shape, "width") else int(shape)
    if isinstance(value, bool):
        value = int(value)
    if not isinstance(value, int) or not 0 <= value < 2 ** width:
        raise ValueError(f"{path} = {value!r} does not fit in {width} unsigned bits")
    return value


def _from_int(layout, bits):
    shape = _shape_of(layout)
    if isinstance(shape, data.Layout):
        return {name: _from_int(field.shape, (bits >> field.offset) & ((1 << field.width) - 1))
                for name, field in shape if not name.startswith("_")}
    if _is_enum(shape):
        return shape(bits)
    return bits


def _op_field():
    return DmaCmd.as_shape()["op"]


def encode(op: Opcode, **fields) -> bytes:
    """One command word as 16 little-endian bytes.

    Fields are given by name (nested structs as dicts, e.g. ``flags={"sparse": 1}``);
    fields left out are 0.

    Raises
    ------
    ValueError
        If a field does not exist or its value does not fit its width.
    """
    op = Opcode(op)
    bits = _to_int(OPCODE_LAYOUTS[op], {"op": op, **fields}, op.name)
    return bits.to_bytes(COMMAND_BYTES, "little")


def decode(word: bytes) -> tuple:
    """Decode one 16-byte command word: ``(opcode, fields)``; an unknown opcode comes back
    as its integer code with empty fields."""
    if len(word) != COMMAND_BYTES:
        raise ValueError(f"a command word is {COMMAND_BYTES} bytes, not {len(word)}")
    bits = int.from_bytes(word, "little")
    f = _op_field()
    code = (bits >> f.offset) & ((1 << f.width) - 1)
    try:
        op = Opcode(code)
    except ValueError:
        return code, {}
    fields = _from_int(OPCODE_LAYOUTS[op], bits)
    fields.pop("op")
    return op, fields


def encode_list(commands) -> bytes:
    """Concatenate ``(opcode, fields)`` pairs into a command list."""
    return b"".join(encode(op, **fields) for op, fields in commands)


def decode_list(blob: bytes) -> list:
    """Split a command list into decoded ``(opcode, fields)`` pairs."""
    if len(blob) % COMMAND_BYTES:
        raise ValueError(f"a command list is a multiple of {COMMAND_BYTES} bytes, "
                         f"not {len(blob)}")
    return [decode(blob[i:i + COMMAND_BYTES]) for i in range(0, len(blob), COMMAND_BYTES)]
