"""robot_sft.inference.llama_cpp_backend: the llama.cpp path answers like the transformers path.

Skipped when llama-cpp-python is not installed, except under ROBOT_SFT_REQUIRE_LLAMA_CPP=1
(set by scripts/test.sh, so CI fails instead of silently skipping the backend)."""
import os
import re
import threading

import pytest

np = pytest.importorskip("numpy")
torch = pytest.importorskip("torch")

REQUIRED = os.environ.get("ROBOT_SFT_REQUIRE_LLAMA_CPP") == "1"
try:
    import llama_cpp  # noqa: F401 (imports the shared library)
except ImportError as exc:  # not installed, or a build whose shared library does not load
    reason = (f"llama_cpp does not import ({exc}): pip install 'llama-cpp-python==0.3.36' "
              f"(scripts/install.sh builds it)")
    if REQUIRED:
        pytest.fail(f"ROBOT_SFT_REQUIRE_LLAMA_CPP=1 but {reason}", pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from robot_sft.controller_config import make_config  # noqa: E402
from robot_sft.inference.base import AnswerTruncated, GenerationCancelled  # noqa: E402
from robot_sft.inference.decoding import DecodeTimes  # noqa: E402
from robot_sft.inference.llama_cpp_backend import LlamaCppModel  # noqa: E402
from robot_sft.inference.loader import ModelSpec, load_command_model, select_backend  # noqa: E402
from robot_sft.inference.transformers_backend import TransformersModel  # noqa: E402
from robot_sft.prompting import prompt_text  # noqa: E402
from tiny_models import make_tiny_adapter  # noqa: E402

pytestmark = pytest.mark.slow  # the embedded SmolLM2

COMMANDS = ["Move forward 2 meters", "turn left 90 degrees, then go back 50 cm",
            "What is the capital of France?", "停止 ! arrête"]
PROMPTS = ["Move forward 2 meters", "Write a haiku about robots.", "turn left"]


@pytest.fixture(scope="module")
def gguf_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("gguf")


@pytest.fixture(scope="module")
def base():
    from robot_sft.models import load_model, load_tokenizer

    return load_model("embedded").eval(), load_tokenizer("embedded")


def llama_logits(model, ids):
    model.llm.n_tokens = 0
    model.llm.eval(ids)
    model.decoder.head_in_context = False  # the head was overwritten
    return model.decoder.logits().copy()


@pytest.fixture(scope="module")
def base_f32(base, gguf_dir):
    """The base, no adapter, exported as f32: llama.cpp on the very weights transformers runs."""
    from robot_sft.inference.gguf_export import export_gguf
    from robot_sft.models import embedded_gguf_path

    path = export_gguf(base[0], embedded_gguf_path(), gguf_dir / "base-f32.gguf", "f32")
    return LlamaCppModel(path, base[1], "", max_new_tokens=20, n_threads=1)


def test_base_round_trip_logits_and_greedy_tokens_match_transformers(base, base_f32):
    model, tokenizer = base
    for text in PROMPTS:
        ids = tokenizer(prompt_text(tokenizer, text, "You drive a robot."),
                        add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            reference = model(torch.tensor([ids])).logits[0, -1].numpy()
            expected = model.generate(torch.tensor([ids]), max_new_tokens=20,
                                      do_sample=False)[0, len(ids):].tolist()
        got = llama_logits(base_f32, ids)
        assert np.abs(got - reference).max() < 0.05 * np.abs(reference).max() / 30
        greedy = []
        for _ in range(20):
            greedy.append(int(base_f32.decoder.logits().argmax()))
            base_f32.llm.eval([greedy[-1]])
        assert greedy[:len(expected)] == expected, text  # generate() stops at eos


def test_the_shipped_q4_1_base_agrees_with_transformers(base):
    """The source GGUF itself (what q8_0 keeps for unchanged matrices): same first token,
    logits within llama.cpp's activation quantisation."""
    from robot_sft.models import embedded_gguf_path

    model, tokenizer = base
    llm = LlamaCppModel(embedded_gguf_path(), tokenizer, "", n_threads=1)
    for text in PROMPTS:
        ids = tokenizer(prompt_text(tokenizer, text, ""), add_special_tokens=False)["input_ids"]
        with torch.inference_mode():
            reference = model(torch.tensor([ids])).logits[0, -1].numpy()
        got = llama_logits(llm, ids)
        assert got.argmax() == reference.argmax()
        assert np.abs(got - reference).max() < 3.0


def test_a_file_llama_cpp_cannot_load_is_a_model_load_error_that_says_what_to_delete(base,
                                                                                   tmp_path):
    """Not a ValueError (the node would call it 'invalid parameters')."""
    from robot_sft.models import ModelLoadError

    bad = tmp_path / "robot_sft-q8_0-0123.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(4096))
    with pytest.raises(ModelLoadError, match=re.escape(f"delete it ({bad})")):
        LlamaCppModel(bad, base[1], "", n_threads=1)


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory):
    """A random LoRA (on every projection) on the embedded base."""
    from benchmarks.latency import random_adapter

    return random_adapter(tmp_path_factory.mktemp("lora") / "adapter", "embedded")


@pytest.fixture(scope="module")
def reference(lora_adapter):
    return TransformersModel.from_adapter(lora_adapter, device="cpu", max_new_tokens=24)


def greedy_within(reference, command, tokens, tolerance):
    """Each of `tokens` is transformers' greedy choice, or within `tolerance` of it (a
    near-tie that quantisation may flip; from there on the texts may differ)."""
    ids, _ = reference.decoder.prompt_ids(command)
    with torch.inference_mode():
        logits = reference.model(torch.tensor([ids + tokens])).logits[0, len(ids) - 1:-1]
    for step, token in enumerate(tokens):
        best = int(logits[step].argmax())
        if token != best:
            assert logits[step, best] - logits[step, token] < tolerance, (command, step)
            return step
    return None


@pytest.mark.parametrize("quant", ["f32", "q8_0"])
def test_adapter_gives_the_transformers_answers(lora_adapter, reference, gguf_dir, quant):
    model = LlamaCppModel.from_adapter(lora_adapter, max_new_tokens=24, n_threads=1,
                                       quantize="none" if quant == "f32" else quant,
                                       gguf_dir=gguf_dir)
    assert model.gguf_path.parent == gguf_dir and f"-{quant}-" in model.gguf_path.name
    same = 0
    for command in COMMANDS:
        expected = list(reference.decoder.tokens(command, 24))
        got = list(model.decoder.tokens(command, 24))
        if quant == "f32":
            assert got == expected, command
            assert model.respond(command) == reference.respond(command)
        else:
            diverged = greedy_within(reference, command, got, tolerance=1.0)
            same += diverged is None and got == expected
    if quant == "q8_0":
        assert same >= len(COMMANDS) - 1  # at most one near-tie flip


@pytest.fixture(scope="module")
def model(lora_adapter, gguf_dir):
    return LlamaCppModel.from_adapter(lora_adapter, max_new_tokens=24, n_threads=1,
                                      gguf_dir=gguf_dir)


def test_the_prompt_head_is_reused_and_earlier_commands_leave_no_trace(lora_adapter, model,
                                                                       gguf_dir):
    fresh = LlamaCppModel.from_adapter(lora_adapter, max_new_tokens=24, n_threads=1,
                                       gguf_dir=gguf_dir)
    head = len(model.decoder.head_ids)
    assert head > 10  # the system prompt
    for command in COMMANDS[:2]:
        model.respond(command)
        times = model.last_times
        ids, _ = model.decoder.prompt_ids(command)
        assert times.reused_prefix == head and times.prompt_tokens == len(ids) - head
    # after other commands (their KV was in the context), the same answer as a fresh model
    assert model.respond(COMMANDS[2]) == fresh.respond(COMMANDS[2])
    assert model.respond(COMMANDS[0]) == fresh.respond(COMMANDS[0])


def test_a_prompt_that_misses_the_head_is_run_whole_and_the_head_comes_back(model):
    decoder = model.decoder
    command = COMMANDS[0]
    expected = list(decoder.tokens(command, 12))
    saved, decoder.head_ids = decoder.head_ids, [-1]  # nothing matches: run the whole prompt
    times = DecodeTimes()
    try:
        assert list(decoder.tokens(command, 12, times=times)) == expected
        assert times.reused_prefix == 0
    finally:
        decoder.head_ids = saved
    times = DecodeTimes()
    assert list(decoder.tokens(command, 12, times=times)) == expected
    assert times.reused_prefix == len(saved)


def test_default_threads_are_half_the_usable_cores_for_prompts_too(lora_adapter, gguf_dir):
    """num_threads 0: llama-cpp-python would take every CPU for a prompt, whose threads then
    wait on a core busy elsewhere on the robot; the node takes half, for both."""
    from robot_sft.inference.base import usable_cores

    default = LlamaCppModel.from_adapter(lora_adapter, max_new_tokens=4, gguf_dir=gguf_dir)
    half = max(1, usable_cores() // 2)
    assert (default.llm.n_threads, default.llm.n_threads_batch) == (half, half)
    assert f"{half} thread(s) per token, {half} per prompt" in default.description


def test_truncation_and_streaming(model):
    """An answer cut by max_new_tokens: stream_lines says so, respond returns it."""
    short = LlamaCppModel(model.gguf_path, model.tokenizer, model.system_prompt,
                          max_new_tokens=4, n_threads=1)
    pieces = []
    with pytest.raises(AnswerTruncated):
        for piece in short.stream_lines(COMMANDS[1]):
            pieces.append(piece)
    assert short.respond(COMMANDS[1]) == "".join(pieces).strip()
    assert short.last_times.passes == 3  # no forward pass after the budget's last token
    full = model.respond(COMMANDS[1])
    assert full.startswith("".join(pieces).strip())
    pieces = []
    try:
        for piece in model.stream_lines(COMMANDS[1]):
            pieces.append(piece)
    except AnswerTruncated:
        pass
    assert "".join(pieces).strip() == full and all(p.endswith("\n") for p in pieces[:-1])


def test_cancel_stops_between_tokens(model):
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(GenerationCancelled):
        model.respond(COMMANDS[0], cancel)
    cancel.clear()
    tokens = model.decoder.tokens(COMMANDS[0], 4000, cancel)
    next(tokens)
    cancel.set()
    with pytest.raises(GenerationCancelled):
        list(tokens)
    cancel.clear()
    assert model.respond(COMMANDS[0]) == model.respond(COMMANDS[0])  # usable afterwards


def test_the_context_limits_the_prompt_and_the_answer(lora_adapter, gguf_dir):
    small = LlamaCppModel.from_adapter(lora_adapter, max_new_tokens=4000, n_threads=1,
                                       n_ctx=256, gguf_dir=gguf_dir)
    with pytest.raises(ValueError, match="context"):
        small.respond("forward " * 300)
    ids, _ = small.decoder.prompt_ids("x" * 180)
    tokens = list(small.decoder.tokens("x" * 180, 4000))
    # a full context ends the answer (truncated); the last token needs no context slot
    assert len(tokens) <= 256 - len(ids) + 1


def test_constrained_decoding_answers_parse(model):
    pytest.importorskip("llguidance")
    from robot_sft.response_format import parse_response

    model.enable_grammar(places=["dock"])
    try:
        for command in COMMANDS[:2]:
            try:
                text = "".join(model.stream_lines(command))
            except AnswerTruncated:
                continue  # a random model may want more lines than the budget holds
            parse_response(text)
    finally:
        model.constraint = None


@pytest.mark.parametrize("batch_from", [3, 1])
def test_forced_tokens_skip_forward_passes_and_change_no_answer(model, monkeypatch, batch_from):
    """Under the grounded grammar most tokens are forced: the decoder takes them without
    logits and runs them in one pass with the next choice (from BATCH_FROM tokens), or
    none at all when only the end may follow. The answers are those of one pass per
    token, and the passes are fewer."""
    pytest.importorskip("llguidance")
    from robot_sft.inference import llama_cpp_backend

    monkeypatch.setattr(llama_cpp_backend, "BATCH_FROM", batch_from)
    model.enable_grammar(places=["dock"], grounded=True)
    try:
        forced = saved = 0
        for command in COMMANDS + ["Move forward 2 meters at 0.3 m/s", "go to the dock"]:
            times, one_by_one = DecodeTimes(), DecodeTimes()
            got = list(model.decoder.tokens(command, 24, times=times,
                                            logits_processor=model.constraint.logits_processor(command)))
            model.decoder.take_forced = False  # the reference: one pass per token
            try:
                expected = list(model.decoder.tokens(
                    command, 24, times=one_by_one,
                    logits_processor=model.constraint.logits_processor(command)))
            finally:
                model.decoder.take_forced = True
            assert got == expected, command
            assert one_by_one.forced == 0 and one_by_one.passes == len(expected) - (not one_by_one.stopped)
            assert times.fed_tokens <= len(got) and times.passes <= one_by_one.passes, command
            assert times.generated == one_by_one.generated == len(got)
            forced += times.forced
            saved += one_by_one.passes - times.passes
        assert forced >= 5  # "Move forward 2 m": " forward", " ", "2", " m" are the command's
        assert saved >= 5
    finally:
        model.constraint = None


def test_load_command_model_picks_the_backend(lora_adapter, gguf_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ROBOT_SFT_GGUF_CACHE", str(gguf_dir))
    config = ModelSpec.from_config(make_config({"adapter": str(lora_adapter), "num_threads": 1,
                                                "max_new_tokens": 8}))
    assert select_backend(config)[0] == "llama_cpp"
    logs = []
    model = load_command_model(config, log=logs.append)
    assert isinstance(model, LlamaCppModel) and "llama_cpp" in logs[0]
    assert model.llm.n_threads == 1 and model.generation_config.max_new_tokens == 8
    tiny = ModelSpec.from_config(make_config(  # its base is not from a GGUF
        {"adapter": str(make_tiny_adapter(tmp_path))}))
    assert select_backend(tiny)[0] == "transformers"
    assert isinstance(load_command_model(tiny), TransformersModel)
    with pytest.raises(ValueError, match="CPU"):
        load_command_model(ModelSpec.from_config(make_config(
            {"adapter": str(lora_adapter), "model_backend": "llama_cpp", "device": "cuda"})))


def test_latency_benchmark_smoke_on_llama_cpp(tmp_path, monkeypatch):
    import json

    from benchmarks.latency import COMMANDS as BENCH_COMMANDS
    from benchmarks.latency import main

    monkeypatch.setenv("ROBOT_SFT_GGUF_CACHE", str(tmp_path / "gguf"))
    out = tmp_path / "latency.json"
    assert main(["--smoke", "--backend", "llama_cpp", "--compare-backends", "--threads", "1",
                 "--json", str(out)]) == 0
    figures = json.loads(out.read_text())[BENCH_COMMANDS[0]]
    assert set(figures) == {"tutorial", "project", "project (transformers)"}
    assert all(f["parsed"] == f["runs"] == 1 for f in figures.values())  # budget mode


def test_the_node_runs_the_llama_cpp_backend_from_its_parameters(lora_adapter, gguf_dir,
                                                                 monkeypatch):
    """model_backend auto (the default), an adapter on the embedded base: the node loads
    LlamaCppModel, with num_threads, and answers through it."""
    rclpy = pytest.importorskip("rclpy")
    import uuid

    from rclpy.context import Context
    from rclpy.parameter import Parameter
    from rclpy.signals import SignalHandlerOptions

    from robot_sft.controller_node import ControllerNode

    monkeypatch.setenv("ROBOT_SFT_GGUF_CACHE", str(gguf_dir))
    context = Context()
    rclpy.init(context=context, domain_id=120 + os.getpid() % 90,
               signal_handler_options=SignalHandlerOptions.NO)
    node = None
    try:
        node = ControllerNode(context=context, namespace="/l" + uuid.uuid4().hex[:10],
                              parameter_overrides=[Parameter("adapter", value=str(lora_adapter)),
                                                   Parameter("num_threads", value=1),
                                                   Parameter("max_new_tokens", value=6)])
        assert isinstance(node.model, LlamaCppModel) and node.model.llm.n_threads == 1
        assert node.model.respond("Move forward 1 m.")
    finally:
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_evaluate_runs_the_llama_cpp_backend(lora_adapter, gguf_dir, tmp_path, monkeypatch):
    import json

    from training.evaluate import main

    monkeypatch.setenv("ROBOT_SFT_GGUF_CACHE", str(gguf_dir))
    assert main(["--adapter", str(lora_adapter), "--sets", "handwritten", "--limit", "3",
                 "--latency-samples", "1", "--max-new-tokens", "8", "--threads", "1",
                 "--backend", "llama_cpp", "--out", str(tmp_path)]) == 0
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["backend"] == "llama_cpp" and report["sets"] == {"handwritten": 3}
    assert report["variants"]["sft"]["handwritten"]["median_latency_ms"] > 0
