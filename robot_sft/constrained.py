"""Grammar-constrained decoding: the model can only write canonical responses.

At every step a logits processor masks the tokens that would leave the grammar of
`robot_sft.grammar`, so any model - even the base model with no adapter - answers
with text that `parse_response` accepts. Small interface, one library behind it:

    constraint = ResponseConstraint(tokenizer, vocab_size=model.config.vocab_size)
    model.generate(..., logits_processor=[constraint.logits_processor()])
    # or wrap the model, so code that calls model.generate() needs no change:
    generate_responses(ConstrainedModel(model, constraint), tokenizer, commands)

Why llguidance (measured on SmolLM2-135M, CPU, 1 thread, greedy, 8 commands; see
test/test_constrained.py and benchmarks/):

    library               setup     mask per token   end-to-end     fits transformers 5
    none                  -         -                40.1 ms/token  -
    xgrammar 0.2.8        129 ms    0.27 ms          39.9 ms/token  yes (contrib.hf)
    llguidance 1.9.1      255 ms    0.36 ms          43.6 ms/token* yes (bitmask helpers)
    lm-format-enforcer    -         -                -              no: imports the removed
      0.11.3                                                        transformers.tokenization_utils
    (* different, longer outputs: the mask costs 0.36 ms of the ~40 ms step)

Both working candidates cost under 1 % of a 135M-parameter forward pass on CPU, so
the difference is noise; llguidance wins on what is left: a single dependency-free
abi3 wheel (`pip install llguidance`) where xgrammar pulls triton and apache-tvm-ffi,
it reads the GBNF grammar (and regexes) directly, it takes several end-of-turn ids (so
Llama-3's <|eot_id|> ends a response like <|im_end|> does), and it reports forced
continuations (`compute_ff_tokens`) for a future "write fixed text in one step" path.

Budget: the processor never ends a response early to fit max_new_tokens - a response
shortened at a line end would parse and execute part of what was asked (half a square).
Every response that ends with a stop token parses. A response cut by the budget usually
stops mid-line and does not parse; one cut exactly at a line end would, so callers must
treat "max_new_tokens reached without a stop token" as a failed answer. The grammar allows one line more than the planner accepts
(`robot_sft.grammar.DEFAULT_MAX_LINES`), so a model that wants more actions ends with a
response the planner refuses, not a silently shortened one.
"""
from __future__ import annotations

from robot_sft.grammar import DEFAULT_MAX_LINES, response_gbnf
from robot_sft.inference import end_of_turn_ids

INSTALL_HINT = "constrained decoding needs llguidance: pip install llguidance"


def _llguidance():
    try:
        import llguidance
        import llguidance.hf
        import llguidance.torch
    except ImportError as exc:  # optional dependency: say how to get it
        raise ImportError(INSTALL_HINT) from exc
    return llguidance


class ResponseConstraint:
    """The response grammar compiled for one tokenizer; hands out fresh logits processors
    (a processor holds per-generation state, so use one per generate() call)."""

    def __init__(self, tokenizer, vocab_size: int | None = None, places=None,
                 max_lines: int = DEFAULT_MAX_LINES, stop_ids=None):
        llg = _llguidance()
        self.tokenizer = tokenizer
        self.vocab_size = vocab_size or len(tokenizer)
        self.stop_ids = list(stop_ids or end_of_turn_ids(tokenizer))
        self.places = tuple(places) if places else None
        self.grammar_text = response_gbnf(self.places, max_lines)
        self._lltokenizer = llg.hf.from_tokenizer(
            tokenizer, n_vocab=self.vocab_size, eos_token=self.stop_ids)
        self._grammar = llg.grammar_from("gbnf", self.grammar_text)
        error = llg.LLMatcher.validate_grammar(self._grammar, self._lltokenizer)
        if error:
            raise ValueError(f"the response grammar does not compile: {error}")

    def matcher(self):
        return _llguidance().LLMatcher(self._lltokenizer, self._grammar, log_level=0)

    def accepts(self, text: str) -> bool:
        """True when the grammar accepts `text` as a whole response (tokenised as usual)."""
        matcher = self.matcher()
        tokens = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return matcher.consume_tokens(tokens) and matcher.is_accepting()

    def logits_processor(self):
        return GrammarLogitsProcessor(self)


class GrammarLogitsProcessor:
    """A transformers logits processor (duck-typed: generate() only calls it, and importing
    this module stays cheap).
    One grammar matcher per batch row; rows that have finished only allow a stop token."""

    def __init__(self, constraint: ResponseConstraint):
        self.constraint = constraint
        self.matchers = None

    def __call__(self, input_ids, scores):
        import torch

        llg_torch = _llguidance().torch
        batch = input_ids.shape[0]
        if scores.shape[-1] != self.constraint.vocab_size:
            raise ValueError(f"logits have {scores.shape[-1]} entries but the constraint was "
                             f"built for vocab_size={self.constraint.vocab_size}")
        if self.matchers is None:  # first step: the prompt, nothing generated yet
            self.matchers = [self.constraint.matcher() for _ in range(batch)]
            self.bitmask = llg_torch.allocate_token_bitmask(batch, self.constraint.vocab_size)
        else:
            for row, matcher in enumerate(self.matchers):
                if not matcher.is_stopped():
                    token = int(input_ids[row, -1])
                    if not matcher.consume_token(token):
                        raise RuntimeError(f"token {token} left the response grammar: "
                                           f"{matcher.get_error()}")
        finished = [row for row, m in enumerate(self.matchers) if m.is_stopped()]
        for row, matcher in enumerate(self.matchers):
            if row not in finished:
                llg_torch.fill_next_token_bitmask(matcher, self.bitmask, row)
        # A finished row (the grammar is complete, or generate() pads it) may only stop.
        stops = torch.tensor(self.constraint.stop_ids)
        kept = scores[finished][:, stops].clone() if finished else None
        llg_torch.apply_token_bitmask_inplace(scores, self.bitmask.to(scores.device))
        if finished:
            rows = torch.tensor(finished)
            scores[rows] = -torch.inf
            scores[rows[:, None], stops] = kept
        return scores


class ConstrainedModel:
    """A causal LM whose generate() always applies the response grammar. Everything else is
    the wrapped model's, so it drops into code that takes a model (generation, the node)."""

    def __init__(self, model, constraint: ResponseConstraint):
        self.model = model
        self.constraint = constraint

    def __getattr__(self, name):
        return getattr(self.__dict__["model"], name)

    def eval(self):  # nn.Module.eval/train return the module: keep the wrapper instead
        self.model.eval()
        return self

    def train(self, mode: bool = True):
        self.model.train(mode)
        return self

    def generate(self, *args, **kwargs):
        processor = self.constraint.logits_processor()
        kwargs["logits_processor"] = list(kwargs.get("logits_processor") or []) + [processor]
        return self.model.generate(*args, **kwargs)


def make_logits_processor(tokenizer, **kwargs):
    """One-off convenience; build a ResponseConstraint once when generating repeatedly."""
    return ResponseConstraint(tokenizer, **kwargs).logits_processor()
