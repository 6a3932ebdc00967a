"""vlut16: a programmable 16-entry x 16-bit table looked up by N 4-bit indices per cycle.

Uses (tables built by golden/kernels): INT4/E2M1/NF4 -> FP16 dequant with the group scale
(and zero point) baked into the table (``golden.kernels.dequant.lut16_tables``,
``golden.kernels.tman.level2_tables``); scale broadcast (all lanes index the same entry);
T-MAN's bit-serial -> bit-parallel repack (``golden.kernels.tman.LEVEL1``: the 4 bits of one
bit plane index a table that spreads them over 4 nibble positions; OR the lookups of the
planes).
"""

from __future__ import annotations

from amaranth import Array, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .config import NpuConfig

__all__ = ["VLut16", "vlut_write_layout"]

#: Payload of the table write port: entry ``index`` becomes ``value``.
vlut_write_layout = data.StructLayout({"index": 4, "value": 16})


class VLut16(wiring.Component):
    """N-lane 16-entry lookup unit, one vector per cycle, one register stage.

    The table is 16 registers (every lane reads every entry each cycle, which a RAM with one
    read port could not serve). A vector accepted on ``i`` in cycle t appears on ``o`` in
    cycle t + 1 (latency 1) and stays there until taken; ``i.ready`` is high whenever ``o`` is
    empty or being taken, so a vector per cycle flows without back-pressure.

    A table write and a lookup accepted in the same cycle: the lookup sees the old entry.

    Parameters
    ----------
    config : NpuConfig
        ``vlut_lanes`` (N) sets the lanes.
    init : sequence of int, optional
        Initial 16 table entries (default all zero).

    Members
    -------
    table_wr : In(stream.Signature(vlut_write_layout))
        Table writes (``index``, ``value``); always ready.
    i : In(stream.Signature(data.ArrayLayout(4, N)))
        Index vectors.
    o : Out(stream.Signature(data.ArrayLayout(16, N)))
        ``o.payload[k] = table[i.payload[k]]``.

    Raises
    ------
    ValueError
        If ``init`` does not hold 16 integers in 0..65535.
    """

    latency = 1

    def __init__(self, config: NpuConfig, *, init=None):
        if init is None:
            init = [0] * 16
        init = list(init)
        if len(init) != 16 or not all(type(v) is int and 0 <= v < 1 << 16 for v in init):
            self._MustUse__silence = True  # never elaborated: do not warn about it
            raise ValueError(f"init must be 16 integers in 0..65535, not {init!r}")
        self._config = config
        self._init = init
        n = config.vlut_lanes
        super().__init__({
            "table_wr": In(stream.Signature(vlut_write_layout)),
            "i": In(stream.Signature(data.ArrayLayout(4, n))),
            "o": Out(stream.Signature(data.ArrayLayout(16, n))),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def lanes(self) -> int:
        return self._config.vlut_lanes

    def elaborate(self, platform):
        m = Module()
        table = Array(Signal(16, name=f"entry{e}", init=self._init[e]) for e in range(16))
        m.d.comb += self.table_wr.ready.eq(1)
        with m.If(self.table_wr.valid):
            m.d.sync += table[self.table_wr.payload.index].eq(self.table_wr.payload.value)

        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += self.o.valid.eq(1)
            for k in range(self.lanes):
                m.d.sync += self.o.payload[k].eq(table[self.i.payload[k]])
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
