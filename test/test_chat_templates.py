"""Named chat templates render the model families' formats exactly, and end_of_turn finds
each template's end-of-turn marker (what masking keeps in the loss and generation stops on)."""
import pytest

from training.chat_templates import (
    TEMPLATE_NAMES, TEMPLATES, ChatTemplateError, apply_chat_template_choice, end_of_turn,
    end_of_turn_token_id, render, resolve_chat_template)

CONVERSATION = [
    {"role": "system", "content": "SYS"},
    {"role": "user", "content": "Go 2 m"},
    {"role": "assistant", "content": "Move forward 2 m."},
]
CUSTOM = ("{% for m in messages %}{{ '### ' + m['role'] + ':\\n' + m['content'] }}"
          "{% if m['role'] == 'assistant' %}{{ eos_token }}{% endif %}{{ '\\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '### assistant:\\n' }}{% endif %}")

# The formats as the model cards write them, on the Llama-2-style tokenizer (<s>, </s>).
RENDERED = {
    "chatml": "<|im_start|>system\nSYS<|im_end|>\n<|im_start|>user\nGo 2 m<|im_end|>\n"
              "<|im_start|>assistant\nMove forward 2 m.<|im_end|>\n",
    "llama2": "<s>[INST] <<SYS>>\nSYS\n<</SYS>>\n\nGo 2 m [/INST] Move forward 2 m. </s>",
    "llama3": "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
              "<|start_header_id|>user<|end_header_id|>\n\nGo 2 m<|eot_id|>"
              "<|start_header_id|>assistant<|end_header_id|>\n\nMove forward 2 m.<|eot_id|>",
    "zephyr": "<|system|>\nSYS</s>\n<|user|>\nGo 2 m</s>\n<|assistant|>\nMove forward 2 m.</s>\n",
    CUSTOM: "### system:\nSYS\n### user:\nGo 2 m\n### assistant:\nMove forward 2 m.</s>\n",
}
PROMPT_END = {
    "chatml": "Go 2 m<|im_end|>\n<|im_start|>assistant\n",
    "llama2": "Go 2 m [/INST]",
    "llama3": "Go 2 m<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "zephyr": "Go 2 m</s>\n<|assistant|>\n",
    CUSTOM: "Go 2 m\n### assistant:\n",
}


def test_names_cover_the_four_families_and_the_tokenizers_own():
    assert set(TEMPLATE_NAMES) == {"chatml", "llama2", "llama3", "zephyr", "tokenizer"}


@pytest.mark.parametrize("name", RENDERED)
def test_templates_render_the_documented_format(llama2_tokenizer, with_template, name):
    tokenizer = with_template(llama2_tokenizer, name)
    assert render(tokenizer, CONVERSATION) == RENDERED[name]
    prompt = render(tokenizer, CONVERSATION[:2], add_generation_prompt=True)
    assert prompt.endswith(PROMPT_END[name])
    assert RENDERED[name].startswith(prompt)  # the answer continues the prompt


def test_tokenizer_choice_keeps_the_tokenizers_own_template(llama2_tokenizer, with_template):
    assert render(with_template(llama2_tokenizer, "tokenizer"), CONVERSATION) == RENDERED["llama2"]


@pytest.mark.slow
def test_smollm2_own_template_is_chatml_with_a_default_system_prompt(smollm2_tokenizer):
    without_system = CONVERSATION[1:]
    text = render(smollm2_tokenizer, without_system)
    assert text.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert text.endswith(RENDERED["chatml"].split("<|im_end|>\n", 1)[1])


@pytest.mark.parametrize("spelling, name", [("chatml", "chatml"), ("ChatML", "chatml"),
                                            (" llama3 ", "llama3"), ("ZEPHYR", "zephyr")])
def test_names_are_case_and_space_insensitive(spelling, name):
    assert resolve_chat_template(spelling) == TEMPLATES[name]


def test_custom_jinja_and_jinja_files_pass_through(tmp_path):
    assert resolve_chat_template(CUSTOM) == CUSTOM
    path = tmp_path / "mine.jinja"
    path.write_text(CUSTOM, encoding="utf-8")
    assert resolve_chat_template(str(path)) == CUSTOM


@pytest.mark.parametrize("choice, message", [
    ("vicuna", "unknown chat template 'vicuna': choose one of chatml, llama2, llama3, zephyr, tokenizer"),
    ("missing.jinja", "does not exist"),
    ("tokenizer", "needs the tokenizer"),
])
def test_bad_choices_are_clear_errors(choice, message):
    with pytest.raises(ChatTemplateError, match=message):
        resolve_chat_template(choice)


def test_tokenizer_without_a_template_is_a_clear_error(llama2_tokenizer, with_template):
    bare = with_template(llama2_tokenizer, "chatml")
    saved, bare.chat_template = bare.chat_template, None
    try:
        with pytest.raises(ChatTemplateError, match="has no chat template of its own: pick one of chatml"):
            resolve_chat_template("tokenizer", bare)
    finally:
        bare.chat_template = saved


def test_choice_is_set_in_place_and_saved_with_the_tokenizer(llama2_tokenizer, with_template, tmp_path):
    from transformers import AutoTokenizer

    tokenizer = with_template(llama2_tokenizer, "zephyr")
    assert apply_chat_template_choice(tokenizer, "zephyr") is tokenizer
    tokenizer.save_pretrained(tmp_path)  # the adapter dir carries the template to inference
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert render(reloaded, CONVERSATION) == RENDERED["zephyr"]


@pytest.mark.parametrize("name, marker", [("chatml", "<|im_end|>"), ("llama2", "</s>"),
                                          ("llama3", "<|eot_id|>"), ("zephyr", "</s>"),
                                          ("tokenizer", "</s>"), (CUSTOM, "</s>")])
def test_end_of_turn_of_each_template(llama2_tokenizer, with_template, name, marker):
    assert end_of_turn(with_template(llama2_tokenizer, name)) == marker


@pytest.mark.slow
@pytest.mark.parametrize("name, marker, single_token", [
    ("tokenizer", "<|im_end|>", True), ("chatml", "<|im_end|>", True), ("llama3", "<|eot_id|>", False),
    ("zephyr", "<|im_end|>", True), ("llama2", "<|im_end|>", True)])
def test_smollm2_end_of_turn_and_its_token(smollm2_tokenizer, with_template, name, marker, single_token):
    tokenizer = with_template(smollm2_tokenizer, name)
    assert end_of_turn(tokenizer) == marker  # eos-based templates take SmolLM2's eos
    expected = tokenizer.convert_tokens_to_ids(marker) if single_token else None
    assert end_of_turn_token_id(tokenizer) == expected


def test_end_of_turn_by_name_needs_the_tokenizer_when_it_is_the_eos():
    assert end_of_turn("chatml") == "<|im_end|>"
    assert end_of_turn("llama3") == "<|eot_id|>"
    for name in ("llama2", "zephyr", CUSTOM):
        with pytest.raises(ChatTemplateError, match="pass the tokenizer"):
            end_of_turn(name)


def test_a_template_that_never_closes_the_answer_is_refused(llama2_tokenizer, with_template):
    # The tutorial's Llama-2 text format: no eos after the answer, so no way to learn to stop.
    no_marker = "{% for m in messages %}{{ '[INST] ' + m['content'] + ' [/INST]' if m['role'] == 'user' " \
                "else ' ' + m['content'] }}{% endfor %}"
    with pytest.raises(ChatTemplateError, match="never learns to stop"):
        end_of_turn(with_template(llama2_tokenizer, no_marker))
