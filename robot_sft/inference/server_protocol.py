"""The OpenAI-compatible wire format as vLLM and llama.cpp's servers speak it: what a
/v1/completions request carries, who serves a model (/v1/models), what a streamed event
says. Pure (dicts in, dicts out), so the node's parameter checks can use SERVER_GRAMMARS
without the model layer, and the differences between servers sit in one place:

                      vLLM                         llama.cpp (llama-cpp-python, llama-server)
    grammar field     structured_outputs.grammar   grammar (GBNF)
                      (>= 0.12; guided_grammar is
                      silently ignored since)
    log-probs         logprobs: 1, cheap           llama-cpp-python: ~100 ms a token (Python
                                                   sort of the vocabulary): not asked
    repetition        repetition_penalty 1.0       repeat_penalty (default 1.1!) 1.0
    prompt tokens     add_special_tokens: false    the GGUF's add_bos flag (SmolLM2: none)
    unknown model     HTTP 404                     llama-cpp-python: answers with its
                                                   default model - looked up first
    owned_by          "vllm"                       "me" / "llamacpp"
"""
from __future__ import annotations

import math

from robot_sft.inference.http_stream import ServerError, one_line

SERVER_GRAMMARS = ("auto", "vllm", "llama_cpp", "none")
COMPLETIONS = "/v1/completions"
MODELS = "/v1/models"


def server_kind(listing, model_name: str, base: str) -> str:
    """"vllm" or "llama_cpp" (any other owner), from a /v1/models answer that lists
    `model_name`; ServerError when it does not."""
    entries = listing.get("data") if isinstance(listing, dict) else None
    models = {m.get("id"): m for m in entries or [] if isinstance(m, dict)}
    if model_name not in models:
        served = ", ".join(sorted(str(m) for m in models)) or "nothing"
        raise ServerError(f"the inference server at {base} has no model {model_name!r} (it "
                          f"serves: {one_line(served, 120)}): check server_model")
    return "vllm" if models[model_name].get("owned_by") == "vllm" else "llama_cpp"


def completion_request(model_name: str, prompt: str, max_tokens: int, stop: str, kind: str,
                       dialect: str, grammar: str | None) -> dict:
    """A streamed, greedy /v1/completions body. `kind`: the server (vllm, llama_cpp);
    `dialect`: which grammar field carries `grammar` (vllm, llama_cpp; none: no grammar)."""
    body = {"model": model_name, "prompt": prompt, "max_tokens": max_tokens,
            "temperature": 0.0, "top_p": 1.0, "stream": True, "stop": [stop]}
    if kind == "vllm":
        # the prompt text already holds every special token the chat template writes
        body.update(add_special_tokens=False, repetition_penalty=1.0, logprobs=1)
    else:
        body["repeat_penalty"] = 1.0
    if grammar is not None and dialect == "vllm":
        body["structured_outputs"] = {"grammar": grammar}
    elif grammar is not None and dialect == "llama_cpp":
        body["grammar"] = grammar
    return body


def first_choice(event: dict, base: str) -> dict:
    """The event's first choice (ServerError when it has none)."""
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise ServerError(f"the inference server at {base} sent an event without choices: "
                          f"{one_line(str(event), 80)!r}")
    return choices[0]


def least_logprob(logprobs) -> float:
    """The lowest log-probability among a choice's chosen tokens (0.0: none given)."""
    values = logprobs.get("token_logprobs") if isinstance(logprobs, dict) else None
    numbers = [v for v in values or () if isinstance(v, (int, float)) and math.isfinite(v)]
    return min(numbers, default=0.0)
