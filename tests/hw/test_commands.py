"""hw.commands: the command words, their encoder/decoder and the layouts the RTL decodes."""

import random

import pytest
from amaranth.lib import data

from hw.commands import (
    COMMAND_BITS,
    COMMAND_BYTES,
    OPCODE_LAYOUTS,
    Command,
    DmaCmd,
    ErrorCode,
    GemvCmd,
    Opcode,
    decode,
    decode_list,
    encode,
    encode_list,
)


def test_every_command_layout_is_exactly_one_word():
    for layout in set(OPCODE_LAYOUTS.values()):
        assert layout.as_shape().size == COMMAND_BITS, layout.__name__
    assert Command.size == COMMAND_BITS and COMMAND_BYTES == 16


def test_opcode_sits_in_bits_3_to_0_of_every_layout():
    for layout in OPCODE_LAYOUTS.values():
        f = layout.as_shape()["op"]
        assert (f.offset, f.width) == (0, 4)


def test_encoded_fields_land_at_the_layout_offsets():
    # Independent check: place each field by its offset through Amaranth's own Const.
    fields = {"tcm_addr": 0xABCDE8, "length": 0x12345678, "dram_addr": 0x0123_4567_89AB_CDE0}
    word = int.from_bytes(encode(Opcode.LOAD, **fields), "little")
    const = DmaCmd.as_shape().const({"op": Opcode.LOAD, **fields}).as_value().value
    assert word == const
    assert word & 0xF == Opcode.LOAD.value


def _random_fields(layout, rng):
    out = {}
    for name, f in layout.as_shape():
        if name.startswith("_") or name == "op":
            continue
        shape = f.shape
        if isinstance(shape, type) and issubclass(shape, data.Struct):
            out[name] = {n: rng.getrandbits(ff.width) for n, ff in shape.as_shape()
                         if not n.startswith("_")}
        else:
            out[name] = rng.getrandbits(f.width)
    return out


@pytest.mark.parametrize("op", list(Opcode))
def test_encode_decode_roundtrip_random_fields(op):
    rng = random.Random(op.value)
    for _ in range(50):
        fields = _random_fields(OPCODE_LAYOUTS[op], rng)
        dop, dfields = decode(encode(op, **fields))
        assert dop is op and dfields == fields


@pytest.mark.parametrize("code", [0, 7, 8, 15])
def test_unknown_opcodes_decode_as_their_integer(code):
    word = bytes([code | 0xF0]) + bytes(15)
    assert decode(word) == (code, {})
    assert code not in {o.value for o in Opcode}


def test_field_overflow_and_unknown_field_raise():
    with pytest.raises(ValueError, match="row_tiles"):
        encode(Opcode.GEMV, row_tiles=1 << 16)
    with pytest.raises(ValueError, match="no field 'length'"):
        encode(Opcode.GEMV, length=1)
    with pytest.raises(ValueError, match="dma"):
        encode(Opcode.SYNC, mask={"dma": 2})


def test_list_roundtrip_and_bad_length():
    cmds = [(Opcode.SYNC, {"mask": {"dma": 1, "compute": 0}}), (Opcode.END, {})]
    assert decode_list(encode_list(cmds)) == cmds
    with pytest.raises(ValueError, match="multiple of 16"):
        decode_list(bytes(17))


def test_error_codes_fit_four_bits_and_none_is_zero():
    assert ErrorCode.NONE.value == 0
    assert max(e.value for e in ErrorCode) < 16
    assert GemvCmd.as_shape()["flags"].width == 4


def test_generated_docs_are_up_to_date():
    from hw.docs import main

    assert main(["--check"]) == 0, "docs/commands.md or registers.md is stale: python -m hw.docs"
