"""The SmolLM2 tokenizer rebuilt from the GGUF vocabulary and merges (``tokenizers``).

GGUF ``tokenizer.ggml.model = gpt2`` is byte-level BPE; ``tokenizer.ggml.pre = smollm`` is
llama.cpp's StarCoder-style pre-tokenizer: every digit split on its own, then the GPT-2
byte-level regex. No BOS is added (``add_bos_token = False``).
"""

from __future__ import annotations


def build_tokenizer(tokens: list[str], merges: list[str]):
    """A ``tokenizers.Tokenizer`` from the vocabulary (id order) and "a b" merge strings."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {tok: i for i, tok in enumerate(tokens)}
    pairs = [tuple(m.split(" ", 1)) for m in merges]
    tk = Tokenizer(models.BPE(vocab=vocab, merges=pairs, fuse_unk=False))
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tk.decoder = decoders.ByteLevel()
    return tk


def tokenizer_from_gguf(path):
    """Read the vocabulary and merges of a GGUF file and build its tokenizer."""
    import gguf

    r = gguf.GGUFReader(str(path))
    tokens = list(r.fields["tokenizer.ggml.tokens"].contents())
    merges = list(r.fields["tokenizer.ggml.merges"].contents())
    return build_tokenizer(tokens, merges)
