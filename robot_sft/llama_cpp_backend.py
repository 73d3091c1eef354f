"""The llama.cpp backend: the merged adapter as a GGUF file, decoded by llama.cpp.

Same interface and answers as `robot_sft.inference.TransformersModel` (respond,
stream_lines, GenerationCancelled, AnswerTruncated, greedy, the same end-of-turn ids), with
a faster engine underneath: Q8_0 weights (~4x fewer bytes to read per token than torch
fp32) and one C call per token instead of a Python loop over 30 layers.

- The prompt is built and tokenised by the adapter's own HF tokenizer (robot_sft.prompting),
  and llama.cpp is fed token ids, so prompts are token-identical to the transformers path;
  answers are decoded with the same tokenizer.
- The prompt head (system turn + the user turn's opening) is evaluated once at load; each
  command only runs its own tokens (the KV cache beyond the head is dropped and rewritten).
- Greedy: argmax over the last token's logits. With `enable_grammar` the same llguidance
  response grammar as the transformers path masks the logits first (robot_sft.constrained).
- The GGUF comes from `robot_sft.gguf_export.ensure_gguf` (exported once, then cached).

Install: `pip install llama-cpp-python==0.3.36` (builds llama.cpp from source: ~10 min on
2 cores; scripts/install.sh does it). Not thread-safe: the node runs one generation at a time.
"""
from __future__ import annotations

import threading
import time
import weakref
from pathlib import Path
from types import SimpleNamespace

from robot_sft.fast_inference import DecodeTimes, GreedyDecoder, prompt_head
from robot_sft.inference import AnswerTruncated, check_cancel, end_of_turn_ids, whole_answer

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


class LlamaCppDecoder(GreedyDecoder):
    """GreedyDecoder's interface (tokens, stream_lines, prompt_ids, head_ids) on a
    llama_cpp.Llama. The context holds the prompt head's KV at positions [0, len(head))
    between commands."""

    def __init__(self, llm, tokenizer, system_prompt: str, stop_ids):
        self.llm = llm
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.stop_ids = frozenset(stop_ids)
        self.n_vocab = llm.n_vocab()
        self.n_ctx = llm.n_ctx()
        self._logits_ith = import_llama_cpp().llama_get_logits_ith
        self.head_ids = self._encode(prompt_head(tokenizer, system_prompt))
        self._head_kv = None  # truthy once the context holds the head (GreedyDecoder's flag)
        if self.head_ids:
            self._prefill_head()

    def _prefill_head(self):
        self.llm.n_tokens = 0  # eval() drops the KV from n_tokens on, then appends
        self.llm.eval(self.head_ids)
        self._head_kv = True

    def logits(self):
        """The last evaluated token's logits (a view valid until the next eval)."""
        import numpy as np

        return np.ctypeslib.as_array(self._logits_ith(self.llm.ctx, -1), shape=(self.n_vocab,))

    def tokens(self, command: str, max_new_tokens: int, cancel: threading.Event | None = None,
               times: DecodeTimes | None = None, logits_processor=None):
        """Yield new token ids until an end-of-turn id (not yielded) or the budget; raises
        GenerationCancelled as soon as `cancel` is set. `logits_processor`: a
        transformers-style `(input_ids, scores) -> scores` callable (needs torch)."""
        times = times if times is not None else DecodeTimes()
        ids, reused = self.prompt_ids(command)
        if len(ids) >= self.n_ctx:
            raise ValueError(f"the prompt ({len(ids)} tokens) does not fit the llama.cpp "
                             f"context ({self.n_ctx} tokens)")
        started = time.perf_counter()
        if reused and not self._head_kv:  # a previous prompt overwrote the head
            self._prefill_head()
        self._head_kv = self._head_kv if reused else None
        self.llm.n_tokens = reused  # keep the head's KV, drop everything after it
        self.llm.eval(ids[reused:])
        logits = self.logits()
        times.prompt_tokens, times.reused_prefix = len(ids) - reused, reused
        times.prefill_s = time.perf_counter() - started
        previous = ids[-1]
        for step in range(max_new_tokens):
            check_cancel(cancel)
            if logits_processor is not None:
                import torch

                scores = logits_processor(torch.tensor([[previous]]),
                                          torch.from_numpy(logits.copy())[None, :])
                token = int(scores[0].argmax())
            else:
                token = int(logits.argmax())
            previous = token
            if token in self.stop_ids:
                times.stopped = True
                return
            yield token
            if step + 1 == max_new_tokens or self.llm.n_tokens >= self.n_ctx:
                return  # the budget (or the context) is spent: the answer is truncated
            started = time.perf_counter()
            self.llm.eval([token])
            logits = self.logits()
            times.token_s.append(time.perf_counter() - started)

    def _prompt(self, command: str) -> str:
        from robot_sft.prompting import prompt_text

        return prompt_text(self.tokenizer, command, self.system_prompt)

    def prompt_ids(self, command: str) -> tuple[list[int], int]:
        ids = self._encode(self._prompt(command))
        n = len(self.head_ids)
        return ids, (n if self.head_ids and len(ids) > n and ids[:n] == self.head_ids else 0)


class LlamaCppModel:
    """A CommandModel on llama.cpp: `respond` / `stream_lines` as TransformersModel's."""

    def __init__(self, gguf_path, tokenizer, system_prompt: str, max_new_tokens: int = 128,
                 n_threads: int = 0, n_ctx: int = DEFAULT_N_CTX, flash_attn: bool = True):
        llama_cpp = import_llama_cpp()
        self.gguf_path = Path(gguf_path)
        # n_threads 0: llama-cpp-python's defaults (half the logical CPUs per token, all of
        # them for a prompt). flash_attn: ~10 % less time per token on the CPU (measured).
        self.llm = llama_cpp.Llama(model_path=str(gguf_path), n_ctx=n_ctx,
                                   n_threads=n_threads or None, n_threads_batch=n_threads or None,
                                   flash_attn=flash_attn, logits_all=False, verbose=False)
        if len(tokenizer) > self.llm.n_vocab():
            raise ValueError(f"the tokenizer has {len(tokenizer)} tokens, {self.gguf_path.name} "
                             f"only {self.llm.n_vocab()}")
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        stop_ids = end_of_turn_ids(tokenizer)
        # The generation settings callers read (TransformersModel.generation_config's names).
        self.generation_config = SimpleNamespace(max_new_tokens=max_new_tokens,
                                                 eos_token_id=stop_ids)
        self.decoder = LlamaCppDecoder(self.llm, tokenizer, system_prompt, stop_ids)
        self.last_times = None  # DecodeTimes of the latest answer
        self.constraint = None  # a robot_sft.constrained.ResponseConstraint, when enabled
        # Free llama.cpp's memory before interpreter shutdown: Llama.__del__ at exit fails
        # on half torn-down modules.
        self._finalizer = weakref.finalize(self, self.llm.close)
        self.description = (f"llama.cpp ({self.gguf_path.name}, {self.llm.n_threads} "
                            f"thread(s) per token, {self.llm.n_threads_batch} per prompt)")

    @classmethod
    def from_adapter(cls, adapter_dir, base_model: str | None = None, max_new_tokens: int = 128,
                     quantize: str = "auto", n_threads: int = 0, constrained: bool = False,
                     places=None, n_ctx: int = DEFAULT_N_CTX, log=None,
                     gguf_dir=None) -> "LlamaCppModel":
        """Base + adapter merged and exported to GGUF (cached), loaded into llama.cpp.
        quantize: auto/q8_0, q4_0, f16, none (f32); gguf_dir: the export cache (default
        ~/.cache/robot_sft/gguf). Raises AdapterError, ModelLoadError
        (gguf_export.NotExportable: a base that has no GGUF), ImportError (no llama_cpp)."""
        from transformers import AutoTokenizer

        from robot_sft.adapter import AdapterError, read_metadata
        from robot_sft.gguf_export import ensure_gguf, source_gguf

        quant = gguf_quant(quantize)
        metadata = read_metadata(adapter_dir)
        base = base_model or metadata.base_model
        source_gguf(base)  # fail before any heavy work when the base cannot be exported
        import_llama_cpp()
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
        except Exception as exc:
            raise AdapterError(f"cannot load the tokenizer in {adapter_dir}: "
                               f"{type(exc).__name__}: {exc}") from exc
        path = ensure_gguf(adapter_dir, base, quant, log=log, directory=gguf_dir)
        model = cls(path, tokenizer, metadata.system_prompt, max_new_tokens, n_threads, n_ctx)
        if constrained:
            model.enable_grammar(places)
        return model

    def enable_grammar(self, places=None) -> None:
        """Decode under the response grammar (robot_sft.constrained, llguidance)."""
        from robot_sft.constrained import ResponseConstraint

        self.constraint = ResponseConstraint(self.tokenizer, self.llm.n_vocab(),
                                             places=places or None)

    def stream_lines(self, command: str, cancel: threading.Event | None = None):
        """The answer in pieces, each complete line (with its newline) as soon as it is
        generated. Raises GenerationCancelled when `cancel` is set, AnswerTruncated when
        max_new_tokens ends the answer before its end-of-turn."""
        check_cancel(cancel)
        budget = self.generation_config.max_new_tokens
        self.last_times = DecodeTimes()
        processor = self.constraint.logits_processor() if self.constraint else None
        yield from self.decoder.stream_lines(command, budget, cancel, self.last_times, processor)
        if not self.last_times.stopped:
            raise AnswerTruncated(f"the answer reached max_new_tokens={budget} before its end")

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        return whole_answer(self, command, cancel)

    def close(self) -> None:
        """Free llama.cpp's model and context now (the model is unusable afterwards)."""
        self._finalizer()
