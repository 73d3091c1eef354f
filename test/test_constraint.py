"""Grammar-constrained decoding (robot_sft.inference.constraint): with the constraint on, any model -
a random tiny one, the base SmolLM2 without adapter - writes responses that parse, and the
constraint never blocks a correct answer."""
import pytest

pytest.importorskip("llguidance")

from robot_sft.inference.constraint import ConstrainedModel, ResponseConstraint  # noqa: E402
from robot_sft.grammar import is_canonical  # noqa: E402
from robot_sft.response_format import (  # noqa: E402
    REFUSAL_REASONS, Move, Navigate, ParseError, Refuse, Shape, Status, Stop, TimedMove, Turn,
    parse_response, render_response,
)
from training.generation import generate_responses  # noqa: E402

COMMANDS = ["move forward 2 meters", "turn right 90 degrees", "stop", "battery?",
            "go to the kitchen", "make me a coffee", "back up 3 ft then turn left 45 degrees",
            "avanza dos metros", "drive a 1 meter square", "spin left for 2 seconds"]
RESPONSES = [
    [Move(2.0)], [Turn(-90.0, "deg", speed=0.3)], [TimedMove(3, "backward", pace="slow")],
    [Stop()], [Navigate("charging station")], [Status("battery")], [Status("obstacles")],
    [Refuse(REFUSAL_REASONS["language"])], [Move(1.5, "ft"), Turn(90.0), Move(-30, "cm", speed=0.2)],
    [Shape("square", 1.0)], [Shape("triangle", 50, "cm", -1, pace="slow"), Stop()],
]


@pytest.fixture(scope="module")
def llama2_constraint(llama2_tokenizer):
    return ResponseConstraint(llama2_tokenizer)


@pytest.mark.parametrize("actions", RESPONSES, ids=lambda a: render_response(a)[:30])
def test_constraint_accepts_canonical_responses(llama2_constraint, actions):
    """llguidance (token level) agrees with the Python regex (robot_sft.grammar)."""
    text = render_response(actions)
    assert is_canonical(text) and llama2_constraint.accepts(text)


@pytest.mark.parametrize("text", ["Move forward 2 meters.", "Move forward 2 m", "Stop. Stop.",
                                  "Cannot comply: no.", "Sure! Move forward 2 m."])
def test_constraint_rejects_other_text(llama2_constraint, text):
    assert not llama2_constraint.accepts(text)


def test_forced_continuation(llama2_constraint, llama2_tokenizer):
    """Once a line is decided, the grammar dictates its rest (a one-step speed lever)."""
    matcher = llama2_constraint.matcher()
    assert matcher.consume_tokens(llama2_tokenizer("Battery", add_special_tokens=False)["input_ids"])
    assert matcher.compute_ff_bytes().decode() == " status: {battery}."


def allowed_after(constraint, tokenizer, text):
    """Feed `text` through the processor token by token, checking each token is allowed;
    return the token ids allowed after it."""
    import torch

    tokens = tokenizer(text, add_special_tokens=False)["input_ids"]
    processor = constraint.logits_processor()
    ids = torch.tensor([[tokenizer.bos_token_id]])
    for token in tokens:
        scores = processor(ids, torch.zeros(1, constraint.vocab_size))
        assert torch.isfinite(scores[0, token]), (text, tokenizer.decode([token]))
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
    scores = processor(ids, torch.zeros(1, constraint.vocab_size))
    return set(torch.isfinite(scores[0]).nonzero().flatten().tolist())


@pytest.mark.parametrize("actions", RESPONSES, ids=lambda a: render_response(a)[:30])
def test_processor_never_masks_a_correct_answer(llama2_constraint, llama2_tokenizer, actions):
    """Teacher-forced: every reference token keeps its logit; then it may stop."""
    allowed = allowed_after(llama2_constraint, llama2_tokenizer, render_response(actions))
    assert set(llama2_constraint.stop_ids) & allowed


def test_after_the_last_line_allowed_only_a_stop(llama2_tokenizer):
    constraint = ResponseConstraint(llama2_tokenizer, max_lines=2)
    allowed = allowed_after(constraint, llama2_tokenizer, "Stop.\nStop.")
    assert allowed == set(constraint.stop_ids)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_model_writes_parseable_responses(llama2_tokenizer, tiny_llama, seed):
    """A random model emits garbage unconstrained; constrained, every answer that ends
    parses (short grammar, ample budget: every answer ends)."""
    model = tiny_llama(llama2_tokenizer, seed=seed)
    constraint = ResponseConstraint(llama2_tokenizer, max_lines=3)
    texts = generate_responses(ConstrainedModel(model, constraint), llama2_tokenizer,
                               COMMANDS, batch_size=4, max_new_tokens=400)
    for text in texts:
        assert is_canonical(text), text
        assert not isinstance(parse_response(text), ParseError)


def test_wrong_vocabulary_size_is_a_clear_error(llama2_constraint):
    import torch

    processor = llama2_constraint.logits_processor()
    with pytest.raises(ValueError, match="vocab_size"):
        processor(torch.tensor([[1]]), torch.zeros(1, llama2_constraint.vocab_size + 3))


@pytest.mark.slow
def test_base_smollm2_constrained_parses_everything(smollm2_tokenizer):
    """The base model with no adapter: unconstrained it chats; constrained, parse rate 100 %
    (a short grammar, so that every answer ends within the budget: the base model likes to
    repeat "Stop." lines up to the limit)."""
    import torch

    from robot_sft.models import load_model

    torch.manual_seed(0)
    model = load_model("embedded")
    constraint = ResponseConstraint(smollm2_tokenizer, vocab_size=model.config.vocab_size,
                                    places=["kitchen", "charging station"], max_lines=2)
    texts = generate_responses(ConstrainedModel(model, constraint), smollm2_tokenizer, COMMANDS,
                               batch_size=10, max_new_tokens=64)  # 2 shape lines fit
    assert all(is_canonical(t, places=constraint.places, max_lines=2) for t in texts), texts
    assert all(not isinstance(parse_response(t), ParseError) for t in texts)
    assert parse_response(texts[COMMANDS.index("battery?")]) == [Status("battery")]


@pytest.mark.parametrize("seed", [0, 1])
def test_fast_decoder_applies_the_grammar(llama2_tokenizer, tiny_llama, seed):
    """The node's path (cached system prompt, lean greedy loop, line streaming) decodes
    under the grammar too: a random model writes only canonical, parseable answers, and
    navigation names only the given places."""
    from robot_sft.inference.base import AnswerTruncated
    from robot_sft.inference.transformers_backend import TransformersModel

    model = TransformersModel(tiny_llama(llama2_tokenizer, seed=seed), llama2_tokenizer,
                              system_prompt="You drive a robot.", max_new_tokens=400)
    unconstrained = [model.respond(command) for command in COMMANDS]
    model.enable_grammar(places=["dock"])  # the node's switch; then a shorter grammar:
    model.constraint = ResponseConstraint(llama2_tokenizer, model.model.config.vocab_size,
                                          places=["dock"], max_lines=3)
    for command in COMMANDS:
        try:
            text = "".join(model.stream_lines(command)).strip()
        except AnswerTruncated:
            pytest.fail(f"a 3-line grammar answer should end within 400 tokens: {command!r}")
        assert is_canonical(text, places=("dock",), max_lines=3), text
        actions = parse_response(text)
        assert not isinstance(actions, ParseError), text
        assert all(a.place == "dock" for a in actions if isinstance(a, Navigate)), text
    assert not all(is_canonical(t) for t in unconstrained)  # the grammar did the work


@pytest.mark.parametrize("seed", [0, 1])
def test_forced_tokens_run_in_one_pass_with_the_same_answer(llama2_tokenizer, tiny_llama, seed):
    """The transformers decoder under a grounded grammar: tokens the grammar forces take no
    pass of their own (they run with the next choice, `feed_many`), and the answer is
    the one-token-per-pass answer (`take_forced` off)."""
    from robot_sft.inference.decoding import DecodeTimes
    from robot_sft.inference.transformers_backend import TransformersModel

    model = TransformersModel(tiny_llama(llama2_tokenizer, seed=seed), llama2_tokenizer,
                              system_prompt="You drive a robot.", max_new_tokens=60)
    constraint = ResponseConstraint(llama2_tokenizer, model.model.config.vocab_size,
                                    places=["dock"], grounded=True)
    saved = 0
    for command in ["move forward 2 meters", "back up 3 ft then turn left 45 degrees slowly",
                    "go to the dock"]:
        fast, slow = DecodeTimes(), DecodeTimes()
        got = list(model.decoder.tokens(command, 60, times=fast,
                                        logits_processor=constraint.logits_processor(command)))
        model.decoder.take_forced = False
        expected = list(model.decoder.tokens(
            command, 60, times=slow, logits_processor=constraint.logits_processor(command)))
        model.decoder.take_forced = True
        assert got == expected, command
        assert fast.passes <= slow.passes and slow.forced == 0
        saved += slow.passes - fast.passes
    assert saved > 0


@pytest.mark.parametrize("command, allowed, refused", [
    ("take a right", "Turn right.", "Turn right 180 deg."),
    ("at 0.5 meters per second for 10 seconds go forward", "Move forward for 10 s at 0.5 m/s.",
     "Move forward 1 m."),
    ("go to the bedroom", "Navigate to bedroom.", "Navigate to dock."),
    ("rotate 90 degrees counter to the clockwise direction", "Turn left 90 deg.",
     "Turn right 90 deg."),
])
def test_a_grounded_constraint_allows_only_the_commands_own_words(llama2_tokenizer, command,
                                                                 allowed, refused):
    constraint = ResponseConstraint(llama2_tokenizer, places=["dock"], grounded=True)
    assert constraint.accepts(allowed, command)
    assert not constraint.accepts(refused, command)
    assert constraint.accepts(refused) == is_canonical(refused, places=("dock",))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("command", ["take a right", "go to the bedroom",
                                     "back up 3 ft then turn left 45 degrees slowly"])
def test_the_numpy_and_torch_paths_choose_the_same_tokens(llama2_tokenizer, command, seed):
    """The greedy decoders' mask (`allowed`, a numpy array, on llama.cpp's numpy logits and
    on the transformers decoder's tensors) masks exactly what generate()'s processor
    (`__call__` on torch scores) masks: random logits walk all three through the same
    grounded grammar, to its end, with equal choices and probabilities."""
    import numpy as np
    import torch

    from robot_sft.inference.decoding import GreedyDecoder

    constraint = ResponseConstraint(llama2_tokenizer, places=["dock"], grounded=True)
    on_numpy, on_tensor, on_call = (constraint.logits_processor(command) for _ in range(3))
    rng, previous = np.random.default_rng(seed), llama2_tokenizer.bos_token_id
    for _ in range(200):
        logits = rng.normal(scale=3.0, size=constraint.vocab_size).astype(np.float32)
        token, probability = GreedyDecoder._choose(logits, previous, on_numpy,
                                                   np.flatnonzero(on_numpy.allowed(previous)))
        expected = (token, pytest.approx(probability, rel=1e-4))
        assert GreedyDecoder._choose(torch.tensor(logits), previous, on_tensor,
                                     np.flatnonzero(on_tensor.allowed(previous))) == expected
        assert GreedyDecoder._choose(torch.tensor(logits), previous, on_call) == expected
        if token in constraint.stop_ids:
            break
        previous = token
    else:
        pytest.fail("the walk did not reach the grammar's end")


@pytest.mark.parametrize("seed", [0, 1])
def test_a_random_model_under_the_grounded_grammar_invents_nothing(llama2_tokenizer, tiny_llama,
                                                                   seed):
    """Whatever a random model writes under a command's own grammar passes the grounding
    check: no number, unit, direction or place the command lacks; and its confidence is
    the probability of its least likely choice."""
    from robot_sft.grounding import check_grounding, dropped_quantities
    from robot_sft.inference.base import AnswerTruncated
    from robot_sft.inference.transformers_backend import TransformersModel

    model = TransformersModel(tiny_llama(llama2_tokenizer, seed=seed), llama2_tokenizer,
                              system_prompt="You drive a robot.", max_new_tokens=400)
    model.constraint = ResponseConstraint(llama2_tokenizer, model.model.config.vocab_size,
                                          max_lines=3, grounded=True)
    for command in COMMANDS:
        try:
            text = "".join(model.stream_lines(command)).strip()
        except AnswerTruncated:
            pytest.fail(f"a 3-line grammar answer should end within 400 tokens: {command!r}")
        actions = parse_response(text)
        assert not isinstance(actions, ParseError), text
        # (leaving a said quantity out is the check's alone: a grammar cannot count uses)
        assert check_grounding(command, actions) == dropped_quantities(command, actions), \
            (command, text)
        assert 0.0 < model.last_confidence <= 1.0


class WantsDecoder:
    """A 'model' that wants to write `wanted` token by token, then to end: the logits put
    the next wanted token (or the end) far ahead of every other token."""

    @staticmethod
    def build(tokenizer, wanted: str, vocab_size: int):
        import numpy as np

        from robot_sft.inference.decoding import GreedyDecoder

        class Decoder(GreedyDecoder):
            def __init__(self):  # no chat template needed: the prompt is one token
                self.tokenizer, self.stop_ids = tokenizer, frozenset([tokenizer.eos_token_id])
                self._newline_cache, self.head_ids, self.fed = {}, [], 0
                self.wanted = tokenizer(wanted, add_special_tokens=False)["input_ids"]

            def prompt_ids(self, command):
                return [tokenizer.bos_token_id], 0

            def _logits(self):
                logits = np.zeros(vocab_size, dtype=np.float32)
                logits[self.wanted[self.fed] if self.fed < len(self.wanted)
                       else tokenizer.eos_token_id] = 20.0
                return logits

            def start(self, ids, reuse_head):
                self.fed = 0
                return self._logits()

            def feed(self, token):
                self.fed += 1
                return self._logits()

        return Decoder()


@pytest.mark.parametrize("command, wanted, answer", [
    # it wants a second line the grammar forbids (no number is left for it): the answer
    # ends where it could, instead of the grammar steering it into some other line
    ("go forward three meter and half then stop", "Move forward 3.5 m.\nMove forward 0.5 m.",
     "Move forward 3.5 m.\n"),
    ("Could you report the battery charge so I know the runtime?",
     "Battery status: {battery}.\nStop.", "Battery status: {battery}.\n"),
    ("go forward three meter and half", "Move forward 3.5 m.\nMove forward 0.5 m.",
     "Move forward 3.5 m.\n"),
    # a second line the grammar allows is written
    ("turn left and then turn right", "Turn left.\nTurn right.", "Turn left.\nTurn right."),
    ("turn left and then go to the dock", "Turn left.\nNavigate to dock.",
     "Turn left.\nNavigate to dock."),
])
def test_a_line_the_grammar_forbids_ends_the_answer_where_it_may_end(llama2_tokenizer, command,
                                                                     wanted, answer):
    from robot_sft.inference.decoding import DecodeTimes

    constraint = ResponseConstraint(llama2_tokenizer, places=["dock"], grounded=True)
    decoder = WantsDecoder.build(llama2_tokenizer, wanted, constraint.vocab_size)
    times = DecodeTimes()
    tokens = list(decoder.tokens(command, 80, times=times,
                                 logits_processor=constraint.logits_processor(command)))
    assert llama2_tokenizer.decode(tokens) == answer and times.stopped
