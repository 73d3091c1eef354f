"""Batch layouts change speed, never results: padding-free batches (every row of a micro-batch
flattened into one sequence, rows told apart by position_ids) and padding to a multiple of
N tokens give the same loss and gradients as plain right-padded batches, i.e. no token
attends across rows. Real TRL collator, real masking, tiny random Llama."""
from __future__ import annotations

import pytest

from training.masking import tokenize_dataset

ROWS = [
    [{"role": "user", "content": "go forward 2 meters"}, {"role": "assistant", "content": "Move forward 2 m."}],
    [{"role": "user", "content": "turn left ninety degrees please, then stop"},
     {"role": "assistant", "content": "Turn left 90 deg.\nStop."}],
    [{"role": "user", "content": "stop"}, {"role": "assistant", "content": "Stop."}],
    [{"role": "user", "content": "how is the battery doing?"}, {"role": "assistant", "content": "Battery status."}],
]


def loss_and_grads(model, batch):
    """As SFTTrainer.compute_loss runs the model: use_cache=False. (With a cache, transformers
    5 does not derive the per-row mask from position_ids and rows attend across.)"""
    model.zero_grad()
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("attention", ["eager", "sdpa"])
def test_padding_free_and_padded_batches_give_the_same_loss_and_gradients(
        attention, llama2_tokenizer, with_template, tiny_llama):
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = with_template(llama2_tokenizer, "chatml")
    rows, _ = tokenize_dataset(ROWS, tokenizer, max_length=128)
    features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    assert len({len(f["input_ids"]) for f in features}) > 1  # padding really happens
    model = tiny_llama(tokenizer)
    model.config._attn_implementation = attention
    pad = tokenizer.pad_token_id

    padded = DataCollatorForLanguageModeling(pad_token_id=pad)(features)
    flat = DataCollatorForLanguageModeling(pad_token_id=pad, padding_free=True)(features)
    rounded = DataCollatorForLanguageModeling(pad_token_id=pad, pad_to_multiple_of=16)(features)
    assert flat["input_ids"].shape[0] == 1 and "attention_mask" not in flat
    assert rounded["input_ids"].shape[1] % 16 == 0

    reference_loss, reference_grads = loss_and_grads(model, padded)
    for batch in (flat, rounded):
        batch = {k: v for k, v in batch.items() if k in ("input_ids", "attention_mask", "labels",
                                                          "position_ids")}
        loss, grads = loss_and_grads(model, batch)
        import torch

        torch.testing.assert_close(loss, reference_loss, rtol=1e-5, atol=1e-6)
        for name, grad in grads.items():
            torch.testing.assert_close(grad, reference_grads[name], rtol=1e-4, atol=1e-6)


def test_a_row_does_not_see_the_rows_before_it_in_a_padding_free_batch(llama2_tokenizer,
                                                                       with_template, tiny_llama):
    """The control: the same flattened tokens WITHOUT position_ids attend across rows and
    give another loss, so the test above can tell."""
    import torch
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    tokenizer = with_template(llama2_tokenizer, "chatml")
    rows, _ = tokenize_dataset(ROWS, tokenizer, max_length=128)
    features = [{"input_ids": r["input_ids"], "labels": r["labels"]} for r in rows]
    model = tiny_llama(tokenizer)
    model.config._attn_implementation = "sdpa"
    flat = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id, padding_free=True)(features)
    with torch.no_grad():
        separate = model(input_ids=flat["input_ids"], labels=flat["labels"],
                         position_ids=flat["position_ids"], use_cache=False).loss
        mixed = model(input_ids=flat["input_ids"], labels=flat["labels"], use_cache=False).loss
    assert abs(separate - mixed) > 1e-4


def test_padding_free_training_ends_where_padded_training_does(tiny_base, tmp_path):
    """The whole path (config -> TRL -> fused LM head -> optimizer): same loss, same adapter."""
    from safetensors.torch import load_file

    from robot_sft.adapter import read_metadata
    from training.train import main

    def run(name, *extra):
        out = tmp_path / name
        assert main(["--model", str(tiny_base), "--output_dir", str(out), "--num_examples", "60",
                     "--max_length", "256", "--per_device_train_batch_size", "4", "--max_steps", "2",
                     "--eval_samples", "-1", "--num_threads", "1", "--num_processes", "1",
                     "--dtype", "float32", "--attn_implementation", "sdpa", *extra]) == 0
        return read_metadata(out).metrics["train_loss"], load_file(str(out / "adapter_model.safetensors"))

    import torch

    loss, weights = run("padded")
    for name, extra in (("flat", ["--padding_free", "true"]), ("rounded", ["--pad_to_multiple_of", "16"])):
        other_loss, other_weights = run(name, *extra)
        assert other_loss == pytest.approx(loss, rel=1e-4), name
        for key in weights:
            torch.testing.assert_close(other_weights[key], weights[key], rtol=1e-3, atol=1e-5)
