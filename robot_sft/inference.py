"""Command -> model text. The node's only view of a language model.

The interface is one method, so a faster backend (llama.cpp, constrained
decoding) is a new class, not a new node:

    class CommandModel(Protocol):
        def respond(self, command: str, cancel: threading.Event | None = None) -> str

`respond` raises `GenerationCancelled` when `cancel` is set while it works.
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


class GenerationCancelled(Exception):
    """`respond` gave up because its cancel event was set (stop or a newer command)."""


class CommandModel(Protocol):
    def respond(self, command: str, cancel: threading.Event | None = None) -> str: ...


def _check_cancel(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise GenerationCancelled()


class FixedResponseModel:
    """Always answers `text`, with '{command}' replaced by the command (an echo).
    For dry runs without a model and for tests."""

    def __init__(self, text: str = ECHO):
        self.text = text

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        _check_cancel(cancel)
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


class TransformersModel:
    """A base model with the LoRA adapter merged in, greedy decoding."""

    def __init__(self, model, tokenizer, system_prompt: str, max_new_tokens: int = 48):
        from transformers import GenerationConfig

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        stop_ids = end_of_turn_ids(tokenizer)
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stop_ids[0]
        # A fresh config: the base's sampling settings (temperature, top_p) do not apply.
        self.generation_config = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=False, eos_token_id=stop_ids,
            pad_token_id=pad_id)

    @classmethod
    def from_adapter(cls, adapter_dir, base_model: str | None = None, device: str = "cpu",
                     max_new_tokens: int = 48, dtype=None) -> "TransformersModel":
        """Load base + adapter and merge them (one matmul per layer at inference, not two).
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
        return cls(merged.to(device), tokenizer, metadata.system_prompt, max_new_tokens)

    def respond(self, command: str, cancel: threading.Event | None = None) -> str:
        import torch

        _check_cancel(cancel)
        prompt = prompt_text(self.tokenizer, command, self.system_prompt)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
        inputs = inputs.to(self.model.device)
        criteria = _cancel_criteria(cancel) if cancel is not None else None
        with torch.inference_mode():
            output = self.model.generate(**inputs, generation_config=self.generation_config,
                                         stopping_criteria=criteria)
        _check_cancel(cancel)
        new_tokens = output[0, inputs["input_ids"].shape[1]:]
        return self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def load_command_model(config) -> CommandModel:
    """The model the node's parameters ask for (`config`: a ControllerConfig or any
    object with model_backend, fixed_response, adapter, base_model, device, max_new_tokens)."""
    if config.model_backend == "fixed":
        return FixedResponseModel(config.fixed_response)
    if config.model_backend != "transformers":
        raise ValueError(f"unknown model_backend {config.model_backend!r}")
    if not str(config.adapter).strip():
        raise AdapterError("parameter adapter is empty: pass adapter:=DIR (a trained adapter) "
                           "or model_backend:=fixed for a dry run")
    return TransformersModel.from_adapter(config.adapter, config.base_model or None,
                                          config.device, config.max_new_tokens)
