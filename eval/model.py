"""A numpy Llama forward pass (RMSNorm, RoPE, grouped-query attention, SwiGLU).

Weights follow the GGUF conventions of llama.cpp: a linear weight is (out, in) and
``y = x @ W.T``; Q and K were permuted by the converter for the *adjacent-pair* RoPE
(llama.cpp "normal" mode: dims (2i, 2i+1) rotate together by ``pos * base^(-2i/d)``).
The output head is tied to the token embedding when the file has no ``output.weight``.
Attention is :func:`golden.kernels.flash_attention` (FP16 q, k, v; FP32 accumulation;
``exp="exact"`` or ``"lut"``). Everything else is float32.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from golden.kernels import flash_attention

LINEARS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")


@dataclass(frozen=True)
class LlamaConfig:
    """Model dimensions (GGUF ``llama.*`` keys)."""

    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    rope_base: float = 10000.0
    eps: float = 1e-5

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


@dataclass
class LlamaWeights:
    """float32 weights by GGUF tensor name (``blk.N.attn_q.weight``, ...)."""

    config: LlamaConfig
    tensors: dict[str, np.ndarray] = field(default_factory=dict)

    def linear_names(self) -> list[str]:
        return [f"blk.{i}.{n}.weight" for i in range(self.config.layers) for n in LINEARS]

    def replace(self, new: dict[str, np.ndarray]) -> LlamaWeights:
        t = dict(self.tensors)
        t.update(new)
        return LlamaWeights(self.config, t)

    @property
    def output(self) -> np.ndarray:
        return self.tensors.get("output.weight", self.tensors["token_embd.weight"])


def random_weights(config: LlamaConfig, seed: int = 0) -> LlamaWeights:
    """A random model of ``config`` (for tests)."""
    rng = np.random.default_rng(seed)
    c = config
    kv = c.kv_heads * c.head_dim
    shapes = {"attn_q": (c.hidden, c.hidden), "attn_k": (kv, c.hidden),
              "attn_v": (kv, c.hidden), "attn_output": (c.hidden, c.hidden),
              "ffn_gate": (c.ffn, c.hidden), "ffn_up": (c.ffn, c.hidden),
              "ffn_down": (c.hidden, c.ffn)}
    t = {"token_embd.weight": rng.standard_normal((c.vocab, c.hidden)).astype(np.float32),
         "output_norm.weight": np.ones(c.hidden, np.float32)}
    for i in range(c.layers):
        for n, s in shapes.items():
            t[f"blk.{i}.{n}.weight"] = (rng.standard_normal(s) / np.sqrt(s[1])).astype(np.float32)
        t[f"blk.{i}.attn_norm.weight"] = (1 + 0.1 * rng.standard_normal(c.hidden)).astype(
            np.float32)
        t[f"blk.{i}.ffn_norm.weight"] = (1 + 0.1 * rng.standard_normal(c.hidden)).astype(
            np.float32)
    return LlamaWeights(config, t)


def rms_norm(x: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    """``x / sqrt(mean(x^2) + eps) * w`` along the last axis (float32)."""
    ms = np.mean(np.square(x, dtype=np.float32), axis=-1, keepdims=True)
    return (x / np.sqrt(ms + np.float32(eps))) * w


def rope(x: np.ndarray, positions: np.ndarray, base: float) -> np.ndarray:
    """Adjacent-pair rotary embedding of x (T, H, D) at ``positions`` (T,)."""
    d = x.shape[-1]
    inv = base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
    ang = positions[:, None].astype(np.float64) * inv[None, :]  # (T, D/2)
    cos = np.cos(ang).astype(np.float32)[:, None, :]
    sin = np.sin(ang).astype(np.float32)[:, None, :]
    x0, x1 = x[..., 0::2], x[..., 1::2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x0 * sin + x1 * cos
    return out


def silu(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.exp(-x))


def forward(weights: LlamaWeights, tokens, *, exp: str = "exact") -> np.ndarray:
    """Logits float32 (T, vocab) of a causal forward pass over ``tokens`` (T,)."""
    c = weights.config
    t = weights.tensors
    tokens = np.asarray(tokens)
    n = tokens.shape[0]
    pos = np.arange(n)
    hd = c.head_dim
    x = t["token_embd.weight"][tokens].astype(np.float32)
    for i in range(c.layers):
        p = f"blk.{i}."
        h = rms_norm(x, t[p + "attn_norm.weight"], c.eps)
        q = rope((h @ t[p + "attn_q.weight"].T).reshape(n, c.heads, hd), pos, c.rope_base)
        k = rope((h @ t[p + "attn_k.weight"].T).reshape(n, c.kv_heads, hd), pos, c.rope_base)
        v = (h @ t[p + "attn_v.weight"].T).reshape(n, c.kv_heads, hd)
        a = flash_attention(q.transpose(1, 0, 2), k.transpose(1, 0, 2), v.transpose(1, 0, 2),
                            causal=True, exp=exp)
        x = x + a.transpose(1, 0, 2).reshape(n, c.hidden) @ t[p + "attn_output.weight"].T
        h = rms_norm(x, t[p + "ffn_norm.weight"], c.eps)
        g = silu(h @ t[p + "ffn_gate.weight"].T) * (h @ t[p + "ffn_up.weight"].T)
        x = x + g @ t[p + "ffn_down.weight"].T
    x = rms_norm(x, t["output_norm.weight"], c.eps)
    return x @ weights.output.T


def layer_input(weights: LlamaWeights, tokens, layer: int, name: str) -> np.ndarray:
    """The activations (T, K) that feed linear ``name`` of ``layer`` (for the GEMV demo)."""
    c = weights.config
    t = weights.tensors
    x = t["token_embd.weight"][np.asarray(tokens)].astype(np.float32)
    if layer != 0 or name not in ("attn_q", "attn_k", "attn_v", "ffn_gate", "ffn_up"):
        raise ValueError("layer_input supports the inputs of layer 0's q/k/v/gate/up only")
    h = rms_norm(x, t["blk.0.attn_norm.weight"], c.eps)
    if name.startswith("attn"):
        return h
    n = h.shape[0]
    hd = c.head_dim
    pos = np.arange(n)
    q = rope((h @ t["blk.0.attn_q.weight"].T).reshape(n, c.heads, hd), pos, c.rope_base)
    k = rope((h @ t["blk.0.attn_k.weight"].T).reshape(n, c.kv_heads, hd), pos, c.rope_base)
    v = (h @ t["blk.0.attn_v.weight"].T).reshape(n, c.kv_heads, hd)
    a = flash_attention(q.transpose(1, 0, 2), k.transpose(1, 0, 2), v.transpose(1, 0, 2))
    x = x + a.transpose(1, 0, 2).reshape(n, c.hidden) @ t["blk.0.attn_output.weight"].T
    return rms_norm(x, t["blk.0.ffn_norm.weight"], c.eps)


def nll(logits: np.ndarray, targets) -> np.ndarray:
    """Negative log-likelihood (float64) of each target under float32 ``logits`` rows."""
    z = logits.astype(np.float64)
    z -= z.max(axis=-1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=-1))
    return lse - z[np.arange(len(targets)), np.asarray(targets)]


def perplexity(weights: LlamaWeights, tokens, *, window: int, n_windows: int,
               exp: str = "exact") -> tuple[float, int]:
    """exp(mean NLL) over ``n_windows`` non-overlapping windows of ``window`` tokens.

    Each window predicts its tokens 1..window-1 from the ones before (window - 1
    predictions per window). Returns (perplexity, number of predicted tokens).
    """
    tokens = np.asarray(tokens)
    if tokens.shape[0] < window * n_windows:
        raise ValueError(f"need {window * n_windows} tokens, have {tokens.shape[0]}")
    total, count = 0.0, 0
    for w in range(n_windows):
        seq = tokens[w * window:(w + 1) * window]
        logits = forward(weights, seq[:-1], exp=exp)
        total += float(nll(logits, seq[1:]).sum())
        count += window - 1
    return float(np.exp(total / count)), count


def load_gguf(path) -> LlamaWeights:
    """Read a llama GGUF file (needs the ``gguf`` package): every tensor dequantised to
    float32 (this is the baseline of the study), plus its :class:`LlamaConfig`."""
    import gguf  # eval extra

    r = gguf.GGUFReader(str(path))

    def val(key):
        return r.fields[key].contents()

    arch = val("general.architecture")
    if arch != "llama":
        raise ValueError(f"expected a llama GGUF, not {arch!r}")
    cfg = LlamaConfig(
        hidden=int(val("llama.embedding_length")),
        ffn=int(val("llama.feed_forward_length")),
        layers=int(val("llama.block_count")),
        heads=int(val("llama.attention.head_count")),
        kv_heads=int(val("llama.attention.head_count_kv")),
        vocab=len(r.fields["tokenizer.ggml.tokens"].data),
        rope_base=float(val("llama.rope.freq_base")),
        eps=float(val("llama.attention.layer_norm_rms_epsilon")),
    )
    tensors = {}
    for t in r.tensors:
        a = gguf.quants.dequantize(t.data, t.tensor_type)
        tensors[t.name] = np.ascontiguousarray(a, dtype=np.float32)
    return LlamaWeights(cfg, tensors)


def gguf_tensor_types(path) -> dict[str, str]:
    """GGUF quantisation type name of every tensor (e.g. ``Q4_1``)."""
    import gguf

    return {t.name: t.tensor_type.name for t in gguf.GGUFReader(str(path)).tensors}
