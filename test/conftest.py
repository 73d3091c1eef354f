"""Shared fixtures: real tokenizers and tiny random Llama models.

- `smollm2_tokenizer`: the embedded SmolLM2-135M-Instruct tokenizer (ChatML, pad == eos ==
  <|im_end|>). Loading it builds the model cache once (~20 s), then takes ~2 s: tests
  using it are `@pytest.mark.slow`.
- `llama2_tokenizer`: a Llama-2-style tokenizer built offline in about a second (there is
  no model hub here): SentencePiece-style BPE ("▁" word prefix, byte fallback) trained on
  a small robot-command corpus, wrapped in transformers' LlamaTokenizer, with <unk>=0,
  <s>=1, </s>=2, Llama-2-chat's chat template and pad == eos like load_tokenizer sets.
- `base_tokenizer`: parametrised over both (SmolLM2's cases marked slow).
- `with_template(tokenizer, name)`: a copy of a session tokenizer with a chat template
  applied (session tokenizers are shared, never modify them).
- `tiny_llama(tokenizer)`: a randomly initialised 2-layer LlamaForCausalLM sized to the
  tokenizer's vocabulary, for fast gradient and trainer tests on CPU.
- `tiny_base`: a saved random 1-layer Llama model directory for real `training.train` runs.
- every session exports its GGUF files to a temporary folder (ROBOT_SFT_GGUF_CACHE), also
  for the controllers it starts: test adapters are new each session, so their exports
  (~145 MB each) would otherwise pile up in the user's ~/.cache/robot_sft/gguf forever.
"""
from __future__ import annotations

import copy
import os

import pytest
from hypothesis import settings

# Property tests check behaviour, not speed: on a shared 2-core machine a first example
# can take longer than hypothesis' default 200 ms deadline (a flaky failure, not a bug).
settings.register_profile("robot_sft", deadline=None)
settings.load_profile("robot_sft")


@pytest.fixture(scope="session", autouse=True)
def _session_gguf_cache(tmp_path_factory):
    """ROBOT_SFT_GGUF_CACHE in a session folder (pytest keeps the last three sessions')."""
    if os.environ.get("ROBOT_SFT_GGUF_CACHE"):  # a caller chose one: keep it
        yield
        return
    os.environ["ROBOT_SFT_GGUF_CACHE"] = str(tmp_path_factory.mktemp("gguf_cache"))
    try:
        yield
    finally:
        os.environ.pop("ROBOT_SFT_GGUF_CACHE", None)


# Word material for the offline tokenizer: robot commands and answers, and plain English.
_CORPUS = """
Move forward 2 m. Move backward 30 cm. Turn left 90 deg. Turn right 1.5 rad. Stop.
Move forward 3 ft at 0.5 m/s. Go to the kitchen. Navigate to the charging station.
Report the battery level. Are there any obstacles ahead? Drive forward for 5 s slowly.
Cannot comply: that speed exceeds the safety limits. Battery status. Obstacles report.
You are a mobile robot controller. Answer each command with the robot actions, one per
line, copying numbers and units from the command. Please turn around and come back here.
The quick brown fox jumps over the lazy dog while the robot waits near the door.
What is the weather like today? I would like you to go to the living room and then stop.
"""


def build_llama2_style_tokenizer(vocab_size: int = 800):
    """A Llama-2-convention tokenizer trained on _CORPUS (seconds, no downloads)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import LlamaTokenizer

    from training.chat_templates import LLAMA2

    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{value:02X}>" for value in range(256)]  # byte fallback, as in Llama-2
    trainer_tokenizer = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    # split=True while training: merges stay within "▁word" pieces, like SentencePiece.
    trainer_tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="first")
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials + byte_tokens, show_progress=False,
        initial_alphabet=[chr(c) for c in range(32, 127)] + ["▁"])
    lines = [line for line in _CORPUS.splitlines() if line.strip()]
    trainer_tokenizer.train_from_iterator(lines * 4, trainer)
    tokenizer = LlamaTokenizer(vocab=trainer_tokenizer.get_vocab(), merges=_merges_of(trainer_tokenizer))
    tokenizer.chat_template = LLAMA2  # Llama-2-chat ships this template
    tokenizer.pad_token = tokenizer.eos_token  # as robot_sft.models.load_tokenizer does
    return tokenizer


def _merges_of(tokenizer) -> list[tuple[str, str]]:
    import json

    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in merges]


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    from robot_sft.models import load_tokenizer

    return load_tokenizer("embedded")


@pytest.fixture(scope="session")
def llama2_tokenizer():
    return build_llama2_style_tokenizer()


@pytest.fixture(params=["llama2", pytest.param("smollm2", marks=pytest.mark.slow)])
def base_tokenizer(request):
    return request.getfixturevalue(f"{request.param}_tokenizer")


@pytest.fixture(scope="session")
def with_template():
    """with_template(tokenizer, name_or_jinja) -> a cached copy with that chat template."""
    from training.chat_templates import apply_chat_template_choice

    cache = {}

    def make(tokenizer, name_or_jinja):
        key = (id(tokenizer), name_or_jinja)
        if key not in cache:
            cache[key] = apply_chat_template_choice(copy.deepcopy(tokenizer), name_or_jinja)
        return cache[key]

    return make


@pytest.fixture
def tiny_llama():
    """tiny_llama(tokenizer, seed=0) -> a random 2-layer LlamaForCausalLM for that vocabulary."""

    def make(tokenizer, seed: int = 0):
        import torch
        from transformers import LlamaConfig, LlamaForCausalLM

        torch.manual_seed(seed)
        config = LlamaConfig(
            vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
            tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
        return LlamaForCausalLM(config)

    return make


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory):
    """A random 1-layer Llama with a byte-level ChatML tokenizer, saved as a model dir
    (tiny_models.make_tiny_adapter's base): real training runs in seconds."""
    from tiny_models import make_tiny_adapter

    root = tmp_path_factory.mktemp("tiny")
    make_tiny_adapter(root)
    return root / "base"
