"""robot_sft.inference.decoding: the prefix-cached greedy loop gives generate()'s greedy answer."""
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

from robot_sft.inference.base import AnswerTruncated, GenerationCancelled  # noqa: E402
from robot_sft.inference.decoding import DecodeTimes, GreedyDecoder, prompt_head  # noqa: E402
from robot_sft.inference.transformers_backend import (  # noqa: E402
    TransformersDecoder, TransformersModel)
from robot_sft.prompting import prompt_text  # noqa: E402
from tiny_models import make_tiny_adapter, make_tokenizer  # noqa: E402

COMMANDS = ["Move forward 1 m.", "turn left 90 degrees", "", "停止 ! arrête", "x" * 300]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return TransformersModel.from_adapter(make_tiny_adapter(tmp_path_factory.mktemp("tiny")),
                                          max_new_tokens=24)


def generate_reference(model, command, max_new_tokens):
    """HF generate(), greedy, on the full prompt: the answer the fast loop must reproduce."""
    ids = model.tokenizer(prompt_text(model.tokenizer, command, model.system_prompt),
                          return_tensors="pt", add_special_tokens=False)
    config = model.generation_config
    with torch.inference_mode():
        out = model.model.generate(**ids, max_new_tokens=max_new_tokens, do_sample=False,
                                   eos_token_id=config.eos_token_id, pad_token_id=config.pad_token_id)
    return [t for t in out[0, ids["input_ids"].shape[1]:].tolist()
            if t not in config.eos_token_id]


@pytest.mark.parametrize("command", COMMANDS)
def test_fast_loop_matches_generate_and_reuses_the_prompt_head(model, command):
    times = DecodeTimes()
    tokens = list(model.decoder.tokens(command, 24, times=times))
    assert tokens == generate_reference(model, command, 24)
    assert times.reused_prefix == len(model.decoder.head_ids) > 10  # the system prompt
    assert times.prompt_tokens < 30 + len(command)  # only the command's part was run
    # one forward pass per new token, except after the last one when the budget ends
    assert len(times.token_s) == len(tokens) - (0 if times.stopped else 1)


def test_without_the_prefix_cache_the_answer_is_the_same(model):
    command = COMMANDS[0]
    cached = list(model.decoder.tokens(command, 16))
    plain = TransformersDecoder(model.model, model.tokenizer, model.system_prompt,
                                model.generation_config.eos_token_id)
    plain.head_ids = [-1]  # never matches: every prompt is run whole
    times = DecodeTimes()
    assert list(plain.tokens(command, 16, times=times)) == cached and times.reused_prefix == 0


def test_prompt_head_is_the_shared_start_of_every_prompt(model):
    head = prompt_head(model.tokenizer, model.system_prompt)
    assert model.system_prompt in head
    for command in COMMANDS:
        assert prompt_text(model.tokenizer, command, model.system_prompt).startswith(head)


def test_respond_is_the_joined_stream(model):
    """respond() returns what stream_lines() hands out; a random model runs out of its
    token budget, which stream_lines() reports (the node must not act on half an answer)."""
    for command in COMMANDS[:3]:
        pieces = []
        with pytest.raises(AnswerTruncated):
            for piece in model.stream_lines(command):
                pieces.append(piece)
        assert model.respond(command) == "".join(pieces).strip()
        assert all(p.endswith("\n") for p in pieces[:-1])


class ScriptedDecoder(GreedyDecoder):
    """A decoder whose 'model' writes `text` (tokenised with the tiny byte tokenizer)."""

    def __init__(self, tokenizer, text):
        self.tokenizer, self.text = tokenizer, text

    def tokens(self, command, max_new_tokens, cancel=None, times=None, logits_processor=None):
        yield from self.tokenizer(self.text, add_special_tokens=False)["input_ids"][:max_new_tokens]


@given(st.lists(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12),
                max_size=5))
@settings(max_examples=80, deadline=None)
def test_stream_lines_gives_each_line_as_soon_as_it_ends(lines):
    text = "\n".join(lines)
    decoder = ScriptedDecoder(make_tokenizer(), text)
    pieces = list(decoder.stream_lines("any", 10_000))
    assert "".join(pieces) == text
    assert all(p.endswith("\n") and p.count("\n") == 1 for p in pieces[:-1])
    assert all(p for p in pieces)


def test_cancel_stops_the_stream_between_tokens(model):
    cancel = threading.Event()
    stream = model.decoder.stream_lines(COMMANDS[0], 4000, cancel)
    next(model.decoder.tokens(COMMANDS[0], 4000, cancel))  # runs
    cancel.set()
    with pytest.raises(GenerationCancelled):
        list(stream)


def test_a_model_without_torch_forward_goes_through_generate(model):
    """A grammar wrapper (robot_sft.inference.constraint.ConstrainedModel) is no nn.Module: its
    generate() applies the grammar, so the fast loop must not bypass it."""
    calls = []

    class Wrapper:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.__dict__["inner"], name)

        def eval(self):
            return self

        def generate(self, *args, **kwargs):
            calls.append(kwargs)
            return self.inner.generate(*args, **kwargs)

    wrapped = TransformersModel(Wrapper(model.model), model.tokenizer, model.system_prompt, 8)
    assert wrapped.decoder is None
    assert wrapped.respond(COMMANDS[0]) == model.respond(COMMANDS[0])[:len(wrapped.respond(COMMANDS[0]))]
    assert len(calls) == 2


def test_int8_quantisation_and_bad_values(tmp_path):
    adapter = make_tiny_adapter(tmp_path)
    int8 = TransformersModel.from_adapter(adapter, quantize="int8", max_new_tokens=4)
    assert any("quantized" in type(m).__module__ for m in int8.model.modules())
    assert isinstance(int8.respond("Move forward 1 m."), str)
    with pytest.raises(ValueError, match="quantize"):
        TransformersModel.from_adapter(adapter, quantize="int4")


@pytest.mark.slow
def test_fast_loop_matches_generate_on_smollm2(tmp_path):
    """The embedded SmolLM2 with a random LoRA, merged: same greedy tokens as generate()."""
    from benchmarks.latency import random_adapter
    from robot_sft.models import EMBEDDED_MODEL, ModelLoadError

    try:
        adapter = random_adapter(tmp_path, EMBEDDED_MODEL)
    except ModelLoadError as exc:
        pytest.skip(f"embedded model unavailable: {exc}")
    model = TransformersModel.from_adapter(adapter, max_new_tokens=12)
    for command in ("Move forward 2 meters", "turn left 90 degrees"):
        times = DecodeTimes()
        assert list(model.decoder.tokens(command, 12, times=times)) == \
            generate_reference(model, command, 12)
        assert times.reused_prefix > 20


@pytest.mark.parametrize("as_tensor", [False, True])
def test_choose_reports_the_chosen_tokens_probability(as_tensor):
    """Greedy picks the top logit; its softmax probability is the answer's confidence,
    from numpy logits (llama.cpp) and torch logits (transformers) alike."""
    import math

    import numpy as np
    import torch

    logits = np.array([0.0, math.log(3.0), -1e9, 0.0], dtype=np.float32)  # p(top) = 3/5
    token, probability = GreedyDecoder._choose(torch.tensor(logits) if as_tensor else logits,
                                               0, None)
    assert token == 1 and probability == pytest.approx(0.6, abs=1e-6)


def test_a_token_the_grammar_forces_is_certain():
    import torch

    def only_token_2(input_ids, scores):
        masked = torch.full_like(scores, -torch.inf)
        masked[:, 2] = scores[:, 2]
        return masked

    token, probability = GreedyDecoder._choose(torch.tensor([5.0, 4.0, 0.0]), 0, only_token_2)
    assert (token, probability) == (2, 1.0)
