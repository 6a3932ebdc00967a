"""lutnpu hardware: Amaranth components generated from one :class:`NpuConfig`."""

from .axi import Axi4Signature, AxiLiteSignature, Burst, Resp
from .block_acc import BlockAccumulator
from .commands import ErrorCode, Opcode
from .config import NpuConfig
from .csr import Csr
from .dma import Dma, DmaDir, DmaError
from .e2m1 import E2M1Multiplier
from .fp32_add import FP32Adder
from .gemv import GemvEngine
from .sparse_mac import SparseMacPair
from .tcm import Tcm
from .top import NpuTop
from .vlut16 import VLut16, VLutEngine, VLutError

__all__ = [
    "Axi4Signature",
    "AxiLiteSignature",
    "BlockAccumulator",
    "Burst",
    "Csr",
    "Dma",
    "DmaDir",
    "DmaError",
    "E2M1Multiplier",
    "ErrorCode",
    "FP32Adder",
    "GemvEngine",
    "NpuConfig",
    "NpuTop",
    "Opcode",
    "Resp",
    "SparseMacPair",
    "Tcm",
    "VLut16",
    "VLutEngine",
    "VLutError",
]
