"""model_backend openai against a real llama.cpp server (python -m llama_cpp.server on
127.0.0.1): the same answers as the in-process backend, and every way the server can
fail ends in a ServerError that says what happened, in one line (the node turns it into
"Not moving: ..." and keeps serving)."""
import shutil
import signal
import threading
import time

import pytest

pytest.importorskip("transformers")
from inference_server import (  # noqa: E402
    MODEL_NAME, require_llama_server, served_adapter, start_server,
)

from robot_sft.inference.base import GenerationCancelled  # noqa: E402
from robot_sft.inference.http_stream import ServerError  # noqa: E402
from robot_sft.inference.loader import ModelSpec, load_command_model  # noqa: E402
from robot_sft.inference.openai_backend import GrammarIgnored  # noqa: E402
from robot_sft.node_processes import NodeProcesses, free_port  # noqa: E402

pytestmark = pytest.mark.slow  # the embedded SmolLM2, merged and served

COMMANDS = ["Move forward 1 m.", "Turn right 45 deg.", "turn left 90 degrees then go back 50 cm",
            "What is the battery level?"]


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    require_llama_server()
    root = tmp_path_factory.mktemp("served")
    adapter, gguf = served_adapter(root)
    with NodeProcesses(root / "logs", domain_id=0, namespace="server") as nodes:
        url = start_server(nodes, gguf)
        yield adapter, gguf, url, nodes


def server_model(served, warnings=None, **options):
    adapter, _, url, _ = served
    spec = ModelSpec(backend="openai", adapter=str(adapter), server_url=url,
                     server_model=MODEL_NAME, max_new_tokens=48, **options)
    return load_command_model(spec, warn=warnings.append if warnings is not None else None)


def diverges_at_a_near_tie(local, command: str, other: str, tolerance: float) -> bool:
    """Walk the in-process greedy answer token by token: where `other` first leaves it,
    were the two best tokens within `tolerance` logits (a tie that the order of float
    sums may flip: the server evaluates the prompt in other batches)?"""
    import numpy as np

    decoder, tokenizer = local.decoder, local.tokenizer
    ids, reused = decoder.prompt_ids(command)
    logits, tokens = decoder.start(ids[reused:], reuse_head=reused > 0), []
    for _ in range(local.generation_config.max_new_tokens):
        values = np.asarray(logits, dtype=np.float64)
        best, second = np.sort(values)[-1], np.sort(values)[-2]
        token = int(values.argmax())
        if token in decoder.stop_ids or not other.startswith(
                tokenizer.decode(tokens + [token], skip_special_tokens=True)):
            return best - second < tolerance
        tokens.append(token)
        logits = decoder.feed(token)
    return False


def test_the_server_answers_what_the_in_process_backend_answers(served):
    """Same GGUF, same prompt, greedy, no grammar on either side: the same answers (up to
    a near tie deep in free text), so the prompt the server gets is the one training used,
    token for token. (Under a grammar they may differ: llguidance, in-process and in vLLM,
    allows only the canonical tokens of text the grammar forces - ' status' after
    'Battery' - llama.cpp's grammar also ' ' + 'status'. docs/fleet.md.)"""
    from robot_sft.inference.llama_cpp_backend import LlamaCppModel

    adapter, _, _, _ = served
    local = LlamaCppModel.from_adapter(adapter, max_new_tokens=48, n_threads=1)
    remote = server_model(served, server_grammar="none")
    try:
        for command in COMMANDS:
            expected, got = local.respond(command), remote.respond(command)
            assert got.splitlines()[0] == expected.splitlines()[0], command
            assert got == expected or diverges_at_a_near_tie(local, command, got, 0.1), \
                (command, got, expected)
    finally:
        local.close()


def test_llama_cpp_tokenises_the_prompt_as_training_did(served):
    """The server gets the prompt as text: llama.cpp's tokenizer (the GGUF's vocabulary)
    must make the very token ids the adapter's own tokenizer made in training."""
    import llama_cpp

    from robot_sft.inference.decoding import load_adapter_tokenizer
    from robot_sft.prompting import prompt_text
    from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT

    adapter, gguf, _, _ = served
    tokenizer = load_adapter_tokenizer(adapter)
    vocab = llama_cpp.Llama(str(gguf), vocab_only=True, verbose=False)
    for command in COMMANDS + ["drive 2 m at 0.5 m/s, then STOP!", "停止 ! arrête"]:
        prompt = prompt_text(tokenizer, command, DEFAULT_SYSTEM_PROMPT)
        expected = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        # what llama_cpp.server's create_completion does with a text prompt
        assert vocab.tokenize(prompt.encode("utf-8"), add_bos=True, special=True) == expected


def test_the_prompt_template_needs_no_torch(served):
    """A robot on a server keeps no model: loading its adapter's tokenizer for the chat
    template must not import torch (~190 MB a robot)."""
    import subprocess
    import sys

    adapter = served[0]
    code = ("import sys; from robot_sft.inference.openai_backend import load_prompt_tokenizer; "
            f"load_prompt_tokenizer({str(adapter)!r}); print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr


def test_an_adapter_without_weights_is_enough(served, tmp_path):
    adapter = served[0]
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja",
                 "robot_sft.json"):
        if (adapter / name).is_file():
            shutil.copy2(adapter / name, tmp_path / name)
    assert not (tmp_path / "adapter_model.safetensors").exists()
    full = server_model(served)
    bare = server_model((tmp_path, *served[1:]))
    assert bare.respond(COMMANDS[0]) == full.respond(COMMANDS[0])


def test_a_server_that_ignores_the_grammar_moves_nothing_and_is_logged_once(served):
    """vLLM >= 0.12 drops the old guided_grammar field and answers HTTP 200 with free
    text. Here: vLLM's field sent to llama.cpp's server, which ignores it the same way."""
    warnings = []
    model = server_model(served, warnings, server_grammar="vllm")
    for command in COMMANDS[:2]:
        with pytest.raises(GrammarIgnored, match="ignored the grammar"):
            for _ in model.stream_lines(command):
                pass  # no line outside the grammar is ever handed on
    assert len(warnings) == 1 and "server ignored the grammar" in warnings[0], warnings
    assert "reply '" in warnings[0]  # with the server's text
    # Sent the right way, the same server keeps to it.
    assert server_model(served, server_grammar="llama_cpp").respond(COMMANDS[0])


def test_a_wrong_server_model_is_refused_before_llama_cpp_answers_with_another(served):
    import http.client
    import json
    from urllib.parse import urlsplit

    _, _, url, _ = served
    # Why the client looks the model up: llama-cpp-python's server answers any name.
    address = urlsplit(url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=60)
    connection.request("POST", "/v1/completions", json.dumps(
        {"model": "nope", "prompt": "Hi", "max_tokens": 2}), {"Content-Type": "application/json"})
    assert connection.getresponse().status == 200
    connection.close()

    adapter = served[0]
    warnings = []
    model = load_command_model(ModelSpec(backend="openai", adapter=str(adapter), server_url=url,
                                         server_model="nope"), warn=warnings.append)
    assert "has no model 'nope' (it serves: robot)" in warnings[0]  # at start: a warning
    with pytest.raises(ServerError, match="has no model 'nope' .it serves: robot.: check "
                                          "server_model"):
        model.respond(COMMANDS[0])


def test_a_server_that_is_down_fails_at_once_and_is_found_when_it_comes_up(served, tmp_path):
    adapter, gguf, _, _ = served
    port = free_port()
    model = load_command_model(ModelSpec(backend="openai", adapter=str(adapter),
                                         server_url=f"http://127.0.0.1:{port}/v1",
                                         server_model=MODEL_NAME, max_new_tokens=48))
    started = time.monotonic()
    with pytest.raises(ServerError, match="cannot reach the inference server at "
                                          f"http://127.0.0.1:{port} .connection refused"):
        model.respond(COMMANDS[0])
    assert time.monotonic() - started < 1.0
    with NodeProcesses(tmp_path, domain_id=0, namespace="late") as nodes:
        start_server(nodes, gguf, port=port)
        assert model.respond(COMMANDS[0]) == server_model(served).respond(COMMANDS[0])


def first_piece_then_cancel(model, command, timeout):
    """Stream `command`; set cancel once the first piece arrived. (exception, seconds
    from cancel to the exception)."""
    cancel = threading.Event()
    outcome = {}

    def run():
        try:
            for _ in model.stream_lines(command, cancel):
                if not cancel.is_set():
                    outcome["set"] = time.monotonic()
                    cancel.set()
        except BaseException as exc:  # noqa: BLE001
            outcome["error"], outcome["at"] = exc, time.monotonic()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout)
    return outcome


def test_cancel_ends_the_answer_at_once_and_closes_the_stream(served):
    _, _, _, nodes = served
    model = server_model(served, constrained=True)
    # Four said amounts: the command's grammar makes the answer four lines long.
    command = "Turn left 90 deg, move forward 1 m, turn right 45 deg, then move back 2 m."
    assert model.respond(command).count("\n") >= 3  # still streaming after its first line
    before = nodes.log("server").count("Disconnected from client")
    outcome = first_piece_then_cancel(model, command, 30)
    assert isinstance(outcome.get("error"), GenerationCancelled), outcome
    assert outcome["at"] - outcome["set"] < 0.1
    # The server saw the client go (and stopped generating for it).
    deadline = time.monotonic() + 5
    while nodes.log("server").count("Disconnected from client") == before \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert nodes.log("server").count("Disconnected from client") > before
    assert model.respond(COMMANDS[0])  # and serves the next one


def test_a_hung_server_times_out_cancel_still_works_and_it_recovers(served):
    """SIGSTOP: the server keeps its connections open and sends nothing (a hung or
    overloaded server)."""
    _, _, _, nodes = served
    process = nodes.processes["server"]
    model = server_model(served, server_timeout=1.0)
    assert model.respond(COMMANDS[1])
    process.send_signal(signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(ServerError, match="sent nothing for server_timeout=1 s"):
            model.respond(COMMANDS[1])
        assert 0.9 < time.monotonic() - started < 2.0
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        started = time.monotonic()
        with pytest.raises(GenerationCancelled):
            model.respond(COMMANDS[1], cancel)
        assert time.monotonic() - started < 0.45  # not server_timeout
    finally:
        process.send_signal(signal.SIGCONT)
    time.sleep(0.5)
    assert model.respond(COMMANDS[1]) == server_model(served).respond(COMMANDS[1])


def test_a_stream_the_server_breaks_off_is_an_error(served):
    """llama.cpp's server fails a prompt longer than its context after it has sent the
    stream's headers: the stream just ends, without [DONE]."""
    model = server_model(served)
    with pytest.raises(ServerError, match="broke the answer off"):
        model.respond("go " * 3000)
    assert model.respond(COMMANDS[0])


def test_a_server_error_is_one_line_and_the_next_command_is_served(served):
    """llama-cpp-python's server answers a request it cannot validate with HTTP 500 and
    a traceback in the body: the robot says one line of it."""
    model = server_model(served)
    model.max_new_tokens = -1
    with pytest.raises(ServerError) as error:
        model.respond(COMMANDS[0])
    text = str(error.value)
    assert "answered POST /v1/completions with HTTP 500 Internal Server Error" in text
    assert "greater than or equal to 0" in text and "\n" not in text and len(text) < 400
    model.max_new_tokens = 48
    assert model.respond(COMMANDS[0])
