"""robot_sft.inference.http_stream and the openai backend's checks, against a tiny raw
TCP server in this process that answers what a broken server or proxy sends (HTTP 503
with an HTML page, half an event, JSON instead of a stream, an answer interrupted with
[DONE]). The real llama.cpp server cannot be made to send these on demand; everything it
does send is tested in test_openai_backend.py. Fast: no model."""
import json
import socket
import threading
import time

import pytest

from robot_sft.controller_config import make_config
from robot_sft.inference.base import GenerationCancelled
from robot_sft.inference.http_stream import HttpServer, ServerError, server_base
from robot_sft.inference.server_protocol import completion_request, least_logprob, server_kind


class RawServer:
    """Accepts connections on 127.0.0.1 and answers each request with `reply(request)`
    (bytes, sent as they are; None: send nothing and hold the connection open)."""

    def __init__(self, reply):
        self.reply = reply
        self.requests: list[bytes] = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.open: list[socket.socket] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.open.append(conn)
            data = b""
            while b"\r\n\r\n" not in data:
                data += conn.recv(65536)
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(next((line.split(b":")[1] for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), b"0"))
            while len(body) < length:
                body += conn.recv(65536)
            self.requests.append(head + b"\r\n\r\n" + body)
            answer = self.reply(head + b"\r\n\r\n" + body)
            if answer is not None:
                conn.sendall(answer)
                conn.close()

    def closed_by_client(self, timeout=2.0) -> bool:
        """The last connection was closed by the client (reads end-of-file)."""
        conn = self.open[-1]
        conn.settimeout(timeout)
        try:
            return conn.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.sock.close()
        for conn in self.open:
            conn.close()


def http(status: str, body: bytes, kind: str = "text/event-stream") -> bytes:
    return (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
            f"Connection: close\r\n\r\n").encode() + body


def event(text: str, finish=None) -> bytes:
    data = {"choices": [{"text": text, "index": 0, "logprobs": None, "finish_reason": finish}]}
    return f"data: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def raw():
    servers = []

    def start(reply):
        servers.append(RawServer(reply))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def collect(server: HttpServer, cancel=None):
    return list(server.stream("/v1/completions", {"prompt": "x"}, cancel))


def test_an_http_error_page_is_one_line(raw):
    page = b"<html>\n<head><title>503 Service Temporarily Unavailable</title></head>\n</html>\n"
    server = raw(lambda request: http("503 Service Temporarily Unavailable", page, "text/html"))
    with pytest.raises(ServerError) as error:
        collect(HttpServer(server.url))
    text = str(error.value)
    assert text.startswith(f"the inference server at {server.url} answered POST "
                           f"/v1/completions with HTTP 503 Service Temporarily Unavailable: "
                           f"<html> <head><title>503")
    assert "\n" not in text


def test_an_openai_style_error_says_its_message(raw):
    body = json.dumps({"object": "error", "message": "The model `nope` does not exist.",
                       "type": "NotFoundError", "code": 404}).encode()
    server = raw(lambda request: http("404 Not Found", body, "application/json"))
    with pytest.raises(ServerError, match="HTTP 404 Not Found: The model `nope` does not exist"):
        collect(HttpServer(server.url))


@pytest.mark.parametrize("stream, message", [
    (event("Move") + b'data: {"choices": [{"text": "forw', "sent a malformed event"),
    (event("Move") + b'data: {"choices": [{"te\n\n', "sent a malformed event"),
    (event("Move"), "broke the answer off"),
    (b'data: {"error": {"message": "CUDA out of memory"}}\n\n', "reported an error: CUDA out"),
    (b"data: [1, 2]\n\n", "event that is not an object"),
])
def test_a_broken_stream_is_an_error_not_an_answer(raw, stream, message):
    server = raw(lambda request: http("200 OK", stream))
    with pytest.raises(ServerError, match=message):
        collect(HttpServer(server.url))


def test_json_where_a_stream_was_asked_for_is_an_error(raw):
    server = raw(lambda request: http("200 OK", b'{"choices": []}', "application/json"))
    with pytest.raises(ServerError, match="did not stream .Content-Type application/json"):
        collect(HttpServer(server.url))


def test_comments_and_blank_lines_are_skipped_and_done_ends_the_stream(raw):
    stream = b": ping\n\n" + event("Move") + b"\n" + event(" on.", "stop") + b"data: [DONE]\n\n"
    server = raw(lambda request: http("200 OK", stream))
    events = collect(HttpServer(server.url))
    assert [e["choices"][0]["text"] for e in events] == ["Move", " on."]


def test_a_silent_server_times_out_and_a_cancel_ends_the_wait_at_once(raw):
    server = raw(lambda request: None)  # takes the request, never answers
    started = time.monotonic()
    with pytest.raises(ServerError, match="sent nothing for server_timeout=0.5 s"):
        collect(HttpServer(server.url, timeout=0.5))
    assert 0.45 < time.monotonic() - started < 1.0
    cancel = threading.Event()
    threading.Timer(0.2, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(GenerationCancelled):
        collect(HttpServer(server.url, timeout=30.0), cancel)
    assert time.monotonic() - started < 0.3
    assert server.closed_by_client()  # the connection is gone: the server stops generating


def test_nothing_listening_is_refused_at_once():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ServerError, match=f"cannot reach the inference server at "
                                          f"http://127.0.0.1:{port} .connection refused"):
        collect(HttpServer(f"http://127.0.0.1:{port}"))
    assert time.monotonic() - started < 0.5


def test_the_api_key_comes_from_the_named_variable_and_goes_as_a_bearer_token(raw, monkeypatch,
                                                                                tmp_path):
    from robot_sft.inference.openai_backend import api_key_from_env

    monkeypatch.setenv("FLEET_TEST_KEY", "s3cret")
    assert api_key_from_env("FLEET_TEST_KEY") == "s3cret"
    assert api_key_from_env("") == ""
    with pytest.raises(ValueError, match="names the environment variable FLEET_UNSET_KEY, "
                                         "which is not set"):
        api_key_from_env("FLEET_UNSET_KEY")
    server = raw(lambda request: http("200 OK", b'{"data": []}', "application/json"))
    HttpServer(server.url, api_key="s3cret").get_json("/v1/models")
    assert b"Authorization: Bearer s3cret" in server.requests[-1]


@pytest.mark.parametrize("url, base", [
    ("http://gpu:8000", "http://gpu:8000"), ("http://gpu:8000/v1", "http://gpu:8000"),
    ("https://gpu.example/llm/v1/", "https://gpu.example/llm"),
])
def test_server_urls(url, base):
    assert server_base(url) == base


@pytest.mark.parametrize("override, message", [
    ({"server_url": "gpu:8000"}, "server_url must be an http:// or https:// URL"),
    ({"server_model": " "}, "server_model is empty"),
    ({"server_grammar": "guided"}, "server_grammar must be one of"),
    ({"server_timeout": 0.0}, "server_timeout must be a positive number"),
])
def test_server_parameters_are_checked(override, message):
    values = {"model_backend": "openai", "server_model": "robot1", **override}
    with pytest.raises(ValueError, match=message):
        make_config(values)


def test_which_server_and_which_fields():
    vllm = {"data": [{"id": "base", "owned_by": "vllm"}, {"id": "robot1", "owned_by": "vllm",
                                                           "parent": "base"}]}
    assert server_kind(vllm, "robot1", "u") == "vllm"
    assert server_kind({"data": [{"id": "robot", "owned_by": "me"}]}, "robot", "u") == "llama_cpp"
    with pytest.raises(ServerError, match="has no model 'robot2' .it serves: base, robot1."):
        server_kind(vllm, "robot2", "u")
    body = completion_request("robot1", "P", 64, "<|im_end|>", "vllm", "vllm", "root ::= \"a\"")
    assert body["structured_outputs"] == {"grammar": "root ::= \"a\""}
    assert "grammar" not in body and "guided_grammar" not in body  # ignored since vLLM 0.12
    assert body["logprobs"] == 1 and body["add_special_tokens"] is False
    assert body["temperature"] == 0.0 and body["stream"] is True and body["stop"] == ["<|im_end|>"]
    body = completion_request("robot", "P", 64, "<|im_end|>", "llama_cpp", "llama_cpp", "G")
    assert body["grammar"] == "G" and body["repeat_penalty"] == 1.0 and "logprobs" not in body
    assert "grammar" not in completion_request("r", "P", 64, "e", "llama_cpp", "none", None)
    assert least_logprob({"token_logprobs": [-0.1, None, -2.5]}) == -2.5
    assert least_logprob(None) == 0.0


@pytest.fixture
def tokenizer_dir(tmp_path):
    pytest.importorskip("transformers")
    from tiny_models import make_tokenizer

    from robot_sft.adapter import AdapterMetadata, write_metadata
    from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT

    make_tokenizer().save_pretrained(tmp_path)  # no weights: what a robot on a server needs
    write_metadata(tmp_path, AdapterMetadata(base_model="embedded",
                                             system_prompt=DEFAULT_SYSTEM_PROMPT,
                                             chat_template="chatml"))
    return tmp_path


def answering(*events: bytes, models=b'{"data": [{"id": "robot", "owned_by": "me"}]}'):
    def reply(request: bytes):
        if request.startswith(b"GET /v1/models"):
            return http("200 OK", models, "application/json")
        return http("200 OK", b"".join(events) + b"data: [DONE]\n\n")
    return reply


def openai_model(url, adapter, **options):
    from robot_sft.inference.loader import ModelSpec, load_command_model

    warnings = []
    spec = ModelSpec(backend="openai", adapter=str(adapter), server_url=url,
                     server_model="robot", **options)
    return load_command_model(spec, warn=warnings.append), warnings


def test_an_answer_the_server_cut_short_is_not_an_answer(raw, tokenizer_dir):
    """llama-cpp-python's server, left at --interrupt_requests True, ends a streaming answer
    with [DONE] when another request arrives: no finish_reason, half an answer."""
    server = raw(answering(event("Move forward 1 m.\nTurn")))
    model, _ = openai_model(server.url, tokenizer_dir, server_grammar="none")
    with pytest.raises(ServerError, match="ended the answer unfinished .finish_reason None; "
                                          "llama_cpp.server: start it with "
                                          "--interrupt_requests False"):
        list(model.stream_lines("Move forward 1 m. then turn left"))


def test_a_line_outside_the_grammar_is_never_handed_on(raw, tokenizer_dir):
    """Checked line by line: the grammatical first line is handed on, the second is not."""
    server = raw(answering(event("Move forward 1 m.\n"), event("Moonwalk 3 m.\n"),
                           event("Stop.", "stop")))
    from robot_sft.inference.openai_backend import GrammarIgnored

    model, warnings = openai_model(server.url, tokenizer_dir, server_grammar="llama_cpp")
    lines = []
    with pytest.raises(GrammarIgnored):
        for line in model.stream_lines("Move forward 1 m."):
            lines.append(line)
    assert lines == ["Move forward 1 m.\n"]
    assert len(warnings) == 1 and "Moonwalk" in warnings[0]
    assert b'"grammar": "root ::=' in server.requests[-1]


def test_a_line_that_must_be_followed_by_the_said_amount_is_handed_on(raw, tokenizer_dir):
    """Each command's grammar wants every amount it says: for "turn right and then go two
    meters", "Turn right." alone is not an answer, but it begins one. The lines so far are
    checked as the start of an answer (they were checked as a whole answer, and a fleet
    robot refused 44 of the 650 independent commands as "server ignored the grammar")."""
    server = raw(answering(event("Turn right.\n"), event("Move forward 2 m.", "stop")))
    model, warnings = openai_model(server.url, tokenizer_dir, server_grammar="llama_cpp",
                                   constrained=True)
    command = "turn right and then go two meters"
    assert list(model.stream_lines(command)) == ["Turn right.\n", "Move forward 2 m."]
    assert warnings == []
    # ... and an answer that stops there, dropping the said "2 m", is still outside it.
    server = raw(answering(event("Turn right.", "stop")))
    model, warnings = openai_model(server.url, tokenizer_dir, server_grammar="llama_cpp",
                                   constrained=True)
    from robot_sft.inference.openai_backend import GrammarIgnored

    with pytest.raises(GrammarIgnored):
        list(model.stream_lines(command))


def test_truncation_and_confidence_from_logprobs(raw, tokenizer_dir):
    from robot_sft.inference.base import AnswerTruncated

    server = raw(answering(event("Move forward", None), event(" 1 m", "length")))
    model, _ = openai_model(server.url, tokenizer_dir, server_grammar="none")
    with pytest.raises(AnswerTruncated):
        list(model.stream_lines("Move forward 1 m."))
    logprobs = {"data": [{"id": "robot", "owned_by": "vllm"}]}
    pieces = [{"choices": [{"text": text, "logprobs": {"token_logprobs": values},
                            "finish_reason": None}]}
              for text, values in (("Move forward", [-0.01, -0.2]), (" 1 m.", [-0.05, -0.7]))]
    pieces.append({"choices": [{"text": "", "logprobs": None, "finish_reason": "stop"}]})
    stream = b"".join(f"data: {json.dumps(p)}\n\n".encode() for p in pieces)
    server = raw(answering(stream, models=json.dumps(logprobs).encode()))
    model, _ = openai_model(server.url, tokenizer_dir)
    assert model.respond("Move forward 1 m.") == "Move forward 1 m."
    assert model.last_confidence == pytest.approx(0.4966, abs=1e-3)  # exp(-0.7)
    request = json.loads(server.requests[-1].split(b"\r\n\r\n", 1)[1])
    assert request["structured_outputs"]["grammar"].startswith("root ::=")  # vLLM's field


def test_the_evaluation_scores_a_failed_model_as_the_robot_acts(tokenizer_dir, capsys):
    """training.evaluate --commands runs the node's path: where the model fails (here a
    server that is not there) the robot refuses and stands still, so the evaluation scores
    a refusal and says how many failed, instead of ending with a traceback."""
    import socket
    from types import SimpleNamespace

    from robot_sft.answer import AnswerPolicy
    from robot_sft.safety import SafetyLimits
    from training.command_eval import Command, run_commands

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    model, _ = openai_model(url, tokenizer_dir, server_grammar="llama_cpp", server_timeout=2.0)
    results = run_commands(model, [Command("move forward 1 m"), Command("stop")],
                           SimpleNamespace(max_command_chars=500),
                           AnswerPolicy(SafetyLimits(), {}), progress=False)
    assert [r.actual[0] for r in results] == ["refuse", "stop"]
    assert "the model failed on 1 of 2 commands" in capsys.readouterr().err
