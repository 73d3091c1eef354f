"""Command -> model text. The node's only view of a language model.

The interface is one method, so a faster backend (llama.cpp, constrained
decoding) is a new class, not a new node:

    class CommandModel(Protocol):
        def respond(self, command: str, cancel: threading.Event | None = None) -> str

`respond` raises `GenerationCancelled` when `cancel` is set while it works.
A model may also offer `stream_lines(command, cancel)`: the same text in pieces, each
complete line as soon as it is generated, so the node can start the first action
while the model writes the next (`stream_pieces` gives every model that shape).
torch/transformers/peft are imported inside functions: importing this module is cheap.
"""
from __future__ import annotations

import threading
from typing import Protocol

from robot_sft.adapter import AdapterError, read_metadata
from robot_sft.controller_config import ECHO
from robot_sft.prompting import prompt_text

# End-of-turn tokens of common chat templates (ChatML, Llama 3, Phi-3, Gemma, Zephyr).
END_OF_TURN_TOKENS = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>", "</s>")


class AnswerTruncated(Exception):
    """The answer hit max_new_tokens before its end-of-turn: its last complete lines may
    be only part of what the model meant (half a square), so the node must not act on it."""


class GenerationCancelled(Exception):
    """`respond` gave up because its cancel event was set (stop or a newer command)."""


class CommandModel(Protocol):
    def respond(self, command: str, cancel: threading.Event | None = None) -> str: ...


def check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled()


class FixedResponseModel:
    """Always answers `text`, with '{command}' replaced by the command (an echo).
    For dry runs without a model and for tests."""

    def __init__(self, text: str = ECHO):
        self.text = text

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        check_cancel(cancel)
        return self.text.replace(ECHO, command)


def _cancel_criteria(cancel: threading.Event):
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class CancelCriteria(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    return StoppingCriteriaList([CancelCriteria()])


def end_of_turn_ids(tokenizer) -> list[int]:
    """eos plus the template's end-of-turn tokens that this vocabulary has."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in END_OF_TURN_TOKENS if t in vocab)
    return sorted(ids)


def stream_pieces(model: CommandModel, command: str, cancel: threading.Event | None = None):
    """`model.stream_lines` where the model has it, else its whole answer as one piece."""
    stream = getattr(model, "stream_lines", None)
    if stream is not None:
        yield from stream(command, cancel)
    else:
        yield model.respond(command, cancel)


def whole_answer(model, command: str, cancel: threading.Event | None = None) -> str:
    """`model.stream_lines` joined: the whole answer. A truncated answer is returned as it
    is (evaluation scores it); the node uses `stream_lines`, which raises AnswerTruncated."""
    pieces = []
    try:
        for piece in model.stream_lines(command, cancel):
            pieces.append(piece)
    except AnswerTruncated:
        pass
    return "".join(pieces).strip()


class TransformersModel:
    """A base model with the LoRA adapter merged in, greedy decoding.

    A plain torch model is decoded by `robot_sft.fast_inference.GreedyDecoder` (prompt
    head cached, lean loop, line streaming); any other object with generate() (a
    grammar-constrained wrapper) goes through generate(), which applies its processors."""

    def __init__(self, model, tokenizer, system_prompt: str, max_new_tokens: int = 128):
        import torch
        from transformers import GenerationConfig

        from robot_sft.fast_inference import GreedyDecoder

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        stop_ids = end_of_turn_ids(tokenizer)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        # A fresh config: the base's sampling settings (temperature, top_p) do not apply.
        self.generation_config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids,
            pad_token_id=pad_id)
        self.decoder = GreedyDecoder(self.model, tokenizer, system_prompt, stop_ids) \
            if isinstance(self.model, torch.nn.Module) else None
        self.last_times = None  # DecodeTimes of the latest answer (fast path)
        self.constraint = None  # a robot_sft.constrained.ResponseConstraint, when enabled

    @classmethod
    def from_adapter(cls, adapter_dir, base_model: str | None = None, device: str = "cpu",
                     max_new_tokens: int = 128, dtype=None,
                     quantize: str = "none", constrained: bool = False,
                     places=None) -> "TransformersModel":
        """Load base + adapter and merge them (one matmul per layer at inference, not two);
        quantize="int8": dynamic int8 Linear layers after merging (CPU only).
        Raises AdapterError (bad adapter dir) or ModelLoadError (base model)."""
        from peft import PeftModel
        from transformers import AutoTokenizer

        from robot_sft.models import default_device, load_model

        metadata = read_metadata(adapter_dir)
        device = default_device() if device == "auto" else device
        base = load_model(base_model or metadata.base_model, dtype=dtype, device=device)
        try:
            merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
            # The adapter's tokenizer carries the chat template used in training.
            tokenizer = AutoTokenizer.from_pretrained(str(adapter_dir))
        except Exception as exc:  # corrupt safetensors, wrong shapes, bad tokenizer files
            raise AdapterError(f"cannot load the adapter in {adapter_dir}: "
                               f"{type(exc).__name__}: {exc}") from exc
        merged = merged.to(device)
        if quantize == "int8":
            from robot_sft.fast_inference import quantize_int8

            if str(device) != "cpu":
                raise ValueError(f"quantize int8 runs on the CPU only, not on {device}")
            merged = quantize_int8(merged)
        elif quantize not in ("none", "auto"):
            raise ValueError(f"unknown quantize {quantize!r}: use none or int8")
        model = cls(merged, tokenizer, metadata.system_prompt, max_new_tokens)
        if constrained:
            model.enable_grammar(places)
        return model

    def enable_grammar(self, places=None) -> None:
        """Decode under the response grammar (robot_sft.constrained): every answer that
        ends parses; with `places`, navigation can only name those places."""
        from robot_sft.constrained import ResponseConstraint

        self.constraint = ResponseConstraint(self.tokenizer, self.model.config.vocab_size,
                                             places=places or None)

    def stream_lines(self, command: str, cancel: threading.Event | None = None):
        """The answer in pieces, each complete line (with its newline) as soon as it is
        generated. Raises GenerationCancelled when `cancel` is set."""
        check_cancel(cancel)
        budget = self.generation_config.max_new_tokens
        if self.decoder is None:
            text, stopped = self._generate(command, cancel)
            yield text
        else:
            from robot_sft.fast_inference import DecodeTimes

            self.last_times = DecodeTimes()
            processor = self.constraint.logits_processor() if self.constraint else None
            yield from self.decoder.stream_lines(command, budget, cancel, self.last_times,
                                                 processor)
            stopped = self.last_times.stopped
        if not stopped:
            raise AnswerTruncated(f"the answer reached max_new_tokens={budget} before its end")

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        return whole_answer(self, command, cancel)

    def _generate(self, command: str, cancel: threading.Event | None) -> tuple[str, bool]:
        import torch

        prompt = prompt_text(self.tokenizer, command, self.system_prompt)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.model.device)
        criteria = _cancel_criteria(cancel) if cancel is not None else None
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=self.generation_config,
                                         stopping_criteria=criteria)
        check_cancel(cancel)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        stop_ids = self.generation_config.eos_token_id
        stopped = len(new_tokens) < self.generation_config.max_new_tokens or \
            int(new_tokens[-1]) in stop_ids
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip(), stopped


def select_backend(config) -> tuple[str, str]:
    """(backend, why) for the parameters: model_backend as given, or for 'auto' llama_cpp
    when llama_cpp is installed, the device is the CPU, quantize is not the transformers-only
    int8 and the base ships as GGUF (the embedded SmolLM2); else transformers."""
    backend = config.model_backend
    if backend != "auto":
        return backend, "model_backend parameter"
    quantize = getattr(config, "quantize", "auto")
    if quantize == "int8":
        return "transformers", "quantize int8 is the transformers backend's"
    if quantize not in ("auto", "none"):  # q8_0, q4_0, f16: a GGUF quantisation
        return "llama_cpp", f"quantize {quantize} is the llama_cpp backend's"
    from robot_sft.llama_cpp_backend import llama_cpp_available

    if not llama_cpp_available():
        return "transformers", "llama_cpp does not import (pip install llama-cpp-python)"
    device = str(getattr(config, "device", "auto"))
    if device != "cpu":
        if device != "auto":
            return "transformers", f"device {device} (llama_cpp runs on the CPU)"
        from robot_sft.models import default_device

        if default_device() != "cpu":
            return "transformers", "a GPU is available"
    from robot_sft.gguf_export import source_gguf
    from robot_sft.models import ModelLoadError

    try:
        base = config.base_model or read_metadata(config.adapter).base_model
        source_gguf(base)
    except (AdapterError, ModelLoadError) as exc:
        return "transformers", str(exc).split(":")[0]
    return "llama_cpp", "llama_cpp installed, CPU, base ships as GGUF"


def load_command_model(config, log=None) -> CommandModel:
    """The model the node's parameters ask for (`config`: a ControllerConfig or any
    object with model_backend, fixed_response, adapter, base_model, device, max_new_tokens,
    and optionally quantize, constrained_decoding, places, num_threads). `log(text)` hears
    which backend was picked and why."""
    if config.model_backend == "fixed":
        return FixedResponseModel(config.fixed_response)
    if config.model_backend not in ("auto", "transformers", "llama_cpp"):
        raise ValueError(f"unknown model_backend {config.model_backend!r}")
    if not str(config.adapter).strip():
        raise AdapterError("parameter adapter is empty: pass adapter:=DIR (a trained adapter) "
                           "or model_backend:=fixed for a dry run")
    backend, why = select_backend(config)
    if log is not None:
        log(f"model backend {backend} ({why})")
    quantize = getattr(config, "quantize", "auto")
    constrained = getattr(config, "constrained_decoding", False)
    places = sorted(getattr(config, "places", None) or {})
    if backend == "llama_cpp":
        from robot_sft.llama_cpp_backend import LlamaCppModel

        if str(getattr(config, "device", "auto")) not in ("auto", "cpu"):
            raise ValueError(f"model_backend llama_cpp runs on the CPU, not on device "
                             f"{config.device}: use device:=cpu or model_backend:=transformers")
        return LlamaCppModel.from_adapter(config.adapter, config.base_model or None,
                                          config.max_new_tokens, quantize=quantize,
                                          n_threads=getattr(config, "num_threads", 0),
                                          constrained=constrained, places=places, log=log)
    return TransformersModel.from_adapter(config.adapter, config.base_model or None,
                                          config.device, config.max_new_tokens,
                                          quantize=quantize, constrained=constrained,
                                          places=places)
