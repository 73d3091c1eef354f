"""The llama.cpp backend: the merged adapter as a GGUF file, decoded by llama.cpp.

Same interface and answers as the transformers backend (the same shared greedy loop,
line streaming, grammar and end-of-turn ids: robot_sft.inference.decoding), with a
faster engine underneath: Q8_0 weights (~4x fewer bytes to read per token than torch
fp32) and one C call per token instead of a Python loop over 30 layers.

- The prompt is built and tokenised by the adapter's own HF tokenizer (robot_sft.prompting),
  and llama.cpp is fed token ids, so prompts are token-identical to the transformers path;
  answers are decoded with the same tokenizer.
- The prompt head (system turn + the user turn's opening) is evaluated once at load; each
  command only runs its own tokens (the KV cache beyond the head is dropped and rewritten).
- The GGUF comes from `robot_sft.inference.gguf_export.ensure_gguf` (exported once, then
  cached and verified).

Install: `pip install llama-cpp-python==0.3.36` (builds llama.cpp from source: ~10 min on
2 cores; scripts/install.sh does it). Not thread-safe: the node runs one generation at a time.
"""
from __future__ import annotations

import weakref
from pathlib import Path
from types import SimpleNamespace

from robot_sft.inference.base import usable_cores
from robot_sft.inference.decoding import DecodingModel, GreedyDecoder, load_adapter_tokenizer
from robot_sft.models import ModelLoadError
from robot_sft.prompting import end_of_turn_ids

INSTALL_HINT = ("model_backend llama_cpp needs llama-cpp-python: pip install "
                "'llama-cpp-python==0.3.36' (or scripts/install.sh), or use "
                "model_backend:=transformers")
DEFAULT_N_CTX = 2048
# The node's `quantize` parameter for this backend -> the GGUF quantisation.
QUANTIZE = {"auto": "q8_0", "q8_0": "q8_0", "q4_0": "q4_0", "f16": "f16", "none": "f32"}


def llama_cpp_available() -> bool:
    """llama_cpp imports (installed, and its shared library loads: ~0.1 s, once)."""
    try:
        import_llama_cpp()
    except ImportError:
        return False
    return True


def import_llama_cpp():
    try:
        import llama_cpp
    except (ImportError, OSError) as exc:  # also a build whose shared library does not load
        raise ImportError(f"{INSTALL_HINT} ({exc})") from exc
    return llama_cpp


def gguf_quant(quantize: str) -> str:
    try:
        return QUANTIZE[quantize]
    except KeyError:
        raise ValueError(f"quantize {quantize!r} is not available with model_backend "
                         f"llama_cpp: use auto (q8_0), q8_0, q4_0, f16 or none (f32)") from None


BATCH_FROM = 3  # forced tokens run in one pass from this many (see LlamaCppDecoder.feed_many)


class LlamaCppDecoder(GreedyDecoder):
    """The greedy loop on a llama_cpp.Llama. Its one context holds the prompt head's KV at
    positions [0, len(head)) between commands, unless a prompt that missed the head
    overwrote them (then the next prompt that matches evaluates the head again)."""

    def __init__(self, llm, tokenizer, system_prompt: str, stop_ids):
        self.llm = llm
        self.n_vocab = llm.n_vocab()
        self.max_context = llm.n_ctx()
        self._logits_ith = import_llama_cpp().llama_get_logits_ith
        self.head_in_context = False
        super().__init__(tokenizer, system_prompt, stop_ids)

    def logits(self):
        """The last evaluated token's logits (a view valid until the next eval)."""
        import numpy as np

        return np.ctypeslib.as_array(self._logits_ith(self.llm.ctx, -1), shape=(self.n_vocab,))

    def prefill_head(self) -> None:
        self.llm.n_tokens = 0  # eval() drops the KV from n_tokens on, then appends
        self.llm.eval(self.head_ids)
        self.head_in_context = True

    def start(self, ids: list[int], reuse_head: bool):
        if reuse_head and not self.head_in_context:
            self.prefill_head()
        self.head_in_context = reuse_head
        self.llm.n_tokens = len(self.head_ids) if reuse_head else 0  # drop the rest's KV
        self.llm.eval(ids)
        return self.logits()

    def feed(self, token: int):
        self.llm.eval([token])
        return self.logits()

    def feed_many(self, tokens: list[int]):
        """Tokens the grammar forced, run with the token chosen before them. llama.cpp
        computes the vocabulary projection (a third of a token's time here) only for a
        batch's last token, but a batch of two or more pays a fixed ~15 ms more on one CPU
        thread (measured: 1 token 11 ms, 2: 27, 3: 29, 5: 35, 8: 40): one pass from
        BATCH_FROM tokens, one by one below."""
        if len(tokens) < BATCH_FROM:
            return super().feed_many(tokens)
        self.llm.eval(tokens)
        return self.logits()


class LlamaCppModel(DecodingModel):
    """A CommandModel on llama.cpp: `respond` / `stream_lines` as the transformers backend's."""

    def __init__(self, gguf_path, tokenizer, system_prompt: str, max_new_tokens: int = 128,
                 n_threads: int = 0, n_ctx: int = DEFAULT_N_CTX, flash_attn: bool = True):
        llama_cpp = import_llama_cpp()
        self.gguf_path = Path(gguf_path)
        # n_threads 0: half the usable CPUs, for tokens and for prompts alike. llama-cpp-
        # python's own default takes every CPU for a prompt: on a robot's computer with a
        # core busy elsewhere its threads then wait for each other and for that core
        # (per-thread schedstat under benchmarks/controller_latency.py: the second thread
        # runnable-waiting 400 of 760 ms); one thread for both: first-Twist medians 184,
        # 140, 149 ms against 195, 166, 148 ms, interleaved runs on 2 cores.
        # flash_attn: ~10 % less time per token on the CPU (measured).
        threads = n_threads or max(1, usable_cores() // 2)
        try:
            self.llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=n_ctx,
                                       n_threads=threads, n_threads_batch=threads,
                                       flash_attn=flash_attn, logits_all=False, verbose=False)
        except (ValueError, RuntimeError, OSError) as exc:  # llama.cpp: "Failed to load model"
            raise ModelLoadError(
                f"llama.cpp cannot load {self.gguf_path} ({exc}): when it is a cached export, "
                f"delete it ({self.gguf_path}) and start again to export it anew") from exc
        if len(tokenizer) > self.llm.n_vocab():
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, {self.gguf_path.name} "
                             f"only {self.llm.n_vocab()}")
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        stop_ids = end_of_turn_ids(tokenizer)
        # The generation settings callers read (transformers' GenerationConfig names).
        self.generation_config = SimpleNamespace(max_new_tokens=max_new_tokens,
                                                 eos_token_id=stop_ids)
        self.decoder = LlamaCppDecoder(self.llm, tokenizer, system_prompt, stop_ids)
        # Free llama.cpp's memory before interpreter shutdown: Llama.__del__ at exit fails
        # on half torn-down modules.
        self._finalizer = weakref.finalize(self, self.llm.close)

    @property
    def description(self) -> str:
        return (f"llama.cpp ({self.gguf_path.name}, {self.llm.n_threads} thread(s) per token, "
                f"{self.llm.n_threads_batch} per prompt)")

    @property
    def vocab_size(self) -> int:
        return self.llm.n_vocab()

    @classmethod
    def _load(cls, adapter_dir, base_model: str, system_prompt: str, max_new_tokens: int,
              quantize: str = "auto", n_threads: int = 0, n_ctx: int = DEFAULT_N_CTX,
              log=None, warn=None, gguf_dir=None) -> "LlamaCppModel":
        """Base + adapter merged and exported to GGUF (cached), loaded into llama.cpp.
        quantize: auto/q8_0, q4_0, f16, none (f32); gguf_dir: the export cache (default
        ~/.cache/robot_sft/gguf). Raises ModelLoadError (gguf_export.NotExportable: a
        base that has no GGUF; a file llama.cpp cannot load), ImportError (no llama_cpp)."""
        from robot_sft.inference.gguf_export import ensure_gguf, source_gguf

        quant = gguf_quant(quantize)
        source_gguf(base_model)  # fail before any heavy work when the base cannot be exported
        import_llama_cpp()
        tokenizer = load_adapter_tokenizer(adapter_dir)
        path = ensure_gguf(adapter_dir, base_model, quant, log=log, warn=warn, directory=gguf_dir)
        return cls(path, tokenizer, system_prompt, max_new_tokens, n_threads, n_ctx)

    def close(self) -> None:
        """Free llama.cpp's model and context now (the model is unusable afterwards)."""
        self._finalizer()


def load(spec, log=None, warn=None) -> LlamaCppModel:
    """The model a robot_sft.inference.loader.ModelSpec asks for, on this backend."""
    if spec.device not in ("auto", "cpu"):
        raise ValueError(f"model_backend llama_cpp runs on the CPU, not on device "
                         f"{spec.device}: use device:=cpu or model_backend:=transformers")
    return LlamaCppModel.from_adapter(spec.adapter, spec.base_model or None,
                                      max_new_tokens=spec.max_new_tokens, quantize=spec.quantize,
                                      n_threads=spec.num_threads, constrained=spec.constrained,
                                      grounded=True,
                                      places=list(spec.places), log=log, warn=warn)
