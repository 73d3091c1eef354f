"""What a finished run leaves next to the adapter for people: the model card
(README.md, Hugging Face convention: YAML front matter, then prose) and the
loss-curve PNG. The machine-readable twin is robot_sft.json (robot_sft.adapter).
"""
from __future__ import annotations

from pathlib import Path

LOSS_CURVE_FILE = "loss_curve.png"


def _front_matter(base_model: str) -> str:
    import yaml

    meta = {"base_model": base_model, "library_name": "peft", "pipeline_tag": "text-generation",
            "tags": ["robot_sft", "lora", "sft", "trl", "robotics"]}
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _percent(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) else "n/a"


def render_model_card(base_model: str, chat_template: str, system_prompt: str, config: dict,
                      metrics: dict) -> str:
    held_out = metrics.get("heldout") or {}
    lines = [
        _front_matter(base_model),
        "# robot_sft LoRA adapter",
        "",
        f"A LoRA adapter for `{base_model}` that turns spoken-style robot commands into the",
        "robot_sft response format (one action per line, numbers and units copied from the",
        "command). Load it with the robot_sft `controller` node (`adapter:=<this dir>`), or:",
        "",
        "```python",
        "from peft import AutoPeftModelForCausalLM",
        "from transformers import AutoTokenizer",
        "model = AutoPeftModelForCausalLM.from_pretrained('<this dir>')  # base model must be reachable",
        "tokenizer = AutoTokenizer.from_pretrained('<this dir>')       # carries the chat template",
        "```",
        "",
        "## Training",
        "",
        f"- chat template: `{chat_template}`; system prompt: \"{system_prompt}\"",
        f"- LoRA r={config.get('lora_r')}, alpha={config.get('lora_alpha')}, "
        f"dropout={config.get('lora_dropout')}, modules={config.get('lora_target_modules')}",
        f"- lr {config.get('learning_rate')} ({config.get('lr_scheduler_type')}), batch "
        f"{config.get('per_device_train_batch_size')} x {config.get('gradient_accumulation_steps')}, "
        f"max_length {config.get('max_length')}, loss on "
        f"{'assistant tokens only' if config.get('assistant_only_loss') else 'all tokens'}",
        f"- steps {metrics.get('train_steps', 'n/a')}, final train loss "
        f"{metrics.get('train_loss', float('nan')):.4f}, training time "
        f"{metrics.get('train_seconds', 0):.0f} s on {metrics.get('device', '?')}",
        "",
        "## Held-out evaluation (paraphrases not seen in training, greedy decoding)",
        "",
        f"- rows: {held_out.get('n', 0)}",
        f"- parse rate: {_percent(held_out.get('parse_rate'))}",
        f"- intent accuracy: {_percent(held_out.get('intent_accuracy'))}",
        f"- exact action-list accuracy: {_percent(held_out.get('exact_accuracy'))}",
        "",
        f"Loss curve: `{LOSS_CURVE_FILE}`. Full config and metrics: `robot_sft.json`.",
        "",
    ]
    return "\n".join(lines)


def write_model_card(directory, **fields) -> Path:
    path = Path(directory) / "README.md"
    path.write_text(render_model_card(**fields), encoding="utf-8")
    return path


def loss_points(log_history: list[dict]) -> list[tuple[int, float]]:
    """(step, training loss) pairs from a Trainer's state.log_history."""
    return [(int(entry["step"]), float(entry["loss"])) for entry in log_history
            if "loss" in entry and "step" in entry]


def plot_loss_curve(log_history: list[dict], directory) -> Path | None:
    """Save the training-loss curve as a PNG; None when nothing was logged."""
    points = loss_points(log_history)
    if not points:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    steps, losses = zip(*points)
    figure, axes = plt.subplots(figsize=(6, 3.5), dpi=100)
    axes.plot(steps, losses, marker="o", markersize=3)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("training loss")
    axes.set_yscale("log")
    axes.grid(True, alpha=0.3)
    axes.set_title("robot_sft LoRA SFT")
    figure.tight_layout()
    path = Path(directory) / LOSS_CURVE_FILE
    figure.savefig(path)
    plt.close(figure)
    return path
