"""llama-cpp-python's OpenAI-compatible server, evaluating every request's prompt from scratch.

llama-cpp-python keeps the previous request in its KV cache and re-evaluates only what differs. The
logits it then computes can differ from a fresh evaluation in their last bits (other batch shapes take
other kernel paths), and that now and then flips a token whose two best candidates are almost tied: the
same seed and parameters would give a different text depending on what was asked just before. A lab
that teaches reproducibility needs the same request to give the same answer whatever came before, so
this launcher resets the context before each generation. The price is re-reading the prompt, a few
milliseconds for a small model. Arguments are the server's own (`python -m llama_cpp.server --help`).

The server also reads its settings from environment variables named like its options (PORT, HOST,
MODEL, ...), and those win over the command line; a learner's shell often has PORT or HOST set, so the
launcher drops them: the command line that `labutils.stack` writes is the whole configuration.
"""

from __future__ import annotations

import os

from llama_cpp import Llama
from llama_cpp.server.settings import ModelSettings, ServerSettings

_generate = Llama.generate


def _fresh_generate(self: Llama, tokens, *args, **kwargs):
    self.reset()  # n_tokens = 0: no prefix reuse; eval() then clears the KV cache from position 0
    return _generate(self, tokens, *args, **kwargs)


def main() -> None:
    shadowing = {name.lower() for cls in (ModelSettings, ServerSettings) for name in cls.model_fields}
    for key in [k for k in os.environ if k.lower() in shadowing]:
        del os.environ[key]
    Llama.generate = _fresh_generate
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
