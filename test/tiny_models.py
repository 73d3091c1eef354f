"""Tiny, offline stand-ins for a trained adapter (shared by the inference and node tests).

`make_tiny_adapter(root)` writes a random 1-layer Llama as the base model and a
real PEFT LoRA adapter directory on it (tokenizer with a ChatML template +
robot_sft.json), exactly the layout training writes, in well under a second.
"""
from __future__ import annotations

from pathlib import Path

from robot_sft.adapter import AdapterMetadata, write_metadata
from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
END_OF_TURN = "<|im_end|>"


def make_tokenizer():
    """Byte-level tokenizer (any Unicode in, no unknown tokens) with ChatML specials;
    "<|im_end|>" is id 0 so a model whose logits are all equal ends its turn at once."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [END_OF_TURN, "<|im_start|>"]
    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {tok: i for i, tok in enumerate(specials + alphabet)}
    core = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=core, eos_token=END_OF_TURN,
                                        pad_token=END_OF_TURN,
                                        additional_special_tokens=["<|im_start|>"])
    tokenizer.chat_template = CHATML
    return tokenizer


def make_tiny_adapter(root, seed: int = 0) -> Path:
    """root/base (model dir) + root/adapter (adapter dir); returns the adapter dir."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    root = Path(root)
    torch.manual_seed(seed)
    tokenizer = make_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                         num_hidden_layers=1, num_attention_heads=2, num_key_value_heads=2,
                         max_position_embeddings=8192, eos_token_id=0, pad_token_id=0,
                         bos_token_id=None)
    base = LlamaForCausalLM(config)
    base.save_pretrained(root / "base")
    tokenizer.save_pretrained(root / "base")
    # init_lora_weights=False: a non-zero update, so merging visibly changes the model.
    lora = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                           init_lora_weights=False))
    adapter = root / "adapter"
    lora.save_pretrained(adapter)
    tokenizer.save_pretrained(adapter)
    write_metadata(adapter, AdapterMetadata(base_model=str(root / "base"),
                                            system_prompt=DEFAULT_SYSTEM_PROMPT,
                                            chat_template="chatml"))
    return adapter
