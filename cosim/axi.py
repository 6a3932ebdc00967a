"""Reusable cocotb pieces for AXI ports emitted by Amaranth (see hw/axi.py for the names).

- :func:`axi_bus` / :func:`axil_bus`: bind cocotbext-axi to ``<prefix>__awaddr``-style ports.
- :data:`PAUSE_PATTERNS` and :func:`pause_generator`: back-pressure / idle-gap patterns.
- :func:`make_axi_ram`: an ``AxiRam`` on a DUT's AXI4 master port with a pause generator on
  every channel (AW, W, B, AR, R).
- :class:`ErrorInjector`: makes an ``AxiRam`` answer SLVERR or DECERR for chosen address
  ranges, on reads (per beat) and on writes (per burst).
- :class:`BurstLog`: records every AR/AW the RAM accepted and checks the AXI4 rules the DMA
  must keep (INCR, full-width beats, no 4 KiB crossing, at most ``max_burst`` beats).
"""

from __future__ import annotations

import itertools
import random
import warnings

from cocotbext.axi import AxiBus, AxiLiteBus, AxiRam
from cocotbext.axi.constants import AxiResp

# cocotbext-axi 0.1.28 (pinned) still uses cocotb 1.x APIs that cocotb 2.x deprecates
# (handle.setimmediatevalue, Edge(signal)); the runner turns DeprecationWarning into an error,
# so waive DeprecationWarning raised from that package's own modules, and nothing else.
warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"cocotbext\.axi\.")

__all__ = [
    "PAUSE_PATTERNS",
    "BurstLog",
    "ErrorInjector",
    "axi_bus",
    "axil_bus",
    "make_axi_ram",
    "pause_generator",
]


def axi_bus(dut, prefix: str = "axi") -> AxiBus:
    """cocotbext-axi AXI4 bus of an Amaranth ``Axi4Signature`` port named ``prefix``."""
    return AxiBus.from_prefix(dut, prefix, bus_separator="__")


def axil_bus(dut, prefix: str = "csr") -> AxiLiteBus:
    """cocotbext-axi AXI4-Lite bus of an Amaranth ``AxiLiteSignature`` port named ``prefix``."""
    return AxiLiteBus.from_prefix(dut, prefix, bus_separator="__")


#: Back-pressure patterns by name: ``none`` never pauses; ``random`` pauses a channel in each
#: cycle with probability 1/2; ``bursty`` alternates runs of 1..16 ready cycles with idle gaps
#: of 1..12 cycles; ``alternate`` pauses every other cycle.
PAUSE_PATTERNS = ("none", "random", "bursty", "alternate")


def pause_generator(pattern: str, seed: int = 0):
    """An endless iterator of bools (True = pause this cycle) for ``pattern``."""
    rng = random.Random(seed)
    if pattern == "none":
        return itertools.repeat(False)
    if pattern == "random":
        return (rng.random() < 0.5 for _ in itertools.count())
    if pattern == "alternate":
        return itertools.cycle([False, True])
    if pattern == "bursty":
        def gen():
            while True:
                yield from [False] * rng.randint(1, 16)
                yield from [True] * rng.randint(1, 12)
        return gen()
    raise ValueError(f"pause pattern must be one of {PAUSE_PATTERNS}, not {pattern!r}")


def make_axi_ram(dut, *, clock, reset=None, prefix: str = "axi", size: int = 1 << 16,
                 pattern: str = "none", seed: int = 0) -> AxiRam:
    """An ``AxiRam`` of ``size`` bytes on port ``prefix`` with ``pattern`` on every channel.

    Each channel gets its own seeded generator so that the channels stall independently.
    """
    ram = AxiRam(axi_bus(dut, prefix), clock, reset, size=size)
    channels = [ram.write_if.aw_channel, ram.write_if.w_channel, ram.write_if.b_channel,
                ram.read_if.ar_channel, ram.read_if.r_channel]
    for i, ch in enumerate(channels):
        if pattern != "none":
            ch.set_pause_generator(pause_generator(pattern, seed * 16 + i))
    return ram


class ErrorInjector:
    """Answer error responses from an ``AxiRam`` for chosen byte ranges.

    A read beat whose address lies in a faulting range returns ``resp`` (its data is zero);
    a write burst with any beat in a faulting range gets ``resp`` on B and its faulting beats
    are not written. Ranges are ``(first_byte, last_byte_inclusive, AxiResp)``.
    """

    def __init__(self, ram: AxiRam, *, read_faults=(), write_faults=()):
        self.read_faults = list(read_faults)
        self.write_faults = list(write_faults)
        self.injected: list[tuple[str, int, AxiResp]] = []
        rd, wr = ram.read_if, ram.write_if
        orig_read, orig_write = rd._read, wr._write
        orig_r_send, orig_b_send = rd.r_channel.send, wr.b_channel.send
        pending = {"r": None, "b": None}

        def lookup(faults, addr, length):
            for lo, hi, resp in faults:
                if addr <= hi and addr + length - 1 >= lo:
                    return resp
            return None

        async def read(address, length):
            resp = lookup(self.read_faults, address, length)
            if resp is not None:
                pending["r"] = resp
                self.injected.append(("r", address, resp))
                return bytes(length)
            return await orig_read(address, length)

        async def write(address, data):
            resp = lookup(self.write_faults, address, len(data))
            if resp is not None:
                if pending["b"] is None:
                    pending["b"] = resp
                self.injected.append(("w", address, resp))
                return
            await orig_write(address, data)

        async def r_send(r):
            if pending["r"] is not None:
                r.rresp = pending["r"]
                pending["r"] = None
            await orig_r_send(r)

        async def b_send(b):
            if pending["b"] is not None:
                b.bresp = pending["b"]
                pending["b"] = None
            await orig_b_send(b)

        rd._read, wr._write = read, write
        rd.r_channel.send, wr.b_channel.send = r_send, b_send


class BurstLog:
    """Every AR and AW burst the RAM accepted, as ``(addr, beats)``, checked against AXI4 rules.

    The check runs as each address is received; a violation is kept in ``violations`` (a
    failed assertion inside the RAM's coroutine would not reach the test).
    """

    def __init__(self, ram: AxiRam, *, bus_bytes: int, max_burst: int):
        self.reads: list[tuple[int, int]] = []
        self.writes: list[tuple[int, int]] = []
        self.violations: list[str] = []
        self.bus_bytes = bus_bytes
        self.max_burst = max_burst
        for ch, log, kind in ((ram.read_if.ar_channel, self.reads, "ar"),
                              (ram.write_if.aw_channel, self.writes, "aw")):
            self._wrap(ch, log, kind)

    def _wrap(self, ch, log, kind):
        orig_recv = ch.recv

        async def recv():
            t = await orig_recv()
            addr = int(getattr(t, f"{kind}addr"))
            beats = int(getattr(t, f"{kind}len")) + 1
            size = int(getattr(t, f"{kind}size"))
            burst = int(getattr(t, f"{kind}burst"))
            log.append((addr, beats))
            nbytes = beats * self.bus_bytes
            if burst != 1:
                self.violations.append(f"{kind} {addr:#x}: burst type {burst}, not INCR")
            if 1 << size != self.bus_bytes:
                self.violations.append(f"{kind} {addr:#x}: size {1 << size} B, not full width")
            if beats > self.max_burst:
                self.violations.append(f"{kind} {addr:#x}: {beats} beats > {self.max_burst}")
            if addr // 4096 != (addr + nbytes - 1) // 4096:
                self.violations.append(f"{kind} {addr:#x}+{nbytes}: crosses a 4 KiB boundary")
            return t

        ch.recv = recv

    def clear(self):
        self.reads.clear()
        self.writes.clear()

    @staticmethod
    def covered(bursts, bus_bytes):
        """Sorted byte-beat addresses covered by ``bursts`` (to compare with a transfer)."""
        return sorted(a + i * bus_bytes for a, n in bursts for i in range(n))
