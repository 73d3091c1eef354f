"""Command -> first Twist: the tutorial's inference against the node's path, one process.

    python benchmarks/latency.py                         # embedded SmolLM2 + outputs/embedded,
                                                         # or a random LoRA when there is none
    python benchmarks/latency.py --adapter DIR --repeats 5 --threads 1
    python benchmarks/latency.py --levers                # what each lever buys, one by one
    python benchmarks/latency.py --smoke                 # tiny random model, seconds (tests)
    python benchmarks/latency.py --backend llama_cpp --compare-backends   # (b) on llama.cpp,
                                                         # and on transformers as a 3rd column

(a) tutorial: full prompt, PeftModel (LoRA NOT merged), generate() sampling at
    temperature 0.7 with max_new_tokens=100, decode everything, then parse and plan.
(b) node: the model as load_command_model builds it for --backend - transformers:
    TransformersModel (LoRA merged, prompt head KV-cached, lean greedy loop); llama_cpp:
    LlamaCppModel (LoRA merged into a cached Q8_0 GGUF, prompt head KV-cached, llama.cpp) -
    through robot_sft.answer.answer_command, exactly as ControllerNode.serve: the whole
    answer, grounded in the command and planned, before the first Twist.
    --compare-backends adds the other backend as one more column.
floor: (b)'s backend doing only the necessary work: prefill of the command's own
    tokens + one forward pass per token of the whole answer and its end-of-turn.

Modes. real: the model's own answers (needs a trained adapter: an untrained model
never writes a parseable line). budget (default without a trained adapter): both paths
generate exactly as many tokens as the expected answer needs (the whole answer plus
end-of-turn) and the expected text is parsed, grounded and planned, so the timing is
what a trained adapter would cost.
Only ratios from one run count: the machine's load changes absolute times.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # measure this checkout's robot_sft, not an installed copy

# Command -> the canonical answer a trained adapter writes (budget mode generates its length).
EXPECTED = {
    "Move forward 2 meters": "Move forward 2 m.",
    "turn left 90 degrees": "Turn left 90 deg.",
    "Go back 50 cm slowly": "Move backward 50 cm slowly.",
    "drive forward 3 feet, then turn right 45 degrees": "Move forward 3 ft.\nTurn right 45 deg.",
    "Move forward 1 m, turn left 90 degrees, then forward 1 m again":
        "Move forward 1 m.\nTurn left 90 deg.\nMove forward 1 m.",
}
COMMANDS = list(EXPECTED)
TUTORIAL_MAX_NEW_TOKENS = 100
TUTORIAL_TEMPERATURE = 0.7


@dataclass
class Run:
    first_twist_s: float        # command text -> first Twist could be published
    prefill_s: float            # prompt -> logits of the first new token
    tokens: int                 # new tokens generated before the first Twist
    ms_per_token: float
    parsed: bool = True         # the text that was planned parsed and planned


@dataclass
class Row:
    command: str
    runs: dict = field(default_factory=dict)  # path name -> list[Run]
    floor_s: float = 0.0


def percentile(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ------------------------------------------------------------------------------- models

def random_adapter(root: Path, base: str) -> Path:
    """A LoRA adapter on `base` with small random A and B (B=0 would be a no-op, which
    hides the cost of running LoRA unmerged), in the layout training writes."""
    import torch
    from peft import LoraConfig, get_peft_model

    from robot_sft.adapter import AdapterMetadata, write_metadata
    from robot_sft.models import load_model, load_tokenizer
    from robot_sft.response_format import DEFAULT_SYSTEM_PROMPT

    torch.manual_seed(0)
    peft = get_peft_model(load_model(base), LoraConfig(
        r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj",
                                             "gate_proj", "up_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in peft.named_parameters():
            if "lora_B" in name:
                param.normal_(std=1e-3)
    peft.save_pretrained(root)
    load_tokenizer(base).save_pretrained(root)
    write_metadata(root, AdapterMetadata(base, DEFAULT_SYSTEM_PROMPT, "tokenizer"))
    return root


def tutorial_model(adapter: Path):
    """The tutorial's model: base + PeftModel, LoRA left unmerged."""
    from peft import PeftModel
    from transformers import AutoTokenizer

    from robot_sft.adapter import read_metadata
    from robot_sft.models import load_model

    metadata = read_metadata(adapter)
    model = PeftModel.from_pretrained(load_model(metadata.base_model), str(adapter)).eval()
    return model, AutoTokenizer.from_pretrained(str(adapter)), metadata.system_prompt


# ------------------------------------------------------------------------------- paths

@lru_cache(maxsize=1)
def node_policy():
    """What the node's default parameters let an answer do (robot_sft.answer)."""
    from robot_sft.answer import AnswerPolicy
    from robot_sft.controller_config import make_config

    return AnswerPolicy.from_config(make_config({}))


def plan_first_twist(text: str) -> bool:
    """Parse and plan `text` (no grounding: the tutorial has none): True when there is a
    Twist to publish."""
    from robot_sft.reply import build_reply

    reply = build_reply(text, node_policy().limits, {}, "", "")
    return reply.ok and bool(reply.segments)


def run_tutorial(model, tokenizer, system_prompt, command, expected, budget: bool) -> Run:
    """(a): generate everything with sampling, decode, then parse and plan."""
    import torch

    from robot_sft.prompting import prompt_text

    started = time.perf_counter()
    inputs = tokenizer(prompt_text(tokenizer, command, system_prompt), return_tensors="pt",
                       add_special_tokens=False)
    n = len(tokenizer(expected, add_special_tokens=False)["input_ids"]) + 1 if budget \
        else TUTORIAL_MAX_NEW_TOKENS
    with torch.inference_mode():
        output = model.generate(**inputs, do_sample=True, temperature=TUTORIAL_TEMPERATURE,
                                max_new_tokens=n, min_new_tokens=n if budget else 0,
                                pad_token_id=tokenizer.pad_token_id)
    new = output[0, inputs["input_ids"].shape[1]:]
    text = tokenizer.decode(new, skip_special_tokens=True)
    parsed = plan_first_twist(expected if budget else text)
    total = time.perf_counter() - started
    prefill = time_prefill(model, inputs["input_ids"])
    return Run(total, prefill, len(new), 1000 * (total - prefill) / max(1, len(new) - 1), parsed)


def time_prefill(model, ids) -> float:
    import torch

    started = time.perf_counter()
    with torch.inference_mode():
        model(input_ids=ids, logits_to_keep=1)
    return time.perf_counter() - started


def run_node_path(model, command, expected, budget: bool) -> tuple[Run, list[float]]:
    """(b): ControllerNode.serve's pipeline (robot_sft.answer): the whole answer, grounded
    and planned, until the first Twist could be published."""
    from robot_sft.answer import answer_command, decide
    from robot_sft.inference.decoding import DecodeTimes

    if budget:  # the same decode + detokenise work, for exactly the expected answer's tokens
        times = DecodeTimes()
        need = len(model.tokenizer(expected, add_special_tokens=False)["input_ids"]) + 1
        started = time.perf_counter()
        for _ in model.decoder.stream_lines(command, need, times=times):
            pass
        reply = decide(expected, 1.0, command, node_policy())
        first = time.perf_counter() - started
    else:
        answer = answer_command(model, command, node_policy())
        reply, first, times = answer.reply, answer.seconds, model.last_times
    token_ms = 1000 * statistics.median(times.token_s) if times.token_s else 0.0
    return (Run(first, times.prefill_s, times.generated + times.stopped, token_ms,
                reply.ok and bool(reply.segments)), times.token_s)


def run_grammar_path(model, command, expected, budget: bool):
    """project+grammar: (b) with the model under each command's own response grammar, as
    the node with constrained_decoding (budget mode: exactly the expected answer's tokens)."""
    if not budget:
        return run_node_path(model, command, expected, budget)
    started = time.perf_counter()
    model.generation_config.max_new_tokens = \
        len(model.tokenizer(expected, add_special_tokens=False)["input_ids"]) + 1
    text = model.respond(command)
    parsed = plan_first_twist(text)
    total = time.perf_counter() - started
    times = model.last_times
    return Run(total, times.prefill_s, times.generated + times.stopped,
               1000 * statistics.median(times.token_s) if times.token_s else 0.0, parsed)


def floor_s(model, command, expected, token_s: list[float]) -> float:
    """Prefill of the command's own tokens + one bare forward per token of the whole
    answer and its end-of-turn."""
    from robot_sft.inference.decoding import DecodeTimes

    need = len(model.tokenizer(expected, add_special_tokens=False)["input_ids"]) + 1
    times = DecodeTimes()
    for _ in model.decoder.tokens(command, 1, times=times):
        pass
    return times.prefill_s + (need - 1) * statistics.median(token_s)


# ------------------------------------------------------------------------------- report

def figures(runs) -> dict:
    ms = [1000 * r.first_twist_s for r in runs]
    return {"median_ms": statistics.median(ms), "p90_ms": percentile(ms, 0.9),
            "prefill_ms": 1000 * statistics.median(r.prefill_s for r in runs),
            "ms_per_token": statistics.median(r.ms_per_token for r in runs),
            "tokens": statistics.median(r.tokens for r in runs),
            "parsed": sum(r.parsed for r in runs), "runs": len(runs)}


def markdown_table(rows, names) -> str:
    """First-Twist latency per command: median / p90 per path, the ratio, the floor."""
    cols = [f"{n} median / p90 ms" for n in names]
    grammar = names.index("project+grammar") if "project+grammar" in names else None
    ratios = ["tutorial / project"] + (["tutorial / project+grammar"] if grammar else [])
    lines = ["| command | " + " | ".join(cols + ratios) + " | floor ms | project / floor |",
             "|" + "---|" * (len(names) + len(ratios) + 3)]

    def line(label, meds, p90s, floor):
        cells = [f"{m:.0f} / {p:.0f}" for m, p in zip(meds, p90s)]
        cells += [f"{meds[0] / meds[i]:.1f}x" for i in [1] + ([grammar] if grammar else [])]
        return f"| {label} | " + " | ".join(cells) + f" | {floor:.0f} | {meds[1] / floor:.2f} |"

    for row in rows:
        f = [figures(row.runs[n]) for n in names]
        lines.append(line(row.command, [x["median_ms"] for x in f], [x["p90_ms"] for x in f],
                          1000 * row.floor_s))
    every = [figures([r for row in rows for r in row.runs[n]]) for n in names]
    lines.append(line("**median**", [x["median_ms"] for x in every], [x["p90_ms"] for x in every],
                      1000 * statistics.median(row.floor_s for row in rows)))
    lines.append("")
    for n, x in zip(names, every):
        lines.append(f"- {n}: prefill {x['prefill_ms']:.0f} ms, {x['ms_per_token']:.1f} ms per forward pass, "
                     f"{x['tokens']:.0f} tokens to the first Twist, parsed {x['parsed']}/{x['runs']}")
    return "\n".join(lines)


def node_model(backend: str, adapter: Path, quantize: str, threads: int):
    """(b)'s model, as load_command_model builds it for `backend`, and a note on its load."""
    if backend == "llama_cpp":
        from robot_sft.adapter import read_metadata
        from robot_sft.inference.gguf_export import gguf_cache_path
        from robot_sft.inference.llama_cpp_backend import LlamaCppModel, gguf_quant

        cached = gguf_cache_path(adapter, read_metadata(adapter).base_model,
                                 gguf_quant(quantize)).is_file()
        model = LlamaCppModel.from_adapter(adapter, quantize=quantize, n_threads=threads)
        return model, (f"llama.cpp {gguf_quant(quantize)}, {model.llm.n_threads} thread(s) per "
                       f"token, {model.llm.n_threads_batch} per prompt, "
                       f"GGUF {'cached' if cached else 'exported'}")
    from robot_sft.inference.transformers_backend import TransformersModel

    return (TransformersModel.from_adapter(adapter, device="cpu", quantize=quantize),
            f"transformers, cached base, merge{', int8' if quantize == 'int8' else ''}")


def measure(args, adapter: Path, budget: bool) -> dict:
    """Every path on every command, interleaved; prints the table, returns the figures."""
    from robot_sft.inference.transformers_backend import TransformersModel

    started = time.perf_counter()
    fast, load_note = node_model(args.backend, adapter, args.quantize, args.threads)
    load_s = time.perf_counter() - started
    rss_fast = rss_mb()
    tutorial, tok, system_prompt = tutorial_model(adapter)
    paths = {
        "tutorial": lambda c, e: run_tutorial(tutorial, tok, system_prompt, c, e, budget),
        "project": lambda c, e: run_node_path(fast, c, e, budget),
    }
    if args.compare_backends:
        other_name = "transformers" if args.backend == "llama_cpp" else "llama_cpp"
        other, _ = node_model(other_name, adapter, "auto", args.threads)
        paths[f"project ({other_name})"] = lambda c, e: run_node_path(other, c, e, budget)
    if args.constrained:  # as the node with constrained_decoding: each command's own grammar
        if args.backend == "llama_cpp":
            from robot_sft.inference.llama_cpp_backend import LlamaCppModel

            grammar = LlamaCppModel(fast.gguf_path, fast.tokenizer, fast.system_prompt,
                                    fast.generation_config.max_new_tokens, args.threads)
        else:
            grammar = TransformersModel(fast.model, fast.tokenizer, fast.system_prompt,
                                        fast.generation_config.max_new_tokens)
        grammar.enable_grammar(grounded=True)
        paths["project+grammar"] = lambda c, e: run_grammar_path(grammar, c, e, budget)
    commands = COMMANDS[:args.commands]
    for path in paths.values():  # warm-up: first-call allocations are not latency
        path(commands[0], EXPECTED[commands[0]])
    rows = []
    for command in commands:
        row, token_s = Row(command), []
        row.runs = {name: [] for name in paths}
        for _ in range(args.repeats):  # interleaved: load changes hit every path alike
            for name, path in paths.items():
                run = path(command, EXPECTED[command])
                if isinstance(run, tuple):  # a node path: (Run, seconds per token)
                    run, steps = run
                    if name == "project":
                        token_s += steps
                row.runs[name].append(run)
        row.floor_s = statistics.median(floor_s(fast, command, EXPECTED[command], token_s or [0.0])
                                        for _ in range(args.repeats))
        rows.append(row)
    names = ["tutorial", "project"] + [n for n in paths if n not in ("tutorial", "project")]
    print(markdown_table(rows, names))
    print(f"- node model load ({load_note}): {load_s:.2f} s; RSS after it {rss_fast:.0f} MB; peak RSS with every model loaded "
          f"{peak_rss_mb():.0f} MB")
    return {row.command: {n: figures(row.runs[n]) | {"floor_ms": 1000 * row.floor_s}
                          for n in names} for row in rows}


def measure_levers(args, adapter: Path):
    """First-Twist median over the commands, adding one lever at a time (budget mode)."""
    import torch

    from robot_sft.inference.transformers_backend import TransformersModel

    commands = [(c, EXPECTED[c]) for c in COMMANDS[:args.commands]]
    tutorial, tok, system_prompt = tutorial_model(adapter)
    merged = TransformersModel.from_adapter(adapter, device="cpu")

    def generate_path(model, sample: bool, whole: bool):
        def run(command, expected):
            from robot_sft.prompting import prompt_text

            target = expected if whole else expected.splitlines()[0] + "\n"
            n = len(tok(target, add_special_tokens=False)["input_ids"]) + (1 if whole else 0)
            started = time.perf_counter()
            inputs = tok(prompt_text(tok, command, system_prompt), return_tensors="pt",
                         add_special_tokens=False)
            kwargs = {"do_sample": True, "temperature": TUTORIAL_TEMPERATURE} if sample \
                else {"do_sample": False}
            with torch.inference_mode():
                model.generate(**inputs, max_new_tokens=n, min_new_tokens=n,
                               pad_token_id=tok.pad_token_id, **kwargs)
            plan_first_twist(target)
            return time.perf_counter() - started
        return run

    def decoder_path(model, whole: bool):
        def run(command, expected):
            target = expected if whole else expected.splitlines()[0] + "\n"
            need = len(model.tokenizer(target, add_special_tokens=False)["input_ids"])
            started = time.perf_counter()
            for _ in model.decoder.stream_lines(command, need):
                pass
            plan_first_twist(target)
            return time.perf_counter() - started
        return run

    levers = [
        ("tutorial: unmerged, sampled, generate, whole answer", generate_path(tutorial, True, True)),
        ("+ merged LoRA", generate_path(merged.model, True, True)),
        ("+ greedy", generate_path(merged.model, False, True)),
        ("+ prefix cache + lean loop (the node: whole answer)", decoder_path(merged, True)),
    ]
    if args.quantize != "int8":
        int8 = TransformersModel.from_adapter(adapter, device="cpu", quantize="int8")
        levers.append(("+ int8 dynamic quantisation", decoder_path(int8, True)))
    for _, run in levers:
        run(*commands[0])  # warm-up
    results = {name: [] for name, _ in levers}
    for _ in range(args.repeats):
        for command, expected in commands:
            for name, run in levers:
                results[name].append(run(command, expected))
    base = statistics.median(results[levers[0][0]])
    print(f"levers (budget mode, {torch.get_num_threads()} thread(s), median over "
          f"{len(commands)} commands x {args.repeats}):")
    for name, _ in levers:
        med = statistics.median(results[name])
        print(f"  {name:<52} {1000 * med:7.0f} ms  {base / med:5.1f}x")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", help="adapter dir (default: outputs/embedded if it "
                        "exists, else a random LoRA on the embedded base)")
    parser.add_argument("--mode", choices=["auto", "real", "budget"], default="auto",
                        help="auto: real with a trained adapter, budget with a random one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--commands", type=int, default=len(COMMANDS))
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads, and llama.cpp threads for llama_cpp (0: default)")
    parser.add_argument("--backend", choices=["transformers", "llama_cpp"], default="transformers",
                        help="the node's model_backend for (b); the tutorial path is unchanged")
    parser.add_argument("--compare-backends", action="store_true",
                        help="also time (b) on the other backend (default quantisation)")
    parser.add_argument("--quantize", choices=["auto", "none", "int8", "q8_0", "q4_0", "f16"],
                        default="auto", help="the node's quantize parameter for (b) "
                        "(auto: none on transformers, q8_0 on llama_cpp)")
    parser.add_argument("--levers", action="store_true", help="also time each lever alone")
    parser.add_argument("--constrained", action="store_true",
                        help="also time the node's model behind the response grammar (llguidance)")
    parser.add_argument("--json", help="write the figures here")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny random model, one command, one repeat: seconds")
    args = parser.parse_args(argv)
    if args.smoke:
        args.commands, args.repeats = 1, 1
    if args.levers and args.backend != "transformers":
        parser.error("--levers times the transformers path's levers: use --backend transformers")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs, torch threads "
          f"{torch.get_num_threads()}, torch {torch.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        if args.smoke and (args.backend == "llama_cpp" or args.compare_backends):
            # llama.cpp needs a base that ships as GGUF: a random LoRA on the embedded base
            adapter, trained = random_adapter(Path(tmp) / "adapter", "embedded"), False
        elif args.smoke:
            sys.path.insert(0, str(ROOT / "test"))
            from tiny_models import make_tiny_adapter

            adapter, trained = make_tiny_adapter(Path(tmp)), False
        elif args.adapter:
            adapter, trained = Path(args.adapter), True
        elif (ROOT / "outputs" / "embedded" / "robot_sft.json").is_file():
            adapter, trained = ROOT / "outputs" / "embedded", True
        else:
            print("no trained adapter: a random LoRA on the embedded SmolLM2 (budget mode)")
            adapter, trained = random_adapter(Path(tmp) / "adapter", "embedded"), False
        budget = args.mode == "budget" or (args.mode == "auto" and not trained)
        print(f"adapter {adapter}; mode {'budget' if budget else 'real'}; "
              f"{args.repeats} repeats x {min(args.commands, len(COMMANDS))} commands")
        results = measure(args, adapter, budget)
        if args.levers:
            measure_levers(args, adapter)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
