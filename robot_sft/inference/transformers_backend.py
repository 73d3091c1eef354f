"""The transformers backend: the base model with the LoRA adapter merged in, on torch.

Greedy decoding by the shared loop (robot_sft.inference.decoding) on a torch KV cache:
the prompt head's keys and values are computed once and every command starts from a
copy-on-write DynamicCache holding them. A model that is no torch module (a
grammar-constrained wrapper, robot_sft.inference.constraint.ConstrainedModel) goes
through generate() instead, which applies its processors.

Optional, changes the numbers the model computes: quantize="int8" (dynamic int8 Linear
layers, ~3x fewer bytes to read per token on CPU).
torch/transformers/peft are imported inside functions: importing this module is cheap.
"""
from __future__ import annotations

import threading
from typing import Iterator

from robot_sft.adapter import AdapterError
from robot_sft.inference.base import check_cancel
from robot_sft.inference.decoding import (DecodeTimes, DecodingModel, GreedyDecoder,
                                          load_adapter_tokenizer)
from robot_sft.prompting import end_of_turn_ids, prompt_text

QUANTIZE = ("auto", "none", "int8")  # auto: none


class TransformersDecoder(GreedyDecoder):
    """The greedy loop on a torch causal LM with a DynamicCache."""

    def __init__(self, model, tokenizer, system_prompt: str, stop_ids):
        self.model = model
        self._head_kv = None   # [(keys, values)] per layer, never modified
        self._cache = None     # the running answer's cache
        super().__init__(tokenizer, system_prompt, stop_ids)

    def _new_cache(self, kv=None):
        from transformers import DynamicCache

        # update() concatenates into new tensors: the stored head is never modified.
        return DynamicCache(ddp_cache_data=kv, config=self.model.config)

    def _forward(self, ids: list[int], **kwargs):
        import torch

        with torch.inference_mode():
            out = self.model(input_ids=torch.tensor([ids], device=self.model.device),
                             cache=self._cache, use_cache=True, **kwargs)
        return out.logits[0, -1]

    def prefill_head(self) -> None:
        self._cache = self._new_cache()
        self._forward(self.head_ids, logits_to_keep=1)
        self._head_kv = [(layer.keys, layer.values) for layer in self._cache.layers]

    def start(self, ids: list[int], reuse_head: bool):
        self._cache = self._new_cache(self._head_kv if reuse_head else None)
        return self._forward(ids, logits_to_keep=1)

    def feed(self, token: int):
        return self._forward([token])

    def feed_many(self, tokens: list[int]):
        return self._forward(tokens, logits_to_keep=1)


class TransformersModel(DecodingModel):
    """A base model with the LoRA adapter merged in, greedy decoding.

    A plain torch model is decoded by TransformersDecoder (prompt head cached, lean loop,
    line streaming); any other object with generate() (a grammar-constrained wrapper)
    goes through generate(), which applies its processors."""

    def __init__(self, model, tokenizer, system_prompt: str, max_new_tokens: int = 128):
        import torch
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
        self.decoder = TransformersDecoder(self.model, tokenizer, system_prompt, stop_ids) \
            if isinstance(self.model, torch.nn.Module) else None

    @property
    def description(self) -> str:
        return (f"transformers ({type(self.model).__name__}, {self.model.device}, "
                f"{str(self.model.dtype).replace('torch.', '')})")

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    @classmethod
    def _load(cls, adapter_dir, base_model: str, system_prompt: str, max_new_tokens: int,
              device: str = "cpu", dtype=None, quantize: str = "none") -> "TransformersModel":
        """Load base + adapter and merge them (one matmul per layer at inference, not two);
        quantize="int8": dynamic int8 Linear layers after merging (CPU only)."""
        from peft import PeftModel

        from robot_sft.models import default_device, load_model

        if quantize not in QUANTIZE:
            raise ValueError(f"unknown quantize {quantize!r}: use none or int8")
        device = default_device() if device == "auto" else device
        if quantize == "int8" and str(device) != "cpu":
            raise ValueError(f"quantize int8 runs on the CPU only, not on {device}")
        tokenizer = load_adapter_tokenizer(adapter_dir)
        base = load_model(base_model, dtype=dtype, device=device)
        try:
            merged = PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload()
        except Exception as exc:  # corrupt safetensors, wrong shapes
            raise AdapterError(f"cannot load the adapter in {adapter_dir}: "
                               f"{type(exc).__name__}: {exc}") from exc
        merged = merged.to(device)
        if quantize == "int8":
            merged = quantize_int8(merged)
        return cls(merged, tokenizer, system_prompt, max_new_tokens)

    def _lines(self, command: str, budget: int, cancel: threading.Event | None,
               times: DecodeTimes) -> Iterator[str]:
        if self.decoder is not None:
            return super()._lines(command, budget, cancel, times)
        return self._generated_lines(command, cancel, times)

    def _generated_lines(self, command: str, cancel: threading.Event | None,
                         times: DecodeTimes) -> Iterator[str]:
        """generate()'s whole answer as one piece (a wrapper's processors apply)."""
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
        times.stopped = len(new_tokens) < self.generation_config.max_new_tokens or \
            int(new_tokens[-1]) in stop_ids
        yield self.tokenizer.decode(new_tokens, skip_special_tokens=True).strip()


def _cancel_criteria(cancel: threading.Event):
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class CancelCriteria(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), cancel.is_set(), dtype=torch.bool,
                              device=input_ids.device)

    return StoppingCriteriaList([CancelCriteria()])


def quantize_int8(model):
    """Dynamic int8 for every Linear layer (weights int8, activations quantised per
    call), in place. On CPU a token then reads ~4x fewer weight bytes."""
    import warnings

    import torch

    with warnings.catch_warnings():  # torch.ao's deprecation notice (moving to torchao)
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},
                                                      dtype=torch.qint8, inplace=True)


def load(spec, log=None, warn=None) -> TransformersModel:
    """The model a robot_sft.inference.loader.ModelSpec asks for, on this backend."""
    return TransformersModel.from_adapter(spec.adapter, spec.base_model or None,
                                          device=spec.device, max_new_tokens=spec.max_new_tokens,
                                          quantize=spec.quantize, constrained=spec.constrained,
                                          grounded=True,
                                          places=list(spec.places))
