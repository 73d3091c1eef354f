"""model_backend openai: the answer comes from an OpenAI-compatible inference server.

One GPU server holds the base model and every robot's LoRA adapter (vLLM:
`--enable-lora --lora-modules robot1=DIR ...`, the adapter picked per request by the
`model` field); robots send text. On a CPU, llama.cpp's server on the merged GGUF is
the local stand-in (`python -m robot_sft.export --format gguf|vllm` prints either command
line; docs/fleet.md). The node sees the same CommandModel as with the in-process
backends: lines go to the same reply, grammar, grounding and planning code.

The prompt is exactly the one training used: the adapter's system prompt (its metadata)
rendered with its own tokenizer's chat template (robot_sft.prompting.prompt_text), sent
as text to the plain /v1/completions endpoint. Not /v1/chat/completions: there the
server renders the conversation with *its* template (the base model's, or whatever
--chat-template says), which is not necessarily the one the adapter was trained on, and a
silent difference there changes answers without any error. Both vLLM and llama.cpp's
servers serve /v1/completions. Greedy (temperature 0, no repetition penalty: llama.cpp's
server would apply 1.1), ending on the template's end-of-turn text, as in-process.

Grammar per request, each command's own (robot_sft.grammar.grounded_grammar) when
constrained_decoding is on, else the format grammar (any place name: a grammar of known
places would turn "go to the garden" into a known place). One GBNF text serves both
servers: vLLM takes it as `structured_outputs.grammar` (its guidance backend reads GBNF
and Lark through llguidance, the library the node uses in-process; xgrammar reads GBNF),
llama.cpp's server as `grammar`. Which fields to send (`server_grammar`): auto asks
/v1/models who serves (owned_by "vllm": vLLM; anything else: llama.cpp's field).
A server that ignores the fields it was sent (vLLM >= 0.12 drops the old guided_grammar
with HTTP 200, a gateway may drop unknown fields) answers unconstrained text: every
complete line is checked against the regex form of the same grammar before it is handed
on (robot_sft.grammar.to_regex; the lines so far must begin some answer the grammar
accepts, a partial match, and the whole answer must be one), and an answer outside it
raises GrammarIgnored - nothing of it moves the robot, and the first one is logged with
the server's reply. The partial match is the `regex` package's (transformers depends on
it, and this backend's tokenizer is transformers'): the lines so far are not an answer
of their own where the grammar wants more ("turn right and then go two meters": "Turn
right." must be followed by the said "Move forward 2 m.").

Confidence: the server's log-probability of each chosen token, where the server gives it
cheaply (vLLM: `logprobs: 1`); last_confidence is the least likely one's probability.
It is the probability before the grammar's mask (vLLM's default raw log-probs), so it is
at most the in-process figure: min_confidence refuses a little more often, never less.
llama-cpp-python's server computes log-probs in Python by sorting the whole vocabulary
for every token (~100 ms a token, measured: 4x the answer time), so it is not asked and
last_confidence is 1.0 there (min_confidence then refuses nothing; docs/fleet.md).

Wrong server_model: vLLM answers 404, but llama-cpp-python's server silently answers
with its default model - so the model is looked up in /v1/models before the first
request and again after any failure ("has no model 'x' (it serves: ...)").
"""
from __future__ import annotations

import contextlib
import math
import os
import threading
from functools import lru_cache
from typing import Iterator

from robot_sft.adapter import AdapterError, read_metadata
from robot_sft.grammar import grounded_grammar, response_grammar, to_gbnf, to_regex
from robot_sft.inference.base import AnswerTruncated, LineStreamModel, check_cancel
from robot_sft.inference.http_stream import HttpServer, ServerError, one_line
from robot_sft.inference.server_protocol import (
    COMPLETIONS, MODELS, SERVER_GRAMMARS, completion_request, first_choice, least_logprob,
    server_kind,
)
from robot_sft.prompting import end_of_turn, prompt_text


class GrammarIgnored(ServerError):
    """The server answered text outside the grammar it was sent: it did not apply it."""


def _compiled(root):
    """(GBNF, regex.Pattern) of a grammar: the `regex` package, for partial matches."""
    import regex

    return to_gbnf(root), regex.compile(to_regex(root))


@lru_cache(maxsize=1)
def format_grammar():
    """(GBNF, compiled regex) of the response format, any place name."""
    return _compiled(response_grammar())


def command_grammar(command: str):
    """(GBNF, compiled regex) of one command's own grammar for a server, whose answer
    cannot be cut where the model meant a line the grammar forbids: a navigation first,
    or last, and a refusal may end any answer (the planner and the whole-answer rule then
    refuse it all: what rule 4 of robot_sft.answer does in-process)."""
    return _compiled(grounded_grammar(command, navigation_first=True, open_end=True))


def load_prompt_tokenizer(adapter_dir):
    """The adapter's tokenizer, for its chat template. PreTrainedTokenizerFast reads the
    same files AutoTokenizer does without importing torch (AutoTokenizer does: ~190 MB
    more per robot); an adapter without tokenizer.json falls back to AutoTokenizer."""
    from transformers import PreTrainedTokenizerFast

    try:
        return PreTrainedTokenizerFast.from_pretrained(str(adapter_dir))
    except Exception:  # no fast tokenizer files: the full loader (its error says why)
        from robot_sft.inference.decoding import load_adapter_tokenizer

        return load_adapter_tokenizer(adapter_dir)


def api_key_from_env(name: str) -> str:
    """The bearer key from the environment variable `name` ("" for none). The parameter
    names the variable, never holds the key: parameters can be listed by any node."""
    if not name:
        return ""
    key = os.environ.get(name)
    if not key:
        raise ValueError(f"server_api_key_env names the environment variable {name}, "
                         f"which is not set (or empty) in the controller's environment")
    return key


class OpenAIServerModel(LineStreamModel):
    """A CommandModel whose answers come from /v1/completions of an OpenAI-compatible
    server. Not thread-safe (the node runs one generation at a time)."""

    def __init__(self, server: HttpServer, model_name: str, tokenizer, system_prompt: str,
                 max_new_tokens: int = 128, grammar: str = "auto", grounded: bool = False,
                 warn=None):
        if grammar not in SERVER_GRAMMARS:
            raise ValueError(f"server_grammar must be one of {SERVER_GRAMMARS}, got {grammar!r}")
        if not model_name.strip():
            raise ValueError("server_model is empty: give the name the server serves the "
                             "adapter under (vLLM: --lora-modules NAME=DIR; llama.cpp: "
                             "--model_alias NAME)")
        self.server = server
        self.model_name = model_name
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.max_new_tokens = max_new_tokens
        self.grammar_mode = grammar
        self.grounded = grounded
        self.warn = warn
        self.stop_text = end_of_turn(tokenizer)
        self.server_kind: str | None = None  # "vllm" or "llama_cpp", once looked up
        self.last_confidence = 1.0
        self.ignored_grammar_logged = False

    @property
    def description(self) -> str:
        return (f"inference server {self.server.base}, model {self.model_name!r} "
                f"({self.server_kind or 'not reached yet'}; grammar: {self.grammar_mode})")

    @property
    def dialect(self) -> str:
        """Which grammar fields a request carries: vllm, llama_cpp or none."""
        if self.grammar_mode != "auto":
            return self.grammar_mode
        return self.server_kind or "llama_cpp"

    def connect(self, cancel: threading.Event | None = None) -> str:
        """Look the model up in the server's /v1/models: ServerError when the server is
        down or does not serve it (llama.cpp's would silently answer with another model).
        Returns the server's kind (vllm, or llama_cpp for any other owner)."""
        self.server_kind = server_kind(self.server.get_json(MODELS, cancel), self.model_name,
                                       self.server.base)
        return self.server_kind

    def stream_lines(self, command: str, cancel: threading.Event | None = None) -> Iterator[str]:
        """The answer, each complete line (with its newline) once the server has written
        it and it is inside the grammar sent. Raises GenerationCancelled (cancel set: the
        HTTP stream is closed, which ends the generation on the server), AnswerTruncated
        (max_new_tokens), ServerError (down, slow, HTTP error, broken stream, wrong
        model), GrammarIgnored (an answer outside the grammar)."""
        check_cancel(cancel)
        self.last_confidence = 1.0
        try:
            if self.server_kind is None:
                self.connect(cancel)
            grammar = None
            if self.dialect != "none":
                grammar = command_grammar(command) if self.grounded else format_grammar()
            body = completion_request(
                self.model_name, prompt_text(self.tokenizer, command, self.system_prompt),
                self.max_new_tokens, self.stop_text, self.server_kind, self.dialect,
                grammar[0] if grammar else None)
            yield from self._answer(command, body, grammar, cancel)
        except ServerError:
            self.server_kind = None  # look the model up again before the next request
            raise

    def _answer(self, command: str, body: dict, grammar, cancel) -> Iterator[str]:
        text, emitted, finish, least = "", 0, None, 0.0
        with contextlib.closing(self.server.stream(COMPLETIONS, body, cancel)) as events:
            for event in events:
                choice = first_choice(event, self.server.base)
                text += choice.get("text") or ""
                least = min(least, least_logprob(choice.get("logprobs")))
                finish = choice.get("finish_reason") or finish
                end = text.rfind("\n") + 1
                if end > emitted:
                    self._check(grammar, text[:end], command, partial=True)
                    yield text[emitted:end]
                    emitted = end
        if finish == "length":
            raise AnswerTruncated(f"the answer reached max_new_tokens={self.max_new_tokens} "
                                  f"before its end")
        if finish != "stop":
            raise ServerError(f"the inference server at {self.server.base} ended the answer "
                              f"unfinished (finish_reason {finish!r}; llama_cpp.server: start "
                              f"it with --interrupt_requests False)")
        self._check(grammar, text, command)
        self.last_confidence = math.exp(least)
        if len(text) > emitted:
            yield text[emitted:]

    def _check(self, grammar, text: str, command: str, partial: bool = False) -> None:
        """GrammarIgnored unless `text` is inside the grammar sent: the whole answer, or
        with `partial` the complete lines so far (newline included) as the start of one.
        Not "each prefix of whole lines is an answer": with said amounts it is not
        ("Turn right." alone drops the "2 m" of "turn right and then go two meters")."""
        if grammar is None or grammar[1].fullmatch(text, partial=partial):
            return
        if not self.ignored_grammar_logged and self.warn is not None:
            self.ignored_grammar_logged = True
            self.warn(f"server ignored the grammar ({self.dialect} fields) at "
                      f"{self.server.base}: its reply {text!r} to {command!r} is outside it; "
                      f"no such answer moves the robot (check server_grammar)")
        raise GrammarIgnored(f"the inference server ignored the grammar: its answer "
                             f"{one_line(text, 60)!r} is outside it")


def load(spec, log=None, warn=None) -> OpenAIServerModel:
    """The model a robot_sft.inference.loader.ModelSpec asks for, on this backend. The
    adapter directory needs its metadata and tokenizer only (the server has the weights).
    A server that cannot be reached yet is a warning, not an error: the robot starts, and
    each command says what is wrong until the server answers."""
    metadata = read_metadata(spec.adapter, weights=False)
    try:
        tokenizer = load_prompt_tokenizer(spec.adapter)
    except Exception as exc:
        raise AdapterError(f"cannot load the tokenizer in {spec.adapter}: "
                           f"{type(exc).__name__}: {exc}") from exc
    server = HttpServer(spec.server_url, api_key_from_env(spec.server_api_key_env),
                        spec.server_timeout)
    model = OpenAIServerModel(server, spec.server_model, tokenizer, metadata.system_prompt,
                              spec.max_new_tokens, spec.server_grammar, spec.constrained,
                              warn=warn)
    try:
        kind = model.connect()
    except ServerError as exc:
        if warn is not None:
            warn(f"{exc}; the robot starts anyway and each command says so until it answers")
    else:
        if log is not None:
            log(f"inference server {server.base} serves {spec.server_model!r} ({kind}; "
                f"grammar fields: {model.dialect})")
    return model
