"""lutnpu hardware: Amaranth components generated from one :class:`NpuConfig`."""

from .config import NpuConfig
from .block_acc import BlockAccumulator
from .e2m1 import E2M1Multiplier
from .fp32_add import FP32Adder
from .sparse_mac import SparseMacPair
from .axi import Axi4Signature, AxiLiteSignature, Burst, Resp
from .tcm import Tcm
from .dma import Dma, DmaDir, DmaError
from .vlut16 import VLut16, VLutEngine, VLutError

__all__ = ["BlockAccumulator", "FP32Adder", "E2M1Multiplier", "SparseMacPair", "NpuConfig", "Axi4Signature", "AxiLiteSignature", "Burst", "Resp", "Tcm", "Dma", "DmaDir", "DmaError", "VLut16", "VLutEngine", "VLutError"]
from .commands import ErrorCode, Opcode
from .csr import Csr
from .gemv import GemvEngine

__all__ += ["Csr", "ErrorCode", "GemvEngine", "Opcode"]
from .top import NpuTop

__all__ += ["NpuTop"]
