"""The synthetic command data: deterministic, de-duplicated, split by template, and
every target parses back to its actions and (except refusals and over-limit rows)
plans without a PlanError."""
import json
import random
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from robot_sft.response_format import (
    DEFAULT_SYSTEM_PROMPT, SHAPE_SIDES, Move, Navigate, Refuse, Shape, Status, Turn,
    action_from_dict, actions_equal, parse_response, render_response,
)
from robot_sft.safety import PlanError, plan_twists
from training.data import generate as G
from training.data.numbers import mentioned_numbers, number_to_words, say_quantity

N = 1500


@pytest.fixture(scope="module")
def splits():
    return G.generate_dataset(n=N, seed=0)


@pytest.fixture(scope="module")
def rows(splits):
    return splits["train"] + splits["heldout"]


def command(row):
    return row["messages"][1]["content"]


def test_size_fields_and_determinism(splits, rows):
    assert len(rows) == N
    again = G.generate_dataset(n=N, seed=0)
    assert again == splits
    other = G.generate_dataset(n=N, seed=1)
    assert [command(r) for r in other["train"]] != [command(r) for r in splits["train"]]
    for row in rows:
        assert set(row) == {"messages", "intent", "category", "actions", "template_id", "split"}
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][0]["content"] == DEFAULT_SYSTEM_PROMPT
    assert {r["split"] for r in splits["train"]} == {"train"}
    assert {r["split"] for r in splits["heldout"]} == {"heldout"}


def test_no_duplicate_commands_and_short(rows):
    keys = Counter(G.normalise_command(command(r)) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []
    assert max(len(command(r).split()) for r in rows) <= G.MAX_WORDS


def test_heldout_templates_are_unseen_and_cover_every_intent(splits):
    train_ids = {r["template_id"] for r in splits["train"]}
    held_ids = {r["template_id"] for r in splits["heldout"]}
    assert train_ids.isdisjoint(held_ids)
    intents = {r["intent"] for r in splits["train"]}
    assert {r["intent"] for r in splits["heldout"]} == intents
    assert {r["category"] for r in splits["heldout"]} == set(G.CATEGORY_WEIGHTS)
    assert 0.08 < len(splits["heldout"]) / N < 0.25


def test_every_category_present_with_its_share(rows):
    counts = Counter(r["category"] for r in rows)
    assert set(counts) == set(G.CATEGORY_WEIGHTS)
    assert min(counts.values()) >= 0.01 * N, counts


def test_targets_parse_back_and_plan(rows):
    for row in rows:
        actions = [action_from_dict(a) for a in row["actions"]]
        target = row["messages"][2]["content"]
        assert actions_equal(actions, parse_response(target)), (command(row), target)
        plan = plan_twists(actions)
        refused = any(isinstance(a, Refuse) for a in actions)
        expect_error = refused or row["category"] == "over_limit"
        assert isinstance(plan, PlanError) == expect_error, (command(row), target, plan)
        assert row["category"].startswith("refuse_") == refused


def test_numbers_in_targets_are_copied_from_the_command(rows):
    for row in rows:
        if row["category"] in ("shape", "turn_named", "sequence") or row["intent"] == "refuse":
            continue  # fixed angles ("turn around"); sequences are checked per clause
        said = mentioned_numbers(command(row))
        for action in row["actions"]:
            for name in ("distance", "angle", "duration", "speed"):
                if action.get(name) is not None:
                    assert abs(action[name]) in said, (command(row), action)


def test_seed_examples_always_in_train(splits):
    seeds = G.seed_examples()
    assert len(seeds) == 5
    train = {command(r): r for r in splits["train"]}
    expected = {
        "Move the robot forward 2 meters": [Move(2, "m")],
        "What is the robot's current battery level?": [Status("battery")],
        "Navigate to the charging station": [Navigate("charging station")],
        "Rotate 90 degrees clockwise": [Turn(-90, "deg")],
        "Report any obstacles detected": [Status("obstacles")],
    }
    for text, actions in expected.items():
        row = train[text]
        assert actions_equal(actions, [action_from_dict(a) for a in row["actions"]])
        assert actions_equal(actions, parse_response(row["messages"][2]["content"]))


@pytest.mark.parametrize("template, slots, expected", [
    ("move/00", {"ldir": "forward", "dist": "3 feet"}, "move forward 3 feet"),
    ("move/24", {"dist": "half a meter"}, "back up half a meter"),
    ("turn/00", {"adir": "clockwise", "angle": "ninety degrees"}, "turn clockwise ninety degrees"),
    ("timed_move/00", {"ldir": "forward", "dur": "3 seconds"}, "drive forward for 3 seconds"),
])
def test_template_ids_are_stable(template, slots, expected):
    category = template.split("/")[0]
    tpl = {t.id: t for t in G.all_templates()[category]}[template]
    assert tpl.text.format(**slots) == expected


@pytest.mark.parametrize("value, unit, words, expected", [
    (3, "ft", 0.5, {"three feet", "3 feet", "3 ft", "3ft"}),
    (0.5, "m", 1.0, {"half a meter", "half a metre"}),
    (1, "ft", 0.5, {"a foot", "one foot", "1 foot", "1 ft", "1ft"}),
    (2.5, "m", 1.0, {"two and a half meters", "two and a half metres", "2.5 m", "2.5 meters",
                     "2.5 metres", "2.5m"}),
    (90, "deg", 1.0, {"ninety degrees"}),
    (180, "deg", 1.0, {"one hundred eighty degrees", "one hundred and eighty degrees",
                       "a hundred and eighty degrees"}),
    (20, "cm", 0.0, {"20 cm", "20cm", "20 centimeters", "20 centimetres", "20 cms"}),
    (0.2, "m/s", 0.0, {"0.2 m/s", "0.2m/s", ".2 m/s", ".2m/s", "0.2 meters per second",
                       "0.2 metres per second", ".2 meters per second", ".2 metres per second"}),
])
def test_quantities_are_said_as_people_say_them(value, unit, words, expected):
    """Every way the generator says a quantity is one a person would type (decimal
    commas, "0,2", count as the same spelling)."""
    said = {say_quantity(value, unit, random.Random(i), words=words) for i in range(200)}
    assert {s.replace(",", ".") for s in said} <= expected
    for text in said:
        assert value in mentioned_numbers(text), text


@pytest.mark.parametrize("text, numbers", [
    ("back up 3 feet", {3}), ("go half a meter", {0.5, 1}), ("turn ninety degrees", {90}),
    ("spin one hundred and eighty degrees", {180}), ("forty-five degrees", {45}),
    ("two and a half metres", {2.5}), ("drive 1,5 m at .2 m/s", {1.5, 0.2}),
    ("move a hundred centimeters", {100}), ("for half a minute", {0.5, 1}),
])
def test_mentioned_numbers(text, numbers):
    assert mentioned_numbers(text) == {float(n) for n in numbers}


@given(st.integers(min_value=0, max_value=999), st.booleans(), st.booleans())
def test_number_words_read_back(n, hyphen, use_and):
    assert mentioned_numbers(number_to_words(n, hyphen, use_and)) == {float(n)}


@pytest.mark.parametrize("command_text, expected", [
    # (a command built from fixed template + slots, the actions the builders must produce)
    ("turn around", [Turn(180, "deg")]),
    ("quarter turn clockwise", [Turn(-90, "deg")]),
    ("do a full turn", [Turn(360, "deg")]),
])
def test_named_turns(command_text, expected):
    tpl = next(t for t in G.all_templates()["turn_named"] if t.text == command_text)
    builder = G._Builder(random.Random(0), {tpl.id})
    _, text, actions = builder.clause("turn_named", tpl, mod_prob=0.0)
    assert text == command_text and actions_equal(expected, actions)


def test_shapes_are_one_line_that_copies_the_side():
    """The model copies shape, side and direction; code computes the sides and turns."""
    for tpl in G.all_templates()["shape"]:
        _, text, actions = G._Builder(random.Random(0), {tpl.id}).clause("shape", tpl)
        (shape,) = actions
        assert isinstance(shape, Shape) and (SHAPE_SIDES[shape.name], shape.direction) == tpl.extra
        assert shape.side in mentioned_numbers(text) and "\n" not in render_response(actions)
    G.check_copied("drive a 2 m square", [Shape("square", 2)], "shape")
    with pytest.raises(AssertionError, match="distance 3.0"):
        G.check_copied("drive a 2 m square", [Shape("square", 3)], "shape")


def test_copy_direction_and_units_in_generated_moves(rows):
    """Table-free property over the data: "back"/"reverse" words give negative distances,
    clockwise/right give negative angles."""
    for row in rows:
        if row["category"] != "move":
            continue
        text, move = command(row).lower(), row["actions"][0]
        if any(w in text for w in ("back", "reverse", "retreat")) and "forward" not in text:
            assert move["distance"] < 0, text
    for row in rows:
        if row["category"] == "turn":
            text, turn = command(row).lower(), row["actions"][0]
            if "counter" not in text and "anti" not in text and "ccw" not in text and (
                    " clockwise" in f" {text}" or "right" in text):
                assert turn["angle"] < 0, text


def test_write_dataset_and_cli(tmp_path, capsys):
    assert G.main(["--out", str(tmp_path), "--n", "200", "--seed", "3"]) == 0
    assert "train:" in capsys.readouterr().out
    stats = json.loads((tmp_path / "stats.json").read_text())
    lines = (tmp_path / "train.jsonl").read_text().splitlines()
    assert stats["splits"]["train"]["rows"] == len(lines)
    assert stats["splits"]["train"]["rows"] + stats["splits"]["heldout"]["rows"] == 200
    assert stats["splits"]["train"]["sha256"] == G.file_sha256(tmp_path / "train.jsonl")
    assert sum(stats["splits"]["heldout"]["intents"].values()) == stats["splits"]["heldout"]["rows"]


def test_exclude_keeps_commands_out(tmp_path):
    first = G.generate_dataset(n=300, seed=0)
    banned = [command(r) for r in first["train"][5:50]]
    path = tmp_path / "eval.jsonl"
    path.write_text("".join(json.dumps({"command": c}) + "\n" for c in banned))
    again = G.generate_dataset(n=300, seed=0, exclude=G.read_commands(path))
    keys = {G.normalise_command(command(r)) for s in again.values() for r in s}
    assert keys.isdisjoint(G.normalise_command(c) for c in banned)


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=40), st.integers(0, 10**6))
def test_typos_keep_protected_words_and_numbers(text, seed):
    noisy = G.add_typo(text + " 25 kitchen three", random.Random(seed), frozenset({"kitchen"}))
    assert noisy.endswith(" 25 kitchen three")
