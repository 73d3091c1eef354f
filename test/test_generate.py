"""The synthetic command data: deterministic, de-duplicated, split by template or by
component, and every target parses back to its actions and (except refusals and
over-limit rows) plans without a PlanError. Every number a target holds is said in its
command, every non-default direction has a cue, and the refused classes are refused."""
import json
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings, strategies as st

from robot_sft.response_format import (
    DEFAULT_SYSTEM_PROMPT, REFUSAL_REASONS, SHAPE_SIDES, Move, Navigate, Refuse, Shape, Status,
    Turn, action_from_dict, actions_equal, parse_response, render_response,
)
from robot_sft.safety import PlanError, plan_twists
from training.data import compose as C, generate as G
from training.data.numbers import (
    ONES, TENS, decimal_to_words, mentioned_numbers, number_to_words, say_quantity,
)

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
        assert set(row) == {"messages", "intent", "category", "actions", "template_id", "style",
                            "split"}
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        assert row["messages"][0]["content"] == DEFAULT_SYSTEM_PROMPT
    assert {r["split"] for r in splits["train"]} == {"train"}
    assert {r["split"] for r in splits["heldout"]} == {"heldout"}


def test_no_duplicate_commands_and_short(rows):
    keys = Counter(G.normalise_command(command(r)) for r in rows)
    assert [k for k, n in keys.items() if n > 1] == []
    for row in rows:
        limit = C.MAX_WORDS.get(row["style"], G.MAX_WORDS)
        assert len(command(row).split()) <= limit, command(row)
    long_share = sum(len(command(r).split()) > G.MAX_WORDS for r in rows) / len(rows)
    assert long_share < 0.05  # long-winded commands cost tokens: most stay short


def test_heldout_templates_are_unseen_and_cover_every_intent(splits):
    train_ids = {r["template_id"] for r in splits["train"]}
    held_ids = {r["template_id"] for r in splits["heldout"]}
    assert train_ids.isdisjoint(held_ids)
    intents = {r["intent"] for r in splits["train"]}
    assert {r["intent"] for r in splits["heldout"]} == intents
    assert {r["category"] for r in splits["heldout"]} == set(G.CATEGORY_WEIGHTS)
    assert 0.08 < len(splits["heldout"]) / N < 0.25


def test_composed_heldout_rows_hold_a_component_never_trained_on(splits):
    hidden = C.split_components(0, 0.15) | G.split_templates(0, 0.15)["heldout"]
    for split, rows in splits.items():
        for row in rows:
            if not row["template_id"].startswith("compose/"):
                continue
            parts = set(row["template_id"].removeprefix("compose/").split("+"))
            assert bool(parts & hidden) == (split == "heldout"), (split, row["template_id"])
    assert sum(r["template_id"].startswith("compose/") for r in splits["heldout"]) > 0.5 * len(
        splits["heldout"])


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


# The named-turn lexicon: the only angles a target may hold that its command does not say.
LEXICON = {90: r"quarter", 180: r"around|half|u-?turn|about[- ]face|one-eighty|other way|opposite",
           270: r"three[- ]quarter", 360: r"full|complete|all the way around|360"}


def test_numbers_in_targets_are_copied_from_the_command(rows):
    """Every number of every target (sequences included) is said in the command, except an
    angle of the named-turn lexicon said by its name; `Turn left.` holds no number."""
    for row in rows:
        said, text = mentioned_numbers(command(row)), command(row).lower()
        for action in row["actions"]:
            for name in ("distance", "angle", "duration", "speed", "side"):
                value = action.get(name)
                if value is None or abs(value) in said:
                    continue
                assert name == "angle" and re.search(LEXICON[abs(value)], text), (
                    command(row), action)


def test_places_are_copied_verbatim(rows):
    """A Navigate place is a span of its command: no typo, no filler inside it."""
    for row in rows:
        for action in row["actions"]:
            if action["type"] == "Navigate":
                assert action["place"] in " ".join(command(row).lower().split()), command(row)


# Direction cues (this test's own lexicon, written apart from phrases.py).
_LEFT_CLOCKWISE = r"(?:counter|anti|contra)[\s-]*clock\s*wise|counter to the clockwise|opposite to clockwise"
CUES = {
    "left": re.compile(rf"{_LEFT_CLOCKWISE}|\b(?:left|leftward|ccw|lt|l)\b"),
    "right": re.compile(r"\b(?:right|rightward|clock\s*wise|cw|rt|r)\b"),
    "backward": re.compile(r"\b(?:back\w*|bk|bkwd|bwd|rev|revers\w*|retreat\w*|rear\w*|behind|"
                           r"withdraw\w*)\b"),
}


CUES["forward"] = re.compile(r"\b(?:forwards?|ahead|straight|front\w*|onwards?|advance|fwd|fw|fwrd)\b")


def cues(text: str) -> set[str]:
    """The directions a command has a word for ("counterclockwise" says left, not right).
    Letters and digits are apart, as the node reads them ("L45" says left)."""
    text = re.sub(r"(?<=\d)(?=[a-z°])|(?<=[a-z°])(?=\d)", " ", text.lower())
    found = {name for name, pattern in CUES.items() if pattern.search(text)}
    if not CUES["right"].search(re.sub(_LEFT_CLOCKWISE, " ", text)):
        found.discard("right")
    return found


def directions(action: dict) -> set[str]:
    kind = action["type"]
    if kind == "Move":
        return {"backward"} if action["distance"] < 0 else set()
    if kind in ("Turn",):
        return {"right"} if action["angle"] < 0 else {"left"}
    if kind in ("DefaultTurn", "Shape"):
        return {"right"} if action["direction"] < 0 else {"left"}
    if kind == "TimedMove":
        return {action["direction"]} - {"forward"}
    return set()


def test_every_non_default_direction_has_a_cue(rows):
    """Backward and right need a word that says so; left needs one unless the command
    gives no side at all (an unsided turn turns left). Typos never touch these words."""
    for row in rows:
        found = cues(command(row))
        for action in row["actions"]:
            for direction in directions(action):
                if direction == "left" and (len(row["actions"]) > 1 or not found & {"left", "right"}):
                    continue  # "turn 90 degrees", "turn around": left by the policy
                assert direction in found, (command(row), action)
        if len(row["actions"]) == 1 and row["actions"][0]["type"] in ("Move", "Turn", "TimedMove"):
            (wanted,) = directions(row["actions"][0]) or {"forward"}
            opposite = {"left": "right", "right": "left", "backward": None, "forward": "backward"}
            assert opposite[wanted] not in found or wanted in found, (command(row), row["actions"])


def test_a_default_direction_only_where_the_opposite_is_not_said(rows):
    """An unsided straight move goes forward and an unsided turn left (the policy), but not
    in a command that names the opposite elsewhere ("turn right 90, then turn 45 degrees"):
    a person could mean either, and the grounding check reads cues per command."""
    opposite = {"forward": "backward", "left": "right"}
    for row in rows:
        if row["intent"] == "refuse":
            continue
        found = cues(command(row))
        for action in row["actions"]:
            for direction in directions(action) or ({"forward"} if action["type"] in (
                    "Move", "TimedMove") else set()):
                if direction in opposite:
                    assert direction in found or opposite[direction] not in found, (
                        command(row), action)


REFUSED = {  # what a command says -> the refusal it must get (the whole answer)
    "unbounded": r"\b(?:until|till|til|forever|indefinitely|nonstop|endlessly|continuously)\b",
    "unsupported": r"sideways|diagonal|zig-?zag|slalom|in (?:a|an) (?:circle|arc|curve)|circular"
                   r"|perimeter|along the wall|follow the (?:\w+ )?wall|strafe|figure (?:eight|of)"
                   r"|spiral|curved path|\borbit",
}


def test_refused_classes_are_refused_whole(rows):
    """Unbounded and unsupported motions are refused, and so is any sequence with one."""
    seen = Counter()
    for row in rows:
        text = command(row).lower()
        for reason, pattern in REFUSED.items():
            if re.search(pattern, text):
                seen[reason] += 1
                assert [a["type"] for a in row["actions"]] == ["Refuse"], (text, row["actions"])
                if row["category"] not in ("refuse_injection", "refuse_unsafe_speed", "refuse_unclear"):
                    assert row["actions"][0]["reason"] == REFUSAL_REASONS[reason], text
    assert min(seen.values()) > 20, seen


_NUMBER = r"(?:[\d.,]+|(?:\b(?:" + "|".join(ONES + [t for t in TENS if t]) + r")\b[\s-]*)+)"
_SPEED = re.compile(rf"{_NUMBER}\s*(?:(?:m|cm|ft|rad|deg|°)/s|(?:meters?|metres?|centimet\w+|cm|feet|"
                    rf"foot|radians?|degrees?)\s+per\s+second)")


def _speed_alone(text: str) -> bool:
    """A speed and no distance, angle, time or named turn: "move forward at 0.5 m/s"."""
    text = text.lower()
    rest = _SPEED.sub(" ", text)
    return rest != text and not mentioned_numbers(rest) and not re.search("|".join(LEXICON.values()), text)


def test_a_speed_without_a_bound_is_refused(rows):
    """"move forward at 0.5 m/s" is unbounded (and the data holds such commands)."""
    count = 0
    for row in rows:
        if _speed_alone(command(row)):
            count += 1
            assert row["intent"] == "refuse", (command(row), row["actions"])
    assert count > 10


def test_the_behaviours_users_need_are_all_in_the_data(rows):
    """The outside-set failure classes of issue 12, each present in the data."""
    def has(pred):
        return sum(1 for r in rows if pred(r))
    targets = lambda r: r["messages"][2]["content"]
    assert has(lambda r: re.search(r"^Turn (?:left|right)(?: slowly| quickly)?\.$", targets(r), re.M)) > 50
    # ~35 in 1,500 rows; 20 on this seed's draw since the context phrases (session 11)
    assert has(lambda r: re.search(r"^Move \w+ for [\d.]+ (?:s|min) at ", targets(r), re.M)) > 12
    assert has(lambda r: "Turn left." in targets(r) and "Move" in targets(r)) > 5  # "turn left and go 5 m"
    # a turn and then a leg, the commonest way people steer ("turn right, then move forward
    # 2 m"): 24 in 1,500 rows (7 with no angle) and every draw refused it as unsupported;
    # 77 (42) with TURN_THEN_LEG and sequences at 18 %
    assert has(lambda r: re.match(r"Turn (?:left|right)[^\n]*\.\nMove ", targets(r))) > 50
    assert has(lambda r: re.match(r"Turn (?:left|right)(?: slowly| quickly)?\.\nMove ", targets(r))) > 20
    assert has(lambda r: re.search(r"covering|a distance of|spanning|a length of", command(r).lower())
               and r["intent"] != "refuse") > 30
    assert has(lambda r: "counter to the clockwise" in command(r).lower()) > 0
    assert has(lambda r: re.search(r"\bClockwise\b|\bLeft\b|\bRight\b", command(r))) > 20
    assert has(lambda r: r["category"].startswith("refuse_") and len(re.findall(
        r"\b(?:then|subsequently|followed by|after that|once)\b", command(r).lower())) > 0) > 20
    assert {r["style"] for r in rows} == set(C.STYLES) | {"template"}


def test_a_distance_at_a_speed_is_as_common_as_a_refused_speed_alone(rows):
    """"drive forward 2 m at 0.25 m/s" moves; "drive forward at 0.25 m/s" is refused: the
    two differ by the distance alone, and with about as many of each (35 distance-at-a-speed
    rows of the default 2,566) one draw refused every distance at a speed as unbounded. Now
    clearly more, counted over three seeds (one 1,500-row draw ranges 1.0-1.7x): 129 against
    100; 82 against 99 with the old MOVE_SPEED_SHARE of 0.35. Session 12's larger share of
    sequences made it 120 against 106 at 0.6, and a draw of that recipe got 3 more of the
    evaluation sets' 110 distances at a speed wrong: 0.7 now, 150 against 87."""
    at_speed = speed_only = 0
    for seed in (0, 1, 2):
        drawn = rows if seed == 0 else sum(G.generate_dataset(n=N, seed=seed).values(), [])
        at_speed += sum(1 for r in drawn if re.search(
            r"^Move (?:forward|backward) [\d.]+ \w+ at [\d.]+ \S+\.$", r["messages"][2]["content"], re.M))
        speed_only += sum(1 for r in drawn if _speed_alone(command(r)))  # all refused (test above)
    assert at_speed >= 1.15 * speed_only and speed_only > 30, (at_speed, speed_only)


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
    ("navigate/00", {"place": "the kitchen"}, "go to the kitchen"),
    ("shape/00", {"dist": "2 m"}, "drive a 2 m square"),
    ("stop/05", {}, "halt"),
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
                     "2.5 metres", "2.5m", "two point five meters", "two point five metres"}),
    (0.25, "m", 1.0, {"a quarter meter", "a quarter metre", "a quarter of a meter",
                      "a quarter of a metre", "point two five meters", "point two five metres",
                      "zero point two five meters", "zero point two five metres",
                      "point twenty five meters", "point twenty five metres",
                      "point twenty-five meters", "point twenty-five metres", "0.25 m",
                      "0.25m", "0.25 meters", "0.25 metres", ".25 m", ".25m", ".25 meters",
                      ".25 metres"}),
    (0.5, "s", 1.0, {"half a second", "half a sec"}),
    (3.14, "rad", 1.0, {"three point one four radians", "three point one four rads",
                        "3.14 rad", "3.14 radians", "3.14 rads"}),
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
    ("back up 3 feet", {3}), ("go half a meter", {0.5}), ("turn ninety degrees", {90}),
    ("spin one hundred and eighty degrees", {180}), ("forty-five degrees", {45}),
    ("two and a half metres", {2.5}), ("drive 1,5 m at .2 m/s", {1.5, 0.2}),
    ("move a hundred centimeters", {100}), ("for half a minute", {0.5}),
])
def test_mentioned_numbers(text, numbers):
    """The generator checks its targets with the node's own reader (one reader, so the
    data never teaches a number the grounding check would refuse)."""
    assert mentioned_numbers(text) == {float(n) for n in numbers}


@pytest.mark.parametrize("value, forms", [
    (1.5, {"one point five"}), (0.5, {"point five", "zero point five"}),
    (0.25, {"point two five", "zero point two five", "point twenty five", "point twenty-five"}),
    (3.14, {"three point one four"}), (0.2, {"point two", "zero point two"}),
    (0.05, {"point zero five", "zero point zero five"}), (12.5, {"twelve point five"}),
])
def test_decimals_said_in_words(value, forms):
    """Spoken decimals, digit by digit after "point" ("point twenty five" below one); every
    form reads back to the value with the node's reader."""
    said = {decimal_to_words(value, random.Random(i)) for i in range(300)}
    assert said == forms
    for text in said:
        assert mentioned_numbers(text) == {value}, text
    assert decimal_to_words(2, random.Random(0)) is None  # integers stay whole numbers
    assert decimal_to_words(0.125, random.Random(0)) is None  # nobody says three decimals


@given(st.floats(min_value=0.01, max_value=20.99), st.integers(0, 10_000), st.sampled_from(
    ["m", "cm", "ft", "s", "rad", "m/s", "rad/s", "ft/s"]))
@settings(max_examples=300, deadline=None)
def test_every_way_a_quantity_is_said_reads_back(value, seed, unit):
    value = round(value, 2)
    text = say_quantity(value, unit, random.Random(seed), words=1.0)
    assert value in mentioned_numbers(text), text


def test_spoken_decimals_and_fractions_are_in_the_data():
    """Decimals said in words, and quarters of a unit, are in the data, their targets copied."""
    rows = G.generate_dataset(n=6000, seed=3)["train"]
    spoken = [r for r in rows if re.search(r"\bpoint (?:zero|one|two|three|four|five|six|seven|"
                                           r"eight|nine|twenty|fifty|seventy)", command(r).lower())]
    assert len(spoken) >= 20
    assert any(re.search(r"\b(?:one|two|three|four|five|six|seven|eight|nine) point ",
                         command(r).lower()) for r in spoken)
    digits = "zero|one|two|three|four|five|six|seven|eight|nine"  # "point five": no whole part said
    assert any(re.search(rf"(?:^|\s)(?!(?:{digits})\s)\w+ point (?:{digits})", command(r).lower())
               for r in spoken)
    assert any("a quarter" in command(r).lower() and "0.25" in r["messages"][2]["content"]
               for r in rows)


@given(st.integers(min_value=0, max_value=999), st.booleans(), st.booleans())
def test_number_words_read_back(n, hyphen, use_and):
    assert mentioned_numbers(number_to_words(n, hyphen, use_and)) == {float(n)}


def test_shapes_cover_every_polygon_both_ways_in_both_splits():
    """Triangles, squares, pentagons and hexagons, turning left and right, said by name or
    by their sides ("six-sided"); some of each split's templates are the new polygons."""
    templates = G.all_templates()["shape"]
    assert {(t.extra[0], t.extra[1]) for t in templates} == {
        (n, sign) for n in SHAPE_SIDES.values() for sign in (1, -1)}
    assert any("five-sided" in t.text or "five sided" in t.text for t in templates)
    assert any("six-sided" in t.text or "six sided" in t.text for t in templates)
    split = G.split_templates(0, 0.15)
    for name in ("train", "heldout"):
        sides = {t.extra[0] for t in templates if t.id in split[name]}
        assert sides & {5, 6}, name
    assert {t.extra[0] for t in templates if t.id in split["train"]} == {3, 4, 5, 6}
    words = C.Composer(random.Random(0), frozenset(), new=False)
    for seed in range(40):  # never "a a metre square"
        for tpl in templates:
            _, text, _ = G._Builder(random.Random(seed), {tpl.id}, words).clause("shape", tpl)
            assert not re.search(r"\ban? (?:an?|half) ", text), text


def test_shapes_are_one_line_that_copies_the_side():
    """The model copies shape, side and direction; code computes the sides and turns."""
    words = C.Composer(random.Random(0), frozenset(), new=False)
    for tpl in G.all_templates()["shape"]:
        _, text, actions = G._Builder(random.Random(0), {tpl.id}, words).clause("shape", tpl)
        (shape,) = actions
        assert isinstance(shape, Shape) and (SHAPE_SIDES[shape.name], shape.direction) == tpl.extra
        assert shape.side in mentioned_numbers(text) and "\n" not in render_response(actions)
    G.check_copied("drive a 2 m square", [Shape("square", 2)], "shape")
    with pytest.raises(AssertionError, match="distance 3.0"):
        G.check_copied("drive a 2 m square", [Shape("square", 3)], "shape")


def test_write_dataset_and_cli(tmp_path, capsys):
    assert G.main(["--out", str(tmp_path), "--n", "200", "--seed", "3"]) == 0
    assert "train:" in capsys.readouterr().out
    stats = json.loads((tmp_path / "stats.json").read_text())
    lines = (tmp_path / "train.jsonl").read_text().splitlines()
    assert stats["splits"]["train"]["rows"] == len(lines)
    assert stats["splits"]["train"]["rows"] + stats["splits"]["heldout"]["rows"] == 200
    assert stats["splits"]["train"]["sha256"] == G.file_sha256(tmp_path / "train.jsonl")
    assert sum(stats["splits"]["heldout"]["intents"].values()) == stats["splits"]["heldout"]["rows"]


@settings(max_examples=30, deadline=None)
@given(st.text(alphabet="abcdefghij klmnop", min_size=1, max_size=40), st.integers(0, 10**6))
def test_typos_keep_protected_words_and_numbers(text, seed):
    noisy = G.add_typo(text + " 25 kitchen three", random.Random(seed), frozenset({"kitchen"}))
    assert noisy.endswith(" 25 kitchen three")


def test_stops_and_status_questions_are_said_in_every_style(rows):
    """Long-winded and formal rows were all motions and refusals, and every draw refused
    long-winded stops ("Please bring the platform to a standstill") as unbounded motion: stop
    and status rows are composed in the styles too, about a third of them."""
    fixed = [r for r in rows if r["category"] in G.STYLED_TEMPLATES]
    styles = Counter(r["style"] for r in fixed)
    assert styles["formal"] + styles["long"] > 5 and styles["spoken"] > 5, styles
    assert 0.2 < 1 - styles["template"] / len(fixed) < 0.5, styles
    stops = [r for r in fixed if r["category"] == "stop" and r["style"] in ("formal", "long")]
    assert stops and all(r["messages"][2]["content"] == "Stop." for r in stops)


def test_every_navigation_template_is_one_the_node_accepts():
    """A template the node's check refuses is redrawn every time, so it teaches nothing: "plan
    a route to {place} and take it" reads as a chore ("take"; a session-13 trial had it)."""
    from robot_sft.grounding import check_grounding
    from robot_sft.response_format import Navigate
    from training.data.templates import TEMPLATES

    refused = [t for t in TEMPLATES["navigate"]
               if check_grounding(t.format(place="the kitchen"), [Navigate("kitchen")])]
    assert refused == []
