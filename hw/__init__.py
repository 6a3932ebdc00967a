"""lutnpu hardware: Amaranth components generated from one :class:`NpuConfig`."""

from .config import NpuConfig
from .axi import Axi4Signature, AxiLiteSignature, Burst, Resp

__all__ = ["NpuConfig", "Axi4Signature", "AxiLiteSignature", "Burst", "Resp"]
