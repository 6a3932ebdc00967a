"""numpy golden model: number formats, quantizers, 2:4 sparsity and the bit-exact GEMV."""

from . import formats, quant, sparse
from .gemv import gemv_reference

__all__ = ["formats", "gemv_reference", "quant", "sparse"]
