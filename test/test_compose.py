"""The composer: components crossed into commands with their actions, a held-out split by
component, fluff that never says a number or a direction, and the surface-form measure."""
import random
import re

import pytest

from robot_sft.response_format import (
    REFUSAL_REASONS, DefaultTurn, Move, Navigate, Refuse, Status, Stop, TimedMove, Turn,
    actions_equal, parse_response, render_response,
)
from training.data import compose as C, phrases as P
from training.data.diversity import forms_per_meaning, summary
from training.data.noise import spoken
from training.data.numbers import ONES, TENS, UNIT_SPELLINGS, mask_numbers, mentioned_numbers

HELD = C.split_components(0, 0.15)
KINDS = ["move", "turn", "default_turn", "named_turn", "timed_move", "timed_turn", "unbounded",
         "unsupported", "sequence"]


def composer(new=False, seed=0):
    def template_clause(category):  # sequences may hold navigation, status or stop
        return {"navigate": ("navigate/00", "go to the server room", [Navigate("server room")]),
                "stop": ("stop/00", "stop", [Stop()]),
                "status_battery": ("status_battery/00", "check the battery", [Status("battery")]),
                "status_obstacles": ("status_obstacles/00", "check for obstacles",
                                     [Status("obstacles")])}[category]
    return C.Composer(random.Random(seed), HELD, new=new, template_clause=template_clause)


def test_split_hides_some_of_each_family_but_never_core_words():
    assert C.split_components(0, 0.15) == HELD and C.split_components(1, 0.15) != HELD
    for family, entries in C.FAMILIES.items():
        hidden = {i for i in range(len(entries)) if f"{family}/{i}" in HELD}
        assert len(hidden) < len(entries), family  # something left to train on
        assert not {C._text(entries[i]) for i in hidden} & P.CORE.get(family, set()), family
        if len(entries) >= 10:
            assert hidden, family
    assert set(P.CORE) <= set(C.FAMILIES)
    for family, core in P.CORE.items():  # a CORE entry that is not in its family is a typo
        assert core <= {C._text(e) for e in C.FAMILIES[family]}, family


@pytest.mark.parametrize("new", [False, True])
def test_train_rows_use_no_hidden_component_and_held_out_rows_use_one(new):
    comp = composer(new)
    for kind in KINDS * 30:
        comp.command(kind)
        assert comp.used_new() == new and all(c in HELD for c in comp.used if c in HELD)
        assert set(comp.used) & HELD if new else not set(comp.used) & HELD


def test_deterministic_for_a_seed():
    a, b, c = composer(seed=3), composer(seed=3), composer(seed=4)
    first = [a.command(k)[0] for k in KINDS * 5]
    assert first == [b.command(k)[0] for k in KINDS * 5]
    assert first != [c.command(k)[0] for k in KINDS * 5]


def test_every_composed_target_parses_back_and_copies_its_numbers():
    comp = composer()
    for kind in KINDS * 60:
        text, clause = comp.command(kind)
        target = render_response(clause.actions) if clause.actions else None
        if target:
            assert actions_equal(clause.actions, parse_response(target)), (text, target)
        if not clause.refusal and not clause.named:
            C.check_copied(text, clause.actions)
        assert len(text.split()) <= C.MAX_WORDS[comp.style]


@pytest.mark.parametrize("kind, expected_type", [
    ("move", Move), ("turn", Turn), ("default_turn", DefaultTurn), ("named_turn", Turn),
    ("timed_move", TimedMove), ("timed_turn", TimedMove)])
def test_each_kind_gives_its_action(kind, expected_type):
    comp = composer()
    for _ in range(40):
        text, clause = comp.command(kind)
        (action,) = clause.actions
        assert type(action) is expected_type, (text, action)
        if kind == "default_turn":  # no angle said, none written: `Turn left.`
            assert not mentioned_numbers(text) - {1.0}, text
        if kind == "timed_move":
            assert action.is_linear


@pytest.mark.parametrize("kind, reason", [("unbounded", "unbounded"), ("unsupported", "unsupported")])
def test_refused_kinds_refuse(kind, reason):
    comp = composer()
    for _ in range(60):
        text, clause = comp.command(kind)
        assert clause.actions == [Refuse(REFUSAL_REASONS[reason])] and clause.refusal == reason


def test_a_refused_part_refuses_the_whole_sequence():
    comp, refused, moved = composer(), 0, 0
    for _ in range(300):
        text, clause = comp.command("sequence")
        if clause.refusal:
            refused += 1
            assert clause.actions == [Refuse(REFUSAL_REASONS[clause.refusal])]
        else:
            moved += 1
            assert len(clause.actions) >= 2 and not any(isinstance(a, Refuse) for a in clause.actions)
    assert 0.1 < refused / (refused + moved) < 0.35


def test_places_in_sequences_stay_whole():
    """Fillers and typos never land inside a place name the target copies."""
    comp, seen = composer(seed=7), 0
    for _ in range(600):
        text, clause = comp.command("sequence")
        if Navigate("server room") in clause.actions:
            seen += 1
            assert "server room" in text.lower(), text
    assert seen > 30


@pytest.mark.parametrize("text, ing", [
    ("back up 2 m", "backing up 2 m"), ("drive forward 2 m", "driving forward 2 m"),
    ("spin left for 3 s", "spinning left for 3 s"), ("make a left turn", "making a left turn"),
    ("reverse your direction and travel 3 ft", "reversing your direction and traveling 3 ft"),
    ("pivot right", "pivoting right"), ("quarter turn", None), ("u-turn", None),
    ("forward, drive 2 m", None), ("at 0.3 m/s, drive 2 m", None)])
def test_gerunds(text, ing):
    assert C.gerund(text) == ing


FLUFF = ["PREAMBLE", "SUFFIX", "JOINER", "OPENER", "FINALLY", "AFTER", "FILLER", "SPOKEN_PREAMBLE",
         "SPOKEN_JOINER", "FORMAL_PREAMBLE", "FORMAL_SUFFIX", "LONG_PREAMBLE", "LONG_SUFFIX",
         "LONG_JOINER", "NN_PREAMBLE", "NN_JOINER", "TERSE_JOINER"]
_CUE = re.compile(r"\b(?:left|right|clockwise|counterclockwise|ccw|cw|forwards?|backwards?|back|"
                  r"ahead|straight|reverse|slow\w*|quick\w*|fast|careful\w*|gentl\w*|around)\b")


@pytest.mark.parametrize("family", FLUFF)
def test_fluff_says_no_number_unit_pace_or_direction(family):
    """Openings, closings, fillers and connectors carry no meaning: no number, unit, pace
    or direction (only "go ahead and", which must not read as forward)."""
    units = {w for spellings in UNIT_SPELLINGS.values() for g in spellings for w in g} - {"in", "s"}
    numbers = set(ONES) | {t for t in TENS if t} | {"hundred", "half", "quarter"}
    for entry in C.FAMILIES[family]:
        text = re.sub(r"\{\w+\}", " ", entry).lower().replace("go ahead and", " ")
        assert not re.search(r"\d", text), entry
        assert not _CUE.search(text), entry
        assert not set(re.findall(r"[a-z/°']+", text)) & (units | numbers), entry


def test_families_are_data_with_stable_slots():
    """Every slot a frame uses is one the composer fills; quantity phrases hold one {q}."""
    for family in ("DISTANCE", "ANGLE", "DURATION", "SPEED", "NN_DISTANCE", "NN_ANGLE",
                   "NN_DURATION", "NN_SPEED", "TERSE_SPEED", "TERSE_DURATION"):
        assert all(e.count("{q}") == 1 for e in C.FAMILIES[family]), family
    for family in ("JOINER", "SPOKEN_JOINER", "LONG_JOINER", "NN_JOINER", "TERSE_JOINER", "FINALLY"):
        assert all(("{b}" in e) != ("{b_ing}" in e) for e in C.FAMILIES[family]), family
    assert {a for _, a in P.NAMED_TURN} | {a for _, a in P.NAMED_NOUN} == {90, 180, 270, 360}


def test_spoken_keeps_numbers_and_protected_words_whole():
    for seed in range(200):
        text = spoken("Drive one and a half metres forward, then turn 8,5 degrees.",
                      random.Random(seed), lambda: "um", C.PROTECTED)
        assert "one and a half metres" in text and "8,5 degrees" in text and "," not in text[:20]
        assert text == text.lower()


def test_surface_forms_per_meaning():
    def row(command, target):
        return {"messages": [{"role": "user", "content": command},
                             {"role": "assistant", "content": target}]}
    rows = [row("drive 2 m", "Move forward 2 m."), row("Drive 2 m!", "Move forward 2 m."),
            row("go 2 m", "Move forward 2 m."), row("drive 3 m", "Move forward 3 m."),
            row("turn left", "Turn left.")]
    assert forms_per_meaning(rows) == {"Move forward 2 m.": 2, "Move forward 3 m.": 1, "Turn left.": 1}
    assert forms_per_meaning(rows, skeleton=True) == {"Move forward # m.": 2, "Turn left.": 1}
    assert summary(rows, min_rows=2)["skeleton"]["mean_forms"] == 2
    assert mask_numbers("drive two and a half m then 0.5 m") == "drive # and a # m then # m"


def styled(kind, style, n=400, seed=0, prob=None):
    """`n` clauses of `kind` said in `style` (not dressed), with their actions."""
    comp = composer(seed=seed)
    out = []
    while len(out) < n:
        comp.style, comp.used = style, []
        try:
            clause = comp.sequence() if kind == "sequence" else \
                comp.clause(kind) if prob is None else comp.clause(kind, prob=prob)
        except C._Retry:  # a sequence the composer draws again
            continue
        out.append(clause)
    return out


_SPEED = r"\d*\.?\d+ ?(?:m|cm|ft)/s"
_SECONDS = r"\d*\.?\d+ ?(?:s|sec|secs|seconds|min)\b"


def test_terse_shorthand():
    """Operator shorthand: "fwd 0.5 m/s 10 s", "bk @0.3m/s 30cm", "L45", "R 90deg", "rt 45°"."""
    timed = styled("timed_move", "terse", prob=1.0)
    texts = [c.text for c in timed if c.actions[0].speed is not None]
    assert any(re.search(rf"(?:^|\s){_SPEED} (?:for )?{_SECONDS}", t) for t in texts), texts[:20]
    assert any(re.search(rf"{_SECONDS}.* {_SPEED}$", t) for t in texts)
    for c in timed:  # "fwd 0.5 m/s 10 s" is a timed move with a speed, never a distance
        (action,) = c.actions
        assert isinstance(action, TimedMove)
        C.check_copied(c.text, c.actions)
    turns = [c.text for c in styled("turn", "terse")]
    assert any(re.search(r"(?<![\w])(?:L|R|l|r|lt|rt)\d", t) for t in turns), turns[:20]
    assert any(re.search(r"\ddeg\b", t) for t in turns)
    assert any(re.search(r"(?<![\w])rt \d+°", t) for t in turns)
    moves = [c.text for c in styled("move", "terse", prob=1.0)]
    assert any(re.search(rf"@ ?{_SPEED}", t) for t in moves)
    assert any(re.search(r"(?:^|\s)bk \d+(?:\.\d+)?cm\b", t) for t in moves)
    seqs = [c.text for c in styled("sequence", "terse", n=300)]
    assert any("; " in t for t in seqs) and any(", " in t for t in seqs)


def test_terse_sides_read_as_the_node_reads_them():
    """A glued side letter ("R90", "lt45°") is the node's direction cue for that side."""
    from robot_sft.grounding import check_grounding
    for c in styled("turn", "terse", n=300, seed=1):
        assert not check_grounding(c.text, c.actions), (c.text, c.actions)


def test_speed_and_duration_in_every_order():
    """"for 10 s at 0.5 m/s", "at 0.5 m/s for 10 s", "at 0.5 m/s, drive ... for 10 s" and
    bare "0.5 m/s for 10 s": all `Move forward for 10 s at 0.5 m/s.`"""
    orders = set()
    for style in ("plain", "formal", "long", "terse"):
        for c in styled("timed_move", style, n=300, prob=1.0):
            (action,) = c.actions
            if action.speed is None:
                continue
            text = c.text.lower()
            speed = re.search(_SPEED + "|meters per second|metres per second|feet per second", text)
            duration = re.search(_SECONDS + "|seconds?|minutes?", text)
            if speed and duration:
                orders.add("speed first" if speed.start() < duration.start() else "duration first")
                if re.match(rf"(?:at |@ ?)?{_SPEED},? ", text):
                    orders.add("speed at the front")
                if re.search(rf"(?:^|\b(?:fwd|fw|fwrd|forward|ahead|back|bk|bwd|bkwd|rev|reverse|backward)\.? )"
                             rf"{_SPEED} (?:for )?{_SECONDS}", text):
                    orders.add("bare speed then duration")
            C.check_copied(c.text, c.actions)
            assert render_response(c.actions).startswith("Move ") and " for " in \
                render_response(c.actions) and " at " in render_response(c.actions)
    assert orders == {"speed first", "duration first", "speed at the front",
                      "bare speed then duration"}, orders


def test_a_turn_between_two_legs():
    """"go forward five feet, turn left, and go five more feet" -> Move, Turn left., Move;
    "turn around" between two legs -> `Turn left 180 deg.`"""
    sequences = [c for style in C.STYLES for c in styled("sequence", style, n=150, seed=2)
                 if not c.refusal]
    side_only = [c for c in sequences if len(c.actions) == 3
                 and isinstance(c.actions[0], (Move, TimedMove)) and isinstance(c.actions[2], (Move, TimedMove))
                 and isinstance(c.actions[1], DefaultTurn)]
    around = [c for c in sequences if len(c.actions) == 3 and isinstance(c.actions[1], Turn)
              and abs(c.actions[1].angle) == 180 and isinstance(c.actions[0], (Move, TimedMove))
              and isinstance(c.actions[2], (Move, TimedMove))]
    assert len(side_only) >= 20 and len(around) >= 5, (len(side_only), len(around))
    assert any("Turn left.\n" in render_response(c.actions) for c in side_only)
    assert any("Turn left 180 deg.\n" in render_response(c.actions) for c in around)
    for c in side_only + around:
        C.check_copied(c.text, c.actions, c.named)


def test_a_further_leg():
    """"five more feet", "another 2 m", "a further 30 cm": the number is copied."""
    texts = []
    for c in styled("move", "plain", n=600, seed=4):
        C.check_copied(c.text, c.actions)
        texts.append(c.text)
    assert any(re.search(r"\b\w+ more (?:feet|foot|meters?|metres?|centimet\w+|inch\w*|cms?|m|ft)\b",
                         t) for t in texts)
    assert any(re.search(r"\b(?:another|a further) ", t) for t in texts)
    assert not any(re.search(r"\b(?:another|further|more) an? ", t) for t in texts)


def test_no_doubled_article():
    """"do a a hundred and twenty degrees spin" is not how anyone writes."""
    for kind in ("turn", "move", "timed_move"):
        for c in styled(kind, "plain", n=400, seed=5):
            assert not re.search(r"\b(?:a|an) (?:a|an) ", c.text.lower()), c.text


def test_every_unsupported_motion_the_data_refuses_is_refused_by_the_node():
    """Whatever the generator teaches as unsupported (sideways, arcs, curves, circles,
    diagonals, walls, perimeters, people...) the node's grounding refuses on its own, so a
    draw that did not learn one of them still moves nothing ("turn lt / arc left 80 cm / move
    bk 1.2m" was driven). Sideways moves said with a side alone ("inch to the left 50 cm")
    were a known gap until session 10: the side is the only cue, and turns use it too."""
    from robot_sft.grounding import refusal_cue

    missed = set()
    for style in C.STYLES:
        comp = composer(seed=0)
        for _ in range(300):
            comp.style, comp.used = style, []
            clause = comp.clause("unsupported")
            if refusal_cue(clause.text) is None:
                missed.add(clause.text)
    assert sorted(missed) == []


def test_spoken_sequences_run_on_without_a_connector_unless_a_pace_would_attach_to_either():
    """Transcribed speech has no commas and often no "then": "go forward two meters turn
    right then go forward one more meter". Every draw without such rows refused them as
    unsupported. A run-on with a speed or pace would leave open which motion it belongs to."""
    comp = composer(seed=3)
    comp.style = "spoken"
    plain = [C.Clause("go forward two meters", [Move(2, "m")]),
             C.Clause("turn right", [DefaultTurn(-1)])]
    paced = [C.Clause("go forward two meters slowly", [Move(2, "m", pace="slow")]), plain[1]]
    joined = [comp.join(plain) for _ in range(200)]
    assert 30 < joined.count("go forward two meters turn right") < 150
    assert all(comp.join(paced) != "go forward two meters slowly turn right" for _ in range(200))



@pytest.mark.parametrize("phrase", P.CONTEXT_BEFORE + P.CONTEXT_AFTER)
def test_a_context_phrase_changes_nothing_the_robot_reads(phrase):
    """"there's a cart in the aisle, so back up 1 m": the reason carries no direction,
    number, pace, turn, place, chore, stop or refusal cue, so the row's answer is the
    request's alone (obstacle words are allowed: they only gate a status line after
    another line, which these rows never have)."""
    from robot_sft.grounding import (
        asked_destination, asks_for_a_turn, chore_cue, direction_cues, fixed_line_cues,
        pace_cues, refusal_cue, said_numbers, turning_said)

    text = phrase.strip(" ,")
    said = said_numbers(text)
    assert not direction_cues(text) and not said.quantities and not said.free
    assert not pace_cues(text) and not fixed_line_cues(text) - {"obstacles"}
    assert refusal_cue(text) is None and chore_cue(text) is None
    assert asked_destination(text) is None
    assert not asks_for_a_turn(text) and not turning_said(text)


def test_commands_say_why_they_are_given():
    rng = random.Random(0)
    composer = C.Composer(rng, frozenset(), new=False)
    texts = [composer.command("move")[0].lower() for _ in range(400)]
    before = sum(any(t.startswith(p.lower()) for p in P.CONTEXT_BEFORE) for t in texts)
    after = sum(any(p.lower() in t for p in P.CONTEXT_AFTER) for t in texts)
    assert before > 5 and after > 5


def test_terse_turns_may_be_the_side_alone():
    """Operators write "fwd 2m then R", "left, fwd 4ft": a side alone is a 90 deg turn."""
    rng = random.Random(0)
    composer = C.Composer(rng, frozenset(), new=False)
    alone = 0
    for _ in range(600):
        text, clause = composer.command("default_turn")
        if re.fullmatch(r"(?:l|r|lt|rt|left|right|ccw|cw)\W*", text.strip().lower()):
            alone += 1
            assert render_response(clause.actions) in ("Turn left.", "Turn right.")
    assert alone >= 3
