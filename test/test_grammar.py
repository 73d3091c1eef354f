"""The canonical-response grammar (robot_sft.grammar) against the renderer and the parser:
whatever render_response writes matches it, and whatever it matches parses."""
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_response_format import actions

from robot_sft.grammar import (
    PLACE_FIRST_STOP_WORDS, PLACE_STOP_WORDS, is_canonical, response_gbnf, response_regex,
    word_except,
)
from robot_sft.response_format import (
    REFUSAL_REASONS, Move, Navigate, ParseError, Refuse, TimedMove, Turn, parse_response,
    render_response,
)


def canonical(action_list):
    """What the grammar promises to cover: a refusal stands alone; place names avoid the
    words the parser treats specially."""
    refusals = [a for a in action_list if isinstance(a, Refuse)]
    if refusals:
        return [refusals[0]]
    for a in action_list:
        if isinstance(a, Navigate):
            words = a.place.split()
            if words[0] in PLACE_FIRST_STOP_WORDS or set(words[1:]) & set(PLACE_STOP_WORDS):
                return [Move(1.0)]
    return action_list


@settings(max_examples=400, deadline=None)
@given(st.lists(actions(), min_size=1, max_size=16).map(canonical))
def test_rendered_responses_match(action_list):
    assert is_canonical(render_response(action_list)), render_response(action_list)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.from_regex(re.compile(response_regex(max_lines=4)), fullmatch=True))
def test_everything_the_grammar_accepts_parses_back_to_itself(text):
    parsed = parse_response(text)
    assert not isinstance(parsed, ParseError), (text, parsed)
    assert len(parsed) == text.count("\n") + 1
    assert parse_response(render_response(parsed)) == parsed


@pytest.mark.parametrize("text, ok", [
    ("Move forward 2 m.", True),
    ("Move backward 30 cm at 0.2 m/s.", True),
    ("Turn right 90 deg at 0.3 rad/s.", True),
    ("Move backward for 3 s slowly.", True),
    ("Turn left for 1 min quickly.", True),
    ("Turn left.", True),                        # a turn with a side and no angle
    ("Turn right at 0.3 rad/s.", True),
    ("Turn.", False),
    ("Turn left", False),
    ("Stop.", True),
    ("Navigate to charging station.", True),
    ("Battery status: {battery}.", True),
    ("Obstacle report: {obstacles}.", True),
    ("Move forward 1 m.\nTurn left 90 deg.\nStop.", True),
    ("Square with 1 m sides, turning left.", True),
    ("Triangle with 50 cm sides, turning right slowly.", True),
    ("Hexagon with 0.5 ft sides, turning left at 0.3 m/s.\nStop.", True),
    *[(f"Cannot comply: {reason}.", True) for reason in REFUSAL_REASONS.values()],
    ("Move forward 2 meters.", False),          # canonical units only
    ("Move forward 2.0 m.", False),             # canonical numbers only
    ("Move forward -2 m.", False),              # direction carries the sign
    ("Move forward 2 m", False),                # the full stop ends a line
    ("Turn left 90 deg at 0.3 m/s.", False),    # linear speed on a turn
    ("Move forward 2 m at 1 m/s slowly.", False),
    ("Move left 2 m.", False),
    ("Cannot comply: I don't want to.", False),  # reasons come from REFUSAL_REASONS
    ("Move forward 1 m.\nCannot comply: safety rules cannot be overridden.", False),
    ("Navigate to the kitchen.", False),        # the parser would drop "the"
    ("Navigate to kitchen then lab.", False),   # the parser would split the line
    ("Navigate to Kitchen.", False),
    ("Stop.\n", False),
    ("Square with 1 m sides.", False),                       # the direction is part of the line
    ("Square with 1 m sides turning left.", False),
    ("square with 1 m sides, turning left.", False),
    ("Square with 0 m sides, turning left.", False),         # a side is positive
    ("Square with 1 m sides, turning clockwise.", False),    # canonical directions only
    ("Square with 1 m sides, turning left at 0.3 rad/s.", False),  # the speed is the sides'
    ("Octagon with 1 m sides, turning left.", False),
    ("", False),
])
def test_examples(text, ok):
    assert is_canonical(text) is ok


def test_line_limit_is_one_more_than_the_planner_takes():
    """A model that wants more actions than allowed ends with an answer the planner refuses,
    never with one the grammar shortened into something it executes."""
    from robot_sft.grammar import DEFAULT_MAX_LINES
    from robot_sft.safety import PlanError, SafetyLimits, plan_twists

    longest = "\n".join(["Stop."] * DEFAULT_MAX_LINES)
    assert is_canonical(longest) and not is_canonical(longest + "\nStop.")
    assert isinstance(plan_twists(parse_response(longest), SafetyLimits()), PlanError)
    assert is_canonical("Stop.\nStop.", max_lines=2) and not is_canonical("Stop.\nStop.", max_lines=1)


def test_known_places_restrict_navigation():
    places = ["Kitchen", "charging station"]
    assert is_canonical("Navigate to kitchen.", places=places)
    assert not is_canonical("Navigate to lab.", places=places)
    assert "kitchen" in response_gbnf(places) and "kitchen" in response_regex(places)


@pytest.mark.parametrize("word, ok", [("the", False), ("then", False), ("t", True), ("th", True),
                                      ("thence", True), ("theatre", True), ("kitchen", True),
                                      ("a-1_b'", True), ("-x", False), ("x" * 17, False)])
def test_word_except(word, ok):
    from robot_sft.grammar import to_regex
    pattern = re.compile(to_regex(word_except({"the", "then"})))
    assert (pattern.fullmatch(word) is not None) is ok


def test_gbnf_mentions_every_unit_and_reason():
    """Derived from the format's tables: a new unit or reason shows up without an edit here."""
    from robot_sft.response_format import (ANGLE_UNITS, ANGULAR_SPEED_UNITS, DISTANCE_UNITS,
                                           LINEAR_SPEED_UNITS, TIME_UNITS)
    gbnf = response_gbnf()
    for table in (DISTANCE_UNITS, ANGLE_UNITS, TIME_UNITS, LINEAR_SPEED_UNITS, ANGULAR_SPEED_UNITS):
        for unit in table:
            assert f'"{unit}"' in gbnf
    for reason in REFUSAL_REASONS.values():
        assert reason in gbnf
    assert gbnf.startswith("root ::= ")


@pytest.mark.parametrize("action", [Move(0.00001), Turn(123456), TimedMove(0.5, "left", speed=1e-5)])
def test_numbers_outside_the_grammar_are_rejected(action):
    """Bounded numbers keep the grammar finite: extreme values are not canonical."""
    assert not is_canonical(render_response([action]))
