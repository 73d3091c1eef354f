"""Assistant-only labels: on every template and both tokenizer families, the loss sees the
assistant's answers and end-of-turn markers, never system/user/template text; truncation
never yields an example without labels; padding is by position; TRL trains on exactly
these labels."""
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from training.chat_templates import ChatTemplateError, end_of_turn, render
from training.masking import (
    IGNORE_INDEX, AssistantOnlyCollator, MaskingStats, to_sft_dataset, tokenize_conversation,
    tokenize_dataset)

CUSTOM = ("{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] }}"
          "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}")
TEMPLATES = ["chatml", "llama2", "llama3", "zephyr", "tokenizer", CUSTOM]
TEMPLATE_IDS = ["chatml", "llama2", "llama3", "zephyr", "tokenizer", "custom"]

SYSTEM = "You are a mobile robot controller."
MULTI_TURN = [
    {"role": "system", "content": SYSTEM},
    {"role": "user", "content": "go two meters ahead"},
    {"role": "assistant", "content": "Move forward 2 m."},
    {"role": "user", "content": "then face the door, quickly"},
    {"role": "assistant", "content": "Turn left 90 deg.\nStop."},
    {"role": "user", "content": "how is the battery?"},
    {"role": "assistant", "content": "Battery status."},
]
ASSISTANT = [m["content"] for m in MULTI_TURN if m["role"] == "assistant"]
PROMPTS = [m["content"] for m in MULTI_TURN if m["role"] != "assistant"]


def label_runs(example) -> list[list[int]]:
    """Token ids of each contiguous stretch of kept labels."""
    runs, current = [], []
    for token, label in zip(example["input_ids"], example["labels"]):
        if label != IGNORE_INDEX:
            current.append(token)
        elif current:
            runs.append(current)
            current = []
    return runs + [current] if current else runs


def labelled_chars(example, tokenizer, text) -> set[int]:
    """Character positions of the rendered text covered by tokens in the loss."""
    encoding = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    assert encoding["input_ids"][:len(example["input_ids"])] == example["input_ids"]
    return {c for (start, end), label in zip(encoding["offset_mapping"], example["labels"])
            if label != IGNORE_INDEX for c in range(start, end)}


def assert_answer(run_text: str, content: str, marker: str, following: str):
    """A label run decodes to the content, whitespace, then the end-of-turn marker; beyond it
    at most the one token that straddles a plain-text marker's end and the next header."""
    body = run_text.strip()
    assert body.startswith(content), (body, content)
    rest = body[len(content):].lstrip()
    assert rest.startswith(marker), (body, marker)
    extra = rest[len(marker):]
    assert extra == "" or (len(extra) <= 3 and following.lstrip().startswith(extra)), (body, following)


def check_conversation(messages, tokenizer, example, last_turn_only=False):
    text = render(tokenizer, messages)
    marker = end_of_turn(tokenizer)
    answers = [m["content"] for m in messages if m["role"] == "assistant"]
    learned = answers[-1:] if last_turn_only else answers
    runs = label_runs(example)
    assert len(runs) == len(learned)
    covered = labelled_chars(example, tokenizer, text)
    cursor = 0
    for message in messages:
        start = text.index(message["content"], cursor)
        chars = set(range(start, start + len(message["content"])))
        cursor = start + len(message["content"])
        if message["role"] == "assistant" and message["content"] in learned:
            assert chars <= covered  # every answer character is learned
            run = runs[learned.index(message["content"])]
            marker_end = text.index(marker, cursor) + len(marker)
            assert_answer(tokenizer.decode(run), message["content"], marker, text[marker_end:])
        else:
            assert not chars & covered  # no prompt (or skipped answer) character is


@pytest.mark.parametrize("template", TEMPLATES, ids=TEMPLATE_IDS)
def test_labels_are_the_answers_and_their_end_of_turn(base_tokenizer, with_template, template):
    tokenizer = with_template(base_tokenizer, template)
    example = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None)
    text = render(tokenizer, MULTI_TURN)
    assert example["input_ids"] == tokenizer(text, add_special_tokens=False)["input_ids"]
    labels, ids = example["labels"], example["input_ids"]
    assert example["completion_mask"] == [int(label != IGNORE_INDEX) for label in labels]
    assert all(label in (IGNORE_INDEX, token) for label, token in zip(labels, ids))
    check_conversation(MULTI_TURN, tokenizer, example)


@pytest.mark.parametrize("template", TEMPLATES, ids=TEMPLATE_IDS)
def test_last_turn_only_learns_the_final_answer(base_tokenizer, with_template, template):
    tokenizer = with_template(base_tokenizer, template)
    every = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None)
    last = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None, last_turn_only=True)
    assert last["input_ids"] == every["input_ids"]
    check_conversation(MULTI_TURN, tokenizer, last, last_turn_only=True)
    assert label_runs(last) == label_runs(every)[-1:]


@pytest.mark.parametrize("template", TEMPLATES, ids=TEMPLATE_IDS)
def test_a_row_that_ends_at_its_last_label_trains_exactly_the_same(llama2_tokenizer, with_template,
                                                                   template):
    """The dropped tail (ChatML's "\n" after the last <|im_end|>) is no label and comes after
    every label: a causal model's loss and gradients are the same without it."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = with_template(llama2_tokenizer, template)
    full = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None)
    short = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None, drop_unlabelled_tail=True)
    end = len(short["input_ids"])
    assert short["labels"][-1] != IGNORE_INDEX
    assert short["input_ids"] == full["input_ids"][:end] and short["labels"] == full["labels"][:end]
    assert all(label == IGNORE_INDEX for label in full["labels"][end:])
    assert label_runs(short) == label_runs(full)

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32,
                                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2))
    losses, grads = [], []
    for example in (full, short):
        model.zero_grad()
        loss = model(input_ids=torch.tensor([example["input_ids"]]),
                     labels=torch.tensor([example["labels"]])).loss
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert losses[0] == pytest.approx(losses[1], rel=1e-6)
    assert torch.allclose(grads[0], grads[1], atol=1e-7)


def test_the_recipe_with_answer_only_loss_drops_the_tail_and_the_all_token_one_keeps_it(smollm2_tokenizer):
    from training.config import parse_config
    from training.train import build_train_dataset

    rows = [{"messages": MULTI_TURN[1:3]}]
    answers_only, _ = build_train_dataset(rows, smollm2_tokenizer, parse_config([]), "test")
    every_token, _ = build_train_dataset(rows, smollm2_tokenizer,
                                         parse_config(["--assistant_only_loss", "false"]), "test")
    assert answers_only[0]["labels"][-1] == smollm2_tokenizer.eos_token_id  # ends at "<|im_end|>"
    assert every_token[0]["input_ids"] == answers_only[0]["input_ids"] + smollm2_tokenizer.encode("\n")


@pytest.mark.slow
def test_smollm2_labels_end_with_its_eos_which_is_also_its_pad(smollm2_tokenizer):
    example = tokenize_conversation(MULTI_TURN[:3], smollm2_tokenizer, max_length=None)
    eos = smollm2_tokenizer.eos_token_id
    assert eos == smollm2_tokenizer.pad_token_id
    assert label_runs(example) == [smollm2_tokenizer.encode("Move forward 2 m.<|im_end|>")]
    assert example["labels"][-2:] == [eos, IGNORE_INDEX]  # "<|im_end|>" learned, the "\n" after it not


_text = st.text(alphabet="abcdefXYZ 0123456789.,:!?-°é\n", max_size=30)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(template=st.sampled_from(TEMPLATES), system=st.booleans(),
       payloads=st.lists(st.tuples(_text, _text), min_size=1, max_size=3))
def test_random_conversations_mask_prompts_and_keep_answers(llama2_tokenizer, with_template,
                                                             template, system, payloads):
    tokenizer = with_template(llama2_tokenizer, template)
    messages = [{"role": "system", "content": f"S0 {SYSTEM}"}] if system else []
    for turn, (command, answer) in enumerate(payloads):
        # Tagged so each content is unique; stripped because llama2/llama3 strip/trim contents.
        messages.append({"role": "user", "content": f"U{turn} {command}".strip()})
        messages.append({"role": "assistant", "content": f"A{turn} {answer}".strip()})
    example = tokenize_conversation(messages, tokenizer, max_length=None)
    check_conversation(messages, tokenizer, example)


@pytest.mark.parametrize("template", ["chatml", "llama2", "llama3", "zephyr"])
def test_truncation_never_yields_an_example_without_labels(llama2_tokenizer, with_template, template):
    tokenizer = with_template(llama2_tokenizer, template)
    full = tokenize_conversation(MULTI_TURN, tokenizer, max_length=None)
    first_label = full["completion_mask"].index(1)
    for max_length in range(1, len(full["input_ids"]) + 2):
        example = tokenize_conversation(MULTI_TURN, tokenizer, max_length=max_length)
        if max_length <= first_label:
            assert example is None
        else:
            assert any(example["completion_mask"])
            assert example["input_ids"] == full["input_ids"][:max_length]  # keeps the start, like TRL
            assert example["labels"] == full["labels"][:max_length]


def test_dataset_counts_every_dropped_and_truncated_row(llama2_tokenizer):
    full = tokenize_conversation(MULTI_TURN, llama2_tokenizer, max_length=None)
    prompt_only = MULTI_TURN[:2]
    cut_in_second_answer = full["completion_mask"].index(1) + 12
    rows = [{"messages": MULTI_TURN}, {"messages": prompt_only}, MULTI_TURN[:3], {"messages": MULTI_TURN}]
    kept, stats = tokenize_dataset(rows, llama2_tokenizer, max_length=cut_in_second_answer)
    assert isinstance(stats, MaskingStats)
    assert (stats.kept, stats.dropped_no_assistant, stats.truncated) == (3, 1, 2)
    assert stats.total_tokens == sum(len(row["input_ids"]) for row in kept)
    assert stats.assistant_tokens == sum(sum(row["completion_mask"]) for row in kept) > 0
    assert all(any(row["completion_mask"]) for row in kept)
    assert "1 dropped" in str(stats)

    short = full["completion_mask"].index(1)  # the answer starts right after max_length
    kept, stats = tokenize_dataset(rows, llama2_tokenizer, max_length=short, progress=False)
    assert (kept, stats.kept, stats.dropped_no_assistant) == ([], 0, 4)


def test_a_row_the_template_rejects_is_named(llama2_tokenizer):
    not_alternating = [MULTI_TURN[1], MULTI_TURN[1], MULTI_TURN[2]]
    with pytest.raises(ChatTemplateError, match="conversation 1: .*alternate"):
        tokenize_dataset([MULTI_TURN, not_alternating], llama2_tokenizer, max_length=None)


@pytest.mark.parametrize("template, messages, message", [
    # No generation prompt: the assistant header would be learned as part of the answer.
    ("{% for m in messages %}{{ '<' + m['role'] + '>' + m['content'] + eos_token }}{% endfor %}",
     MULTI_TURN[:3], "generation prompt must end where the answer begins"),
    ("chatml", MULTI_TURN[2:3], "cannot start with an assistant message"),
])
def test_unusable_templates_and_conversations_are_clear_errors(llama2_tokenizer, with_template,
                                                               template, messages, message):
    with pytest.raises(ChatTemplateError, match=message):
        tokenize_conversation(messages, with_template(llama2_tokenizer, template), max_length=None)


# --- collator ---------------------------------------------------------------------------

def two_rows(tokenizer):
    rows, _ = tokenize_dataset([MULTI_TURN, MULTI_TURN[:3]], tokenizer, max_length=None)
    return rows


def test_collator_pads_by_position_and_keeps_the_final_eos_label(base_tokenizer):
    assert base_tokenizer.pad_token_id == base_tokenizer.eos_token_id  # the hard case
    long, short = two_rows(base_tokenizer)
    batch = AssistantOnlyCollator(base_tokenizer)([long, short])
    n = len(short["input_ids"])
    assert batch["input_ids"].shape == (2, len(long["input_ids"]))
    assert batch["labels"][1, :n].tolist() == short["labels"]
    assert batch["attention_mask"][1].tolist() == [1] * n + [0] * (len(long["input_ids"]) - n)
    assert set(batch["labels"][1, n:].tolist()) == {IGNORE_INDEX}
    assert set(batch["input_ids"][1, n:].tolist()) == {base_tokenizer.pad_token_id}
    # The last learned token of each answer is the eos (== pad id) and stays a label.
    last_label = max(i for i, label in enumerate(short["labels"]) if label != IGNORE_INDEX)
    end_id = base_tokenizer.convert_tokens_to_ids(end_of_turn(base_tokenizer))
    assert batch["labels"][1, last_label].item() == end_id == base_tokenizer.pad_token_id


def test_collator_matches_trls_and_pads_to_a_multiple(llama2_tokenizer):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    rows = two_rows(llama2_tokenizer)
    pad = llama2_tokenizer.pad_token_id
    ours = AssistantOnlyCollator(pad, pad_to_multiple_of=16)(rows)
    theirs = DataCollatorForLanguageModeling(pad_token_id=pad, pad_to_multiple_of=16)(
        [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows])
    assert ours["input_ids"].shape[1] % 16 == 0
    for key in ("input_ids", "attention_mask", "labels"):
        assert ours[key].tolist() == theirs[key].tolist(), key


def test_collator_builds_labels_from_a_completion_mask_and_refuses_neither(llama2_tokenizer):
    rows = two_rows(llama2_tokenizer)
    collator = AssistantOnlyCollator(llama2_tokenizer)
    masks_only = [{"input_ids": r["input_ids"], "completion_mask": r["completion_mask"]} for r in rows]
    from_mask = collator(masks_only)
    assert from_mask["labels"].tolist() == collator(rows)["labels"].tolist()
    with pytest.raises(ValueError, match="needs 'labels' or 'completion_mask'"):
        collator([{"input_ids": rows[0]["input_ids"]}])
    with pytest.raises(ValueError, match="differ in length"):
        collator([{"input_ids": rows[0]["input_ids"], "labels": rows[0]["labels"][:-1]}])


# --- the loss ---------------------------------------------------------------------------

def test_loss_ignores_prompt_predictions_and_follows_answer_predictions(llama2_tokenizer, tiny_llama):
    import torch

    model = tiny_llama(llama2_tokenizer).eval()
    batch = AssistantOnlyCollator(llama2_tokenizer)(two_rows(llama2_tokenizer))
    labels = batch["labels"]
    with torch.no_grad():
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits

    def loss_of(logits):
        return model.loss_function(logits, labels, vocab_size=logits.shape[-1])

    # Position t predicts token t+1: it is trained only where label t+1 is kept.
    trained = torch.zeros(labels.shape, dtype=torch.bool)
    trained[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    # The same loss by hand: mean cross-entropy over the answer tokens only.
    by_hand = torch.nn.functional.cross_entropy(logits[trained], labels[:, 1:][trained[:, :-1]])
    torch.testing.assert_close(loss_of(logits), by_hand)

    leaf = logits.clone().requires_grad_()
    loss_of(leaf).backward()
    assert leaf.grad[~trained].abs().max().item() == 0.0  # system/user/template/padding positions
    assert (leaf.grad[trained].abs().sum(-1) > 0).all()

    generator = torch.Generator().manual_seed(0)
    noise = 10 * torch.randn(logits.shape, generator=generator)
    prompt_noise = torch.where(~trained[..., None], noise, torch.zeros_like(noise))
    answer_noise = torch.where(trained[..., None], noise, torch.zeros_like(noise))
    assert loss_of(logits + prompt_noise).item() == loss_of(logits).item()
    assert abs(loss_of(logits + answer_noise).item() - loss_of(logits).item()) > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("collator, skip_prepare", [("ours", True), ("trl", True), ("ours", False)])
def test_sft_trainer_trains_on_exactly_the_assistant_labels(base_tokenizer, tiny_llama, tmp_path,
                                                            collator, skip_prepare):
    import torch
    from trl import SFTConfig, SFTTrainer

    rows = two_rows(base_tokenizer)
    expected = AssistantOnlyCollator(base_tokenizer)(rows)
    seen = []

    class RecordingTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            loss = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            with torch.no_grad():  # the masked cross-entropy by hand, on the same weights
                logits = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]).logits
                targets = inputs["labels"][:, 1:]
                keep = targets != IGNORE_INDEX
                by_hand = torch.nn.functional.cross_entropy(logits[:, :-1][keep], targets[keep])
            seen.append({"inputs": {k: v.clone() for k, v in inputs.items() if torch.is_tensor(v)},
                         "loss": loss.detach(), "by_hand": by_hand})
            return loss

    args = SFTConfig(
        output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=len(rows), bf16=False,
        use_cpu=True, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        max_length=1024, dataset_kwargs={"skip_prepare_dataset": skip_prepare})
    trainer = RecordingTrainer(
        model=tiny_llama(base_tokenizer), args=args, processing_class=base_tokenizer,
        train_dataset=to_sft_dataset(rows),
        data_collator=AssistantOnlyCollator(base_tokenizer) if collator == "ours" else None)
    trainer.train()

    (step,) = seen
    inputs = step["inputs"]
    # The sampler may reorder the rows: match them by length.
    order = sorted(range(2), key=lambda i: -int(inputs["attention_mask"][i].sum()))
    for key in ("input_ids", "attention_mask", "labels"):
        assert inputs[key][order].tolist() == expected[key].tolist(), key
    torch.testing.assert_close(step["loss"], step["by_hand"])
