"""Energy and cycle model with the 45 nm numbers of Horowitz (ISSCC 2014, seeds/003).

The model prices *counts* (from the NPU's performance counters, or analytic counts of a
workload) with the per-operation energies below. Every term is one line of
:func:`gemv_energy` and is documented there and in docs/kernels.md. Energies are in pJ.

Per-operation energy, 45 nm, 0.9 V (SPEC section 7):

===================  =======  ================================================
term                 pJ       used for
===================  =======  ================================================
int8 add             0.03
int8 mult            0.2      one E2M1 x E2M1 product from the 16x16 table
int32 add            0.1      one add of the integer partial-sum tree
int32 mult           3.1
FP16 add / mult      0.4/1.1  W4A16 paths (dequant multiply, FP16 MAC)
FP32 add             0.9      one FP32 accumulation per block (section 4)
FP32 mult            3.7      one block-scale conversion per block
SRAM 8 KB, 64 bit    10       (not used by default)
SRAM 32 KB, 64 bit   20       one 64-bit TCM bank read/write (a 32 KiB bank)
SRAM 1 MB, 64 bit    100      (a cache-sized buffer; option)
DRAM, 64 bit         1300..2600   one 64-bit DRAM transfer (low/high bound)
===================  =======  ================================================

Pricing the E2M1 product as an int8 multiply and each partial-sum add as an int32 add are
upper bounds (a 4x4-bit table lookup and a 14-bit add cost less); the E8M0 scale product is
an exponent add (int8 add) and applying it to the block partial sum is priced as one FP32
multiply. Register and wire energy is not modelled: the result is a floor for the memory
terms and an upper bound for the arithmetic ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: pJ per operation or per 64-bit access (Horowitz 2014, 45 nm).
HOROWITZ_45NM_PJ: dict[str, float] = {
    "int8_add": 0.03,
    "int8_mult": 0.2,
    "int32_add": 0.1,
    "int32_mult": 3.1,
    "fp16_add": 0.4,
    "fp16_mult": 1.1,
    "fp32_add": 0.9,
    "fp32_mult": 3.7,
    "sram_8k_64b": 10.0,
    "sram_32k_64b": 20.0,
    "sram_1m_64b": 100.0,
    "dram_64b_low": 1300.0,
    "dram_64b_high": 2600.0,
}


@dataclass(frozen=True)
class EnergyEstimate:
    """An energy estimate broken into named terms.

    Members
    -------
    terms : dict[str, float]
        pJ per term (with the DRAM term at its mid value, 1.95 nJ per 64 bits).
    dram_range_pj : (float, float)
        The DRAM term at the low (1.3 nJ) and high (2.6 nJ) Horowitz bound.
    cycles : int
        Cycles of the workload (counter or analytic).
    """

    terms: dict[str, float] = field(default_factory=dict)
    dram_range_pj: tuple[float, float] = (0.0, 0.0)
    cycles: int = 0

    @property
    def total_pj(self) -> float:
        return float(sum(self.terms.values()))

    @property
    def total_range_pj(self) -> tuple[float, float]:
        rest = self.total_pj - self.terms.get("dram", 0.0)
        return rest + self.dram_range_pj[0], rest + self.dram_range_pj[1]

    def __add__(self, other: EnergyEstimate) -> EnergyEstimate:
        keys = set(self.terms) | set(other.terms)
        return EnergyEstimate(
            {k: self.terms.get(k, 0.0) + other.terms.get(k, 0.0) for k in sorted(keys)},
            (self.dram_range_pj[0] + other.dram_range_pj[0],
             self.dram_range_pj[1] + other.dram_range_pj[1]),
            self.cycles + other.cycles,
        )

    def scaled(self, n: float) -> EnergyEstimate:
        return EnergyEstimate({k: v * n for k, v in self.terms.items()},
                              (self.dram_range_pj[0] * n, self.dram_range_pj[1] * n),
                              int(self.cycles * n))


def _words(nbytes: float) -> float:
    return nbytes / 8.0  # 64-bit accesses


def gemv_energy(
    m: int,
    k: int,
    *,
    block: int = 32,
    sparse: bool = False,
    scale_bytes: int = 1,
    dram_bytes: float | None = None,
    lanes: int = 8,
    cycles: int | None = None,
    pj: dict[str, float] = HOROWITZ_45NM_PJ,
) -> EnergyEstimate:
    """Energy of one block-scaled FP4 GEMV y = W x (W is M x K) on the NPU datapath.

    Terms (counts -> pJ):

    * ``mult``: one E2M1 product per stored weight (M*K dense, M*K/2 with 2:4) x int8 mult.
    * ``add``: one partial-sum add per product x int32 add.
    * ``scale``: per (row, block) the E8M0 scale product (int8 add) and its application to
      the partial sum (FP32 mult).
    * ``accumulate``: per (row, block) one FP32 add.
    * ``tcm``: every weight byte (codes, 2:4 pattern bits and scales) and the activations,
      written once by the DMA and read once by compute, plus y written: 64-bit accesses to a
      32 KiB bank.
    * ``dram``: ``dram_bytes`` (default: the weight image + activations + y) in 64-bit
      transfers at 1.95 nJ (range 1.3-2.6 nJ in ``dram_range_pj``).

    ``cycles`` defaults to the compute-bound count: one stored weight per lane per cycle,
    ``ceil(stored / lanes)`` (``stored`` = M*K dense, M*K/2 with 2:4).
    """
    if k % block:
        raise ValueError(f"K = {k} is not a multiple of block = {block}")
    stored = m * k // 2 if sparse else m * k
    blocks = m * (k // block)
    w_bytes = stored / 2 + (m * (k // 4) * 3 / 8 if sparse else 0) + blocks * scale_bytes
    x_bytes = k / 2 + (k // block) * scale_bytes
    y_bytes = 4 * m
    if dram_bytes is None:
        dram_bytes = w_bytes + x_bytes + y_bytes
    tcm_words = 2 * _words(w_bytes + x_bytes) + _words(y_bytes)
    dram_words = _words(dram_bytes)
    terms = {
        "mult": stored * pj["int8_mult"],
        "add": stored * pj["int32_add"],
        "scale": blocks * (pj["int8_add"] + pj["fp32_mult"]),
        "accumulate": blocks * pj["fp32_add"],
        "tcm": tcm_words * pj["sram_32k_64b"],
        "dram": dram_words * (pj["dram_64b_low"] + pj["dram_64b_high"]) / 2,
    }
    if cycles is None:
        cycles = -(-stored // lanes)
    return EnergyEstimate(terms, (dram_words * pj["dram_64b_low"],
                                  dram_words * pj["dram_64b_high"]), int(cycles))


def from_counters(counters: dict, m: int, k: int, **kw) -> EnergyEstimate:
    """:func:`gemv_energy` fed by the NPU performance counters of one GEMV run.

    Uses the DRAM byte counters (``dram_rd_bytes + dram_wr_bytes``, the names of
    ``hw.csr.COUNTERS``; ``dram_bytes_read``/``dram_bytes_written`` are accepted too) for the
    DRAM term and ``cycles`` for the cycle count when the counters have them; the arithmetic
    terms follow from the shape, which the counters do not change.
    """
    dram = None
    for rd, wr in (("dram_rd_bytes", "dram_wr_bytes"), ("dram_bytes_read", "dram_bytes_written")):
        if rd in counters or wr in counters:
            dram = float(counters.get(rd, 0)) + float(counters.get(wr, 0))
            break
    return gemv_energy(m, k, dram_bytes=dram, cycles=counters.get("cycles"), **kw)


@dataclass(frozen=True)
class LlamaShape:
    """The linear-layer shapes of a Llama-style decoder (for per-token counts)."""

    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    vocab: int

    def linears(self) -> list[tuple[int, int]]:
        """(M, K) of every GEMV of one decode step, the output head included."""
        q = self.heads * self.head_dim
        kv = self.kv_heads * self.head_dim
        per_layer = [(q, self.hidden), (kv, self.hidden), (kv, self.hidden),
                     (self.hidden, q), (self.ffn, self.hidden), (self.ffn, self.hidden),
                     (self.hidden, self.ffn)]
        return per_layer * self.layers + [(self.vocab, self.hidden)]


#: SmolLM2-135M (the model of the real-model study; dims from its GGUF header).
SMOLLM2_135M = LlamaShape(hidden=576, ffn=1536, layers=30, heads=9, kv_heads=3, head_dim=64,
                          vocab=49152)


def token_energy(shape: LlamaShape, *, context: int = 1024, sparse: bool = False,
                 block: int = 32, lanes: int = 8,
                 weights_resident: bool = False) -> EnergyEstimate:
    """Energy of one decode token: every linear layer as a GEMV plus attention.

    Attention per layer and head: ``context * head_dim`` K and V values read from DRAM as
    FP16 (the KV cache), ``2 * context * head_dim`` FP16 MACs (FP16 mult + FP32 add, FP32
    accumulation) and ``context`` exps (a 64 KiB LUT read: priced as a 1 MB-class SRAM
    access, pessimistic) per query head. With ``weights_resident`` the weights stay in on-chip
    SRAM (the seeds/003 weight-stationary case) and only activations touch DRAM.
    """
    total = EnergyEstimate()
    for m, k in shape.linears():
        e = gemv_energy(m, k, block=block, sparse=sparse, lanes=lanes,
                        dram_bytes=(k / 2 + 4 * m) if weights_resident else None)
        total = total + e
    kv_bytes = 2 * shape.layers * shape.kv_heads * context * shape.head_dim * 2
    macs = 2 * shape.layers * shape.heads * context * shape.head_dim
    exps = shape.layers * shape.heads * context
    words = _words(kv_bytes)
    pj = HOROWITZ_45NM_PJ
    attn = EnergyEstimate(
        {
            "attn_mac": macs * (pj["fp16_mult"] + pj["fp32_add"]),
            "attn_exp": exps * pj["sram_1m_64b"] / 4,  # a 16-bit entry of a 64-bit read
            "dram": words * (pj["dram_64b_low"] + pj["dram_64b_high"]) / 2,
        },
        (words * pj["dram_64b_low"], words * pj["dram_64b_high"]),
        -(-macs // lanes),
    )
    return total + attn
