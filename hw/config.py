"""The one validated configuration object every lutnpu block is generated from."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["NpuConfig"]


def _is_pow2(v: int) -> bool:
    return v > 0 and v & (v - 1) == 0


def _require(name: str, value, ok: bool, allowed: str) -> None:
    if not ok:
        raise ValueError(f"NpuConfig.{name} must be {allowed}, not {value!r}")


@dataclass(frozen=True, kw_only=True)
class NpuConfig:
    """Build parameters of a lutnpu instance, validated once at construction.

    Parameters
    ----------
    lanes : int
        GEMV lanes (output rows computed in parallel), each a 2:4 sparse MAC pair feeding a
        block accumulator. Power of two, 1..64.
    block_size : int
        Elements per scale block along K: 32 (MXFP4) or 16 (NVFP4).
    scale_format : str
        Block scale format: ``"e8m0"`` (MXFP4) or ``"e4m3"`` (NVFP4).
    tcm_banks : int
        Word-interleaved TCM banks. Power of two, 1..16.
    tcm_bank_words : int
        Words per TCM bank. Power of two, 16..65536.
    tcm_word_bits : int
        TCM word width in bits; equal to ``bus_data_bits``. 32, 64 or 128.
    bus_data_bits : int
        AXI4 master data width in bits: 32, 64 or 128.
    bus_addr_bits : int
        AXI4 address width in bits: 32 or 64.
    vlut_lanes : int
        Indices looked up per cycle by the vlut16 unit. Power of two, 1..64.
    dma_max_burst : int
        Longest AXI4 INCR burst in beats. Power of two, 1..256.
    dma_max_outstanding : int
        AXI4 read bursts in flight at once. 1..16.

    Raises
    ------
    ValueError
        If any parameter is outside its allowed values; the message names the parameter,
        the allowed values and the value given.
    """

    lanes: int = 8
    block_size: int = 32
    scale_format: str = "e8m0"
    tcm_banks: int = 4
    tcm_bank_words: int = 4096
    tcm_word_bits: int = 64
    bus_data_bits: int = 64
    bus_addr_bits: int = 32
    vlut_lanes: int = 8
    dma_max_burst: int = 256
    dma_max_outstanding: int = 4

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("int", int):
                _require(f.name, value, type(value) is int, "an int")
        _require("lanes", self.lanes, _is_pow2(self.lanes) and self.lanes <= 64,
                 "a power of two in 1..64")
        _require("block_size", self.block_size, self.block_size in (16, 32), "16 or 32")
        _require("scale_format", self.scale_format, self.scale_format in ("e8m0", "e4m3"),
                 "'e8m0' or 'e4m3'")
        _require("tcm_banks", self.tcm_banks, _is_pow2(self.tcm_banks) and self.tcm_banks <= 16,
                 "a power of two in 1..16")
        _require("tcm_bank_words", self.tcm_bank_words,
                 _is_pow2(self.tcm_bank_words) and 16 <= self.tcm_bank_words <= 65536,
                 "a power of two in 16..65536")
        _require("bus_data_bits", self.bus_data_bits, self.bus_data_bits in (32, 64, 128),
                 "32, 64 or 128")
        _require("tcm_word_bits", self.tcm_word_bits, self.tcm_word_bits == self.bus_data_bits,
                 f"equal to bus_data_bits ({self.bus_data_bits})")
        _require("bus_addr_bits", self.bus_addr_bits, self.bus_addr_bits in (32, 64), "32 or 64")
        _require("vlut_lanes", self.vlut_lanes,
                 _is_pow2(self.vlut_lanes) and self.vlut_lanes <= 64, "a power of two in 1..64")
        _require("dma_max_burst", self.dma_max_burst,
                 _is_pow2(self.dma_max_burst) and self.dma_max_burst <= 256,
                 "a power of two in 1..256")
        _require("dma_max_outstanding", self.dma_max_outstanding,
                 1 <= self.dma_max_outstanding <= 16, "in 1..16")

    @property
    def tcm_bytes(self) -> int:
        """Total TCM capacity in bytes."""
        return self.tcm_banks * self.tcm_bank_words * self.tcm_word_bits // 8

    @property
    def bus_bytes(self) -> int:
        """AXI4 data bytes per beat."""
        return self.bus_data_bits // 8
