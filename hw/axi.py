"""AXI4 and AXI4-Lite interface signatures, response and burst codes.

Member names are the AXI signal names of the ARM specification, flat (``awaddr``,
``rvalid``, ...), so that a component port ``axi`` with one of these signatures appears in
the Verilog that Amaranth emits as ``axi__awaddr``, ``axi__rvalid``, ... (Amaranth joins
nested names with ``__``). cocotbext-axi binds them with::

    AxiBus.from_prefix(dut, "axi", bus_separator="__")        # AXI4
    AxiLiteBus.from_prefix(dut, "csr", bus_separator="__")    # AXI4-Lite

The signatures are written from the master's side (address, write data and ready of the
responses are outputs); a slave port uses ``In(Axi4Signature(...))`` or ``.flip()``.
"""

from __future__ import annotations

from amaranth.lib import enum, wiring
from amaranth.lib.wiring import In, Out

from .config import NpuConfig

__all__ = ["Axi4Signature", "AxiLiteSignature", "Burst", "Resp", "axi_size"]


class Resp(enum.Enum, shape=2):
    """AXI BRESP/RRESP codes."""

    OKAY = 0
    EXOKAY = 1
    SLVERR = 2
    DECERR = 3


class Burst(enum.Enum, shape=2):
    """AXI AxBURST codes."""

    FIXED = 0
    INCR = 1
    WRAP = 2


def axi_size(data_bits: int) -> int:
    """AxSIZE code of a full-width beat: log2 of the bytes per beat."""
    nbytes = data_bits // 8
    if nbytes < 1 or nbytes & (nbytes - 1) or data_bits % 8:
        raise ValueError(f"AXI data width must be a power-of-two number of bytes, not "
                         f"{data_bits} bits")
    return nbytes.bit_length() - 1


def _check_widths(addr_width, data_width, allowed_data):
    if type(addr_width) is not int or not 12 <= addr_width <= 64:
        raise ValueError(f"addr_width must be an int in 12..64, not {addr_width!r}")
    if data_width not in allowed_data:
        raise ValueError(f"data_width must be one of {allowed_data}, not {data_width!r}")


class Axi4Signature(wiring.Signature):
    """AXI4 master interface (five channels, INCR/FIXED/WRAP bursts, IDs).

    Parameters
    ----------
    addr_width : int
        AxADDR width in bits, 12..64.
    data_width : int
        xDATA width in bits: 32, 64, 128, 256, 512 or 1024.
    id_width : int
        AxID/xID width in bits, 1..16 (default 4).

    Members
    -------
    awid, awaddr, awlen, awsize, awburst, awvalid : Out
        Write address channel (``awready`` is In).
    wdata, wstrb, wlast, wvalid : Out
        Write data channel (``wready`` is In).
    bid, bresp, bvalid : In
        Write response channel (``bready`` is Out).
    arid, araddr, arlen, arsize, arburst, arvalid : Out
        Read address channel (``arready`` is In).
    rid, rdata, rresp, rlast, rvalid : In
        Read data channel (``rready`` is Out).

    Raises
    ------
    ValueError
        If a width is outside its allowed values.
    """

    def __init__(self, *, addr_width: int, data_width: int, id_width: int = 4):
        _check_widths(addr_width, data_width, (32, 64, 128, 256, 512, 1024))
        if type(id_width) is not int or not 1 <= id_width <= 16:
            raise ValueError(f"id_width must be an int in 1..16, not {id_width!r}")
        self._addr_width = addr_width
        self._data_width = data_width
        self._id_width = id_width
        super().__init__({
            "awid": Out(id_width), "awaddr": Out(addr_width), "awlen": Out(8),
            "awsize": Out(3), "awburst": Out(Burst), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wlast": Out(1),
            "wvalid": Out(1), "wready": In(1),
            "bid": In(id_width), "bresp": In(Resp), "bvalid": In(1), "bready": Out(1),
            "arid": Out(id_width), "araddr": Out(addr_width), "arlen": Out(8),
            "arsize": Out(3), "arburst": Out(Burst), "arvalid": Out(1), "arready": In(1),
            "rid": In(id_width), "rdata": In(data_width), "rresp": In(Resp), "rlast": In(1),
            "rvalid": In(1), "rready": Out(1),
        })

    @classmethod
    def from_config(cls, config: NpuConfig, *, id_width: int = 4) -> Axi4Signature:
        """The NPU's AXI4 master: ``bus_addr_bits`` address, ``bus_data_bits`` data."""
        return cls(addr_width=config.bus_addr_bits, data_width=config.bus_data_bits,
                   id_width=id_width)

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    @property
    def id_width(self) -> int:
        return self._id_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width and
                other.data_width == self.data_width and other.id_width == self.id_width)

    def __hash__(self):
        return hash((type(self), self._addr_width, self._data_width, self._id_width))

    def __repr__(self):
        return (f"Axi4Signature(addr_width={self._addr_width}, data_width={self._data_width}, "
                f"id_width={self._id_width})")


class AxiLiteSignature(wiring.Signature):
    """AXI4-Lite master interface (no bursts, no IDs).

    Parameters
    ----------
    addr_width : int
        AxADDR width in bits, 12..64.
    data_width : int
        xDATA width in bits: 32 or 64 (default 32).

    Members
    -------
    awaddr, awprot, awvalid : Out; awready : In
    wdata, wstrb, wvalid : Out; wready : In
    bresp, bvalid : In; bready : Out
    araddr, arprot, arvalid : Out; arready : In
    rdata, rresp, rvalid : In; rready : Out

    Raises
    ------
    ValueError
        If a width is outside its allowed values.
    """

    def __init__(self, *, addr_width: int, data_width: int = 32):
        _check_widths(addr_width, data_width, (32, 64))
        self._addr_width = addr_width
        self._data_width = data_width
        super().__init__({
            "awaddr": Out(addr_width), "awprot": Out(3), "awvalid": Out(1), "awready": In(1),
            "wdata": Out(data_width), "wstrb": Out(data_width // 8), "wvalid": Out(1),
            "wready": In(1),
            "bresp": In(Resp), "bvalid": In(1), "bready": Out(1),
            "araddr": Out(addr_width), "arprot": Out(3), "arvalid": Out(1), "arready": In(1),
            "rdata": In(data_width), "rresp": In(Resp), "rvalid": In(1), "rready": Out(1),
        })

    @property
    def addr_width(self) -> int:
        return self._addr_width

    @property
    def data_width(self) -> int:
        return self._data_width

    def __eq__(self, other):
        return (type(other) is type(self) and other.addr_width == self.addr_width and
                other.data_width == self.data_width)

    def __hash__(self):
        return hash((type(self), self._addr_width, self._data_width))

    def __repr__(self):
        return f"AxiLiteSignature(addr_width={self._addr_width}, data_width={self._data_width})"
