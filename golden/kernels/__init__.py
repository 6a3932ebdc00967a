"""Golden LLM kernels (SPEC section 7): plain vectorised numpy at real sizes.

Modules: :mod:`.dequant` (W4A16 arithmetic / vlut16 / byte-LUT dequant), :mod:`.tman`
(T-MAN two-level LUT dequant, bit-serial layout), :mod:`.hmx` (HMX tile layout, tile-group
quantization, super-group coalescing), :mod:`.softmax` (LUT exp, safe softmax),
:mod:`.attention` (FP16 FlashAttention, FP32 accumulation, GQA), :mod:`.lutgemv` (T-MAC-style
LUT GEMV), :mod:`.energy` (Horowitz 45 nm energy and cycle model).
"""

from .attention import attention_reference, flash_attention
from .hmx import hmx_layout, hmx_unlayout, supergroup_pack, supergroup_unpack
from .softmax import EXP_LUT, softmax_exact, softmax_lut

__all__ = [
    "EXP_LUT",
    "attention_reference",
    "flash_attention",
    "hmx_layout",
    "hmx_unlayout",
    "softmax_exact",
    "softmax_lut",
    "supergroup_pack",
    "supergroup_unpack",
]
