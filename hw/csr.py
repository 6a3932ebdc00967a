"""AXI4-Lite CSR slave of the NPU, generated from a register map defined once as data.

:func:`register_map` returns the registers (name, offset, access, fields, description) for
an :class:`~hw.config.NpuConfig`; :class:`Csr` builds its RTL from that list and
``python -m hw.docs`` writes docs/registers.md from the same list.

Conventions (also in docs/registers.md):

* 32-bit registers, word addresses inside a 4 KiB window; address bits 1..0 are ignored.
* A read or write of an address that holds no register answers **SLVERR** (the slave
  decodes its own window; DECERR is left to the interconnect). Writes to read-only fields
  are ignored and answer OKAY.
* ``wstrb`` is honoured byte by byte for every writable field.
* 64-bit values are two registers, ``_LO`` at the lower address. Reading a counter's
  ``_LO`` snapshots its upper half, which the following ``_HI`` read returns, so a LO-then-HI
  read pair is consistent while the counter runs.
* Field access kinds: ``const`` (build parameter), ``ro`` (live hardware state), ``rw``
  (held here, drives the NPU), ``w1p`` (write 1 to pulse for one cycle, reads 0), ``w1c``
  (sticky, set by hardware, write 1 to clear), ``counter`` (64-bit, cleared by a start or a
  soft reset).
"""

from dataclasses import dataclass

from amaranth import Cat, Const, Module, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .axi import AxiLiteSignature, Resp
from .commands import ErrorCode
from .config import NpuConfig

__all__ = [
    "COUNTERS",
    "CSR_ADDR_BITS",
    "ID_MAGIC",
    "VERSION",
    "Csr",
    "Field",
    "Register",
    "register_map",
]

#: Address bits of the CSR window (4 KiB).
CSR_ADDR_BITS = 12
#: Register ID: ASCII "LNPU".
ID_MAGIC = 0x4C4E5055
#: Register VERSION: major << 16 | minor.
VERSION = 0x0001_0000

#: Performance counters: name -> (increment width in bits, description).
COUNTERS = {
    "cycles": (1, "cycles from start until done or error (status.busy)"),
    "busy": (1, "cycles in which the DMA or the compute unit had work"),
    "mac_active": (1, "cycles in which the GEMV lanes consumed a step (all lanes busy)"),
    "compute_busy": (1, ("cycles in which the compute unit had a GEMV (MAC utilisation = "
                        "mac_active / compute_busy)")),
    "stall_sync": (1, "cycles a SYNC or END waited for a unit"),
    "stall_operand": (1, "cycles the GEMV engine waited for TCM operands"),
    "stall_tcm": (1, "cycles a TCM port lost a bank to the other port"),
    "stall_axi": (1, "cycles the DMA waited on the AXI4 bus (address or data not ready)"),
    "stall_fetch": (1, "cycles the command processor waited for a command word"),
    "dram_rd_bytes": (8, "bytes read from DRAM (commands included)"),
    "dram_wr_bytes": (8, "bytes written to DRAM"),
}


@dataclass(frozen=True)
class Field:
    """One field of a register.

    Parameters
    ----------
    name : str
    lsb, width : int
        Bit position and width inside the 32-bit register.
    access : str
        ``const``, ``ro``, ``rw``, ``w1p``, ``w1c`` or ``counter``.
    desc : str
    port : str, optional
        The Csr port behind the field (``ro``: input; ``rw``/``w1p``: output; ``w1c``: the
        set input; ``counter``: the counter name).
    port_lsb : int
        Bit of ``port`` that the field's bit 0 is (64-bit values span two registers).
    value : int
        ``const``: the value; ``rw``: the value after reset.
    """

    name: str
    lsb: int
    width: int
    access: str
    desc: str
    port: str | None = None
    port_lsb: int = 0
    value: int = 0


@dataclass(frozen=True)
class Register:
    """A 32-bit register: name, byte offset, description and fields."""

    name: str
    offset: int
    desc: str
    fields: tuple

    @property
    def access(self) -> str:
        kinds = sorted({f.access for f in self.fields})
        return "/".join(kinds)


def _split64(name, offset, access, desc, port, value=0):
    return [
        Register(f"{name}_LO", offset, f"{desc} (bits 31..0)",
                 (Field("value", 0, 32, access, desc, port, 0, value & 0xFFFF_FFFF),)),
        Register(f"{name}_HI", offset + 4, f"{desc} (bits 63..32)",
                 (Field("value", 0, 32, access, desc, port, 32, value >> 32),)),
    ]


def register_map(config: NpuConfig) -> list[Register]:
    """The NPU's registers for ``config``, in address order."""
    c = config
    regs = [
        Register("ID", 0x00, "identification", (
            Field("magic", 0, 32, "const", 'ASCII "LNPU"', value=ID_MAGIC),)),
        Register("VERSION", 0x04, "register map version", (
            Field("minor", 0, 16, "const", "minor version", value=VERSION & 0xFFFF),
            Field("major", 16, 16, "const", "major version", value=VERSION >> 16))),
        Register("BUILD0", 0x08, "build parameters: GEMV", (
            Field("lanes", 0, 8, "const", "GEMV lanes", value=c.lanes),
            Field("block_size", 8, 8, "const", "elements per scale block", value=c.block_size),
            Field("scale_format", 16, 2, "const", "0: E8M0 (MXFP4), 1: E4M3 (NVFP4)",
                  value=0 if c.scale_format == "e8m0" else 1),
            Field("vlut_lanes", 24, 8, "const", "vlut16 indices per cycle",
                  value=c.vlut_lanes))),
        Register("BUILD1", 0x0C, "build parameters: memory", (
            Field("tcm_banks", 0, 8, "const", "TCM banks", value=c.tcm_banks),
            Field("tcm_bank_words_log2", 8, 8, "const", "log2 of words per TCM bank",
                  value=c.tcm_bank_words.bit_length() - 1),
            Field("bus_bytes", 16, 8, "const", "AXI4 data bytes per beat", value=c.bus_bytes),
            Field("addr_bits", 24, 8, "const", "AXI4 address bits", value=c.bus_addr_bits))),
        Register("CONTROL", 0x10, "control", (
            Field("start", 0, 1, "w1p", "run the command list at CMD_BASE (ignored while busy)",
                  "start"),
            Field("soft_reset", 1, 1, "w1p", "abort, clear status, counters and IRQ_STATUS",
                  "soft_reset"))),
        Register("STATUS", 0x14, "status", (
            Field("busy", 0, 1, "ro", "a command list is running", "busy"),
            Field("done", 1, 1, "ro", "the last run reached END", "done"),
            Field("error", 4, 4, "ro", "ErrorCode of the last run (0: none)", "error"))),
        *_split64("FAULT_ADDR", 0x18, "ro", "address involved in the error (see ErrorCode)",
                  "fault_addr"),
        *_split64("CMD_BASE", 0x20, "rw", "DRAM address of the command list", "cmd_base"),
        Register("CMD_COUNT", 0x28, "command list length", (
            Field("count", 0, 32, "rw", "number of 16-byte command words (1..)", "cmd_count"),
        )),
        *_split64("WIN_BASE", 0x30, "rw", "DRAM window base: every DRAM access must be inside",
                  "win_base"),
        *_split64("WIN_SIZE", 0x38, "rw", "DRAM window size in bytes", "win_size",
                  value=(1 << c.bus_addr_bits) - 1),
        Register("IRQ_ENABLE", 0x40, "interrupt enable", (
            Field("done", 0, 1, "rw", "interrupt on done", "irq_enable", 0),
            Field("error", 1, 1, "rw", "interrupt on error", "irq_enable", 1))),
        Register("IRQ_STATUS", 0x44, "interrupt status (irq = |(IRQ_STATUS & IRQ_ENABLE))", (
            Field("done", 0, 1, "w1c", "a run reached END", "irq_set", 0),
            Field("error", 1, 1, "w1c", "a run stopped with an error", "irq_set", 1))),
    ]
    off = 0x80
    for name, (_, desc) in COUNTERS.items():
        regs += _split64(f"CNT_{name.upper()}", off, "counter", desc, name)
        off += 8
    return regs


class Csr(wiring.Component):
    """AXI4-Lite CSR slave built from :func:`register_map`.

    Parameters
    ----------
    config : NpuConfig

    Members
    -------
    bus : In(AxiLiteSignature(addr_width=12, data_width=32))
        The host port.
    start, soft_reset : Out(1)
        One-cycle pulses from CONTROL writes, the cycle after the write (start only while
        not busy).
    cmd_base, win_base, win_size : Out(64); cmd_count : Out(32)
        Command list and DRAM window registers.
    irq : Out(1)
        ``|(IRQ_STATUS & IRQ_ENABLE)``.
    busy, done : In(1); error : In(ErrorCode); fault_addr : In(64)
        Status from the NPU.
    irq_set : In(2)
        Bit 0 done, bit 1 error: set the IRQ_STATUS bits (one-cycle events).
    count : In(StructLayout(counter -> increment width))
        Per-cycle increments of the performance counters (:data:`COUNTERS`).
    """

    def __init__(self, config: NpuConfig):
        self._config = config
        self._regs = register_map(config)
        super().__init__({
            "bus": In(AxiLiteSignature(addr_width=CSR_ADDR_BITS, data_width=32)),
            "start": Out(1), "soft_reset": Out(1),
            "cmd_base": Out(64), "cmd_count": Out(32), "win_base": Out(64),
            "win_size": Out(64), "irq": Out(1),
            "busy": In(1), "done": In(1), "error": In(ErrorCode), "fault_addr": In(64),
            "irq_set": In(2),
            "count": In(data.StructLayout({n: w for n, (w, _) in COUNTERS.items()})),
        })

    @property
    def config(self) -> NpuConfig:
        return self._config

    @property
    def registers(self) -> list[Register]:
        return list(self._regs)

    def elaborate(self, platform):
        m = Module()
        bus = self.bus
        rw_ports = {"cmd_base": 64, "cmd_count": 32, "win_base": 64, "win_size": 64,
                    "irq_enable": 2}
        store = {}
        for name, width in rw_ports.items():
            init = 0
            for r in self._regs:
                for f in r.fields:
                    if f.port == name and f.access == "rw":
                        init |= f.value << f.port_lsb
            store[name] = Signal(width, name=f"reg_{name}", init=init)
        for name in ("cmd_base", "cmd_count", "win_base", "win_size"):
            m.d.comb += getattr(self, name).eq(store[name])
        irq_status = Signal(2)
        m.d.comb += self.irq.eq((irq_status & store["irq_enable"]).any())

        # Counters (64-bit) with their HI snapshots; cleared by start or soft reset.
        counters = {n: Signal(64, name=f"cnt_{n}") for n in COUNTERS}
        snap = {n: Signal(32, name=f"cnt_{n}_hi") for n in COUNTERS}
        clear = Signal()
        m.d.comb += clear.eq(self.start | self.soft_reset)
        for n, sig in counters.items():
            with m.If(clear):
                m.d.sync += sig.eq(0)
            with m.Else():
                m.d.sync += sig.eq(sig + getattr(self.count, n))
        # The CONTROL pulses leave from registers, one cycle after the write (the cycle its
        # B response is offered): from the write's address decode through the counters'
        # clear (704 bits) they were the Csr's longest path.
        pulse_src = {"start": Signal(), "soft_reset": Signal()}
        pulse_q = {n: Signal(name=f"{n}_q") for n in pulse_src}
        m.d.sync += [pulse_q[n].eq(v) for n, v in pulse_src.items()]
        m.d.comb += [
            self.start.eq(pulse_q["start"] & ~self.busy),
            self.soft_reset.eq(pulse_q["soft_reset"]),
        ]
        ro_ports = {"busy": self.busy, "done": self.done, "error": self.error.as_value(),
                    "fault_addr": self.fault_addr}

        # ---- write channel: hold AW and W until both arrived, then answer on B --------
        aw_held, w_held = Signal(), Signal()
        aw_addr = Signal(CSR_ADDR_BITS - 2)
        w_data, w_strb = Signal(32), Signal(4)
        m.d.comb += [bus.awready.eq(~aw_held), bus.wready.eq(~w_held)]
        with m.If(bus.awvalid & bus.awready):
            m.d.sync += [aw_held.eq(1), aw_addr.eq(bus.awaddr[2:])]
        with m.If(bus.wvalid & bus.wready):
            m.d.sync += [w_held.eq(1), w_data.eq(bus.wdata), w_strb.eq(bus.wstrb)]
        with m.If(bus.bvalid & bus.bready):
            m.d.sync += bus.bvalid.eq(0)
        do_write = Signal()
        m.d.comb += do_write.eq(aw_held & w_held & ~bus.bvalid)
        mask = Cat(*(w_strb[i].replicate(8) for i in range(4)))
        wbits = Signal(32)
        m.d.comb += wbits.eq(w_data & mask)
        irq_clear = Signal(2)
        with m.If(do_write):
            m.d.sync += [aw_held.eq(0), w_held.eq(0), bus.bvalid.eq(1),
                         bus.bresp.eq(Resp.SLVERR)]
            with m.Switch(aw_addr):
                for r in self._regs:
                    with m.Case(r.offset >> 2):
                        m.d.sync += bus.bresp.eq(Resp.OKAY)
                        for f in r.fields:
                            fbits = wbits[f.lsb:f.lsb + f.width]
                            fmask = mask[f.lsb:f.lsb + f.width]
                            if f.access == "rw":
                                tgt = store[f.port][f.port_lsb:f.port_lsb + f.width]
                                m.d.sync += tgt.eq((tgt & ~fmask) | fbits)
                            elif f.access == "w1p":
                                m.d.comb += pulse_src[f.port].eq(fbits[0])
                            elif f.access == "w1c":
                                m.d.comb += irq_clear[f.port_lsb].eq(fbits[0])
        with m.If(self.soft_reset):
            m.d.sync += irq_status.eq(0)
        with m.Else():
            m.d.sync += irq_status.eq((irq_status & ~irq_clear) | self.irq_set)

        # ---- read channel ---------------------------------------------------------------
        m.d.comb += bus.arready.eq(~bus.rvalid)
        with m.If(bus.rvalid & bus.rready):
            m.d.sync += bus.rvalid.eq(0)
        with m.If(bus.arvalid & bus.arready):
            m.d.sync += [bus.rvalid.eq(1), bus.rdata.eq(0), bus.rresp.eq(Resp.SLVERR)]
            with m.Switch(bus.araddr[2:]):
                for r in self._regs:
                    with m.Case(r.offset >> 2):
                        m.d.sync += bus.rresp.eq(Resp.OKAY)
                        parts = []
                        for f in r.fields:
                            sl = slice(f.port_lsb, f.port_lsb + f.width)
                            if f.access == "const":
                                v = Const(f.value, f.width)
                            elif f.access == "ro":
                                v = ro_ports[f.port][sl]
                            elif f.access == "rw":
                                v = store[f.port][sl]
                            elif f.access == "w1c":
                                v = irq_status[f.port_lsb]
                            elif f.access == "counter":
                                if f.port_lsb == 0:
                                    v = counters[f.port][0:32]
                                    m.d.sync += snap[f.port].eq(counters[f.port][32:64])
                                else:
                                    v = snap[f.port]
                            else:  # w1p reads 0
                                v = Const(0, f.width)
                            parts.append((f.lsb, v))
                        word = Const(0, 32)
                        for lsb, v in parts:
                            word = word | (v.as_unsigned() << lsb)
                        m.d.sync += bus.rdata.eq(word)
        return m
