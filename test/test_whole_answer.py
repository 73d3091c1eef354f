"""Nothing moves until the whole answer is parsed, grounded and planned (robot_sft.answer),
in the pure pipeline and in the node (real rclpy in-process, a model that writes
scripted lines at a set pace)."""
import threading
import time

import pytest

from robot_sft.answer import AnswerPolicy, answer_command, decide
from robot_sft.inference.base import (AnswerTruncated, GenerationCancelled, LineStreamModel,
                                      WholeAnswerModel)
from robot_sft.places import parse_places
from robot_sft.reply import UNCLEAR
from robot_sft.safety import SafetyLimits

POLICY = AnswerPolicy(SafetyLimits(), parse_places(["dock:0,0,0"]))


class PacedStreamModel(LineStreamModel):
    """Streams `pieces` one every `delay` seconds, like a model writing line by line;
    honours cancel like the real decoder (between tokens)."""

    def __init__(self, pieces, delay=0.0, confidence=1.0):
        self.pieces, self.delay = pieces, delay
        self.last_confidence = confidence
        self.yielded = []  # perf_counter time of each piece
        self.cancelled = threading.Event()

    def stream_lines(self, command, cancel=None):
        for piece in self.pieces:
            if cancel is not None and cancel.wait(self.delay):
                self.cancelled.set()
                raise GenerationCancelled()
            self.yielded.append(time.perf_counter())
            yield piece


class TruncatedStreamModel(PacedStreamModel):
    """Streams its lines, then reports that the token budget ended the answer."""

    def stream_lines(self, command, cancel=None):
        yield from super().stream_lines(command, cancel)
        raise AnswerTruncated("the answer reached max_new_tokens=12 before its end")


class FailingStreamModel(PacedStreamModel):
    """Streams its lines, then the model itself fails."""

    def stream_lines(self, command, cancel=None):
        yield from super().stream_lines(command, cancel)
        raise RuntimeError("CUDA out of memory")


# ---------------------------------------------------------------- the pipeline

@pytest.mark.parametrize("command, lines, meant, moves", [
    # the grammar ended the answer before a motion line nothing in the command bounds:
    # "go forward" would be left undone, so nothing moves
    ("please turn left and go forward", ["Turn left.\n"], "Move", False),
    ("turn right and then drive", ["Turn right.\n"], "Mo", False),
    # every said amount is carried: the line the model meant was its own invention
    ("go forward three meter and half", ["Move forward 3.5 m.\n"], "Move", True),
    ("turn right please", ["Turn right.\n"], None, True),
    # a status or navigation line the model meant is no motion left undone
    ("take a right", ["Turn right.\n"], "Battery", True),
    # it meant to refuse what follows a navigation: the whole command is refused
    ("go to the dock and take the glass", ["Navigate to dock.\n"], "Cannot", False),
    # a still answer stands
    ("report the battery so I know the runtime", ["Battery status: {battery}.\n"], "Cannot",
     True),
    # a navigation cannot follow a motion: the one the model meant would be left undone
    ("go back 1 ft and then go to the dock", ["Move backward 1 ft.\n"], "Navigate", False),
    # a navigation carries none of the said amounts: the turn meant after it is undone
    ("go to the dock then turn left 90 degrees", ["Navigate to dock.\n"], "Turn", False),
    # a refusal meant after a motion that carries its amounts: the rest is undone
    ("spin right 70 degrees and then open the door", ["Turn right 70 deg.\n"], "Cannot",
     False),
])
def test_an_answer_cut_before_a_motion_the_command_does_not_bound_moves_nothing(
        command, lines, meant, moves):
    model = PacedStreamModel(lines)
    model.last_meant_more = meant
    answer = answer_command(model, command, POLICY)
    assert answer.reply.ok == moves, answer.reply.text
    if not moves:
        assert answer.reply.text.startswith(UNCLEAR) and "further line" in answer.reply.text
        assert not answer.reply.segments and answer.reply.goal is None


def test_a_refusal_on_a_later_line_moves_nothing():
    model = PacedStreamModel(["Turn left 90 deg.\n", "Move forward 2 m.\n",
                              "Cannot comply: motion without a bound on distance or time is "
                              "not allowed.\n"])
    answer = answer_command(model, "turn left 90 degrees, go 2 m, then keep going", POLICY)
    assert not answer.reply.ok and answer.reply.segments == []


def test_a_whole_grounded_answer_is_planned_in_full():
    model = PacedStreamModel(["Turn left.\n", "Move forward 5 m.\n"])
    answer = answer_command(model, "turn left and go 5 m", POLICY)
    assert answer.reply.ok and len(answer.reply.segments) == 2
    assert answer.text == "Turn left.\nMove forward 5 m."


@pytest.mark.parametrize("answer_text, command", [
    ("Turn left 180 deg.\nMove forward 5 m.", "turn left and go 5 m"),     # invented number
    ("Navigate to dock.", "go to the bedroom"),                             # invented place
    ("Turn right 90 deg.", "rotate 90 degrees counter to the clockwise direction"),
])
def test_an_ungrounded_answer_is_refused(answer_text, command):
    reply = decide(answer_text, 1.0, command, POLICY)
    assert not reply.ok and reply.segments == [] and reply.goal is None
    assert reply.text.startswith(UNCLEAR)


def test_below_min_confidence_a_moving_answer_is_refused_and_a_refusal_stands():
    policy = AnswerPolicy(SafetyLimits(), {}, min_confidence=0.6)
    unsure = decide("Move forward 2 m.", 0.4, "move forward 2 m", policy)
    assert not unsure.ok and unsure.segments == [] and "confidence 0.40" in unsure.text
    assert decide("Move forward 2 m.", 0.8, "move forward 2 m", policy).segments
    refusal = decide("Cannot comply: the command is unclear, please rephrase it.", 0.1,
                     "wiggle", policy)
    assert refusal.text.startswith(UNCLEAR) and "confidence" not in refusal.text


def test_a_truncated_answer_moves_nothing_and_says_why():
    model = TruncatedStreamModel(["Move forward 2 m.\n", "Turn left 90 deg.\n"])
    answer = answer_command(model, "drive a square with 2 m sides", POLICY)
    assert answer.reply.text.startswith("Not moving: the answer reached max_new_tokens")
    assert answer.reply.segments == []


def test_grounding_can_be_switched_off_for_evaluation():
    policy = AnswerPolicy(SafetyLimits(), {}, ground=False)
    assert decide("Turn right 180 deg.", 1.0, "take a right", policy).ok


def test_a_whole_answer_model_streams_its_answer_as_one_piece_of_complete_lines():
    class Whole(WholeAnswerModel):
        def respond(self, command, cancel=None):
            return f"echo {command}"

    assert list(Whole().stream_lines("x")) == ["echo x\n"]


# ---------------------------------------------------------------- the node

rclpy = pytest.importorskip("rclpy")
from test_controller_node import Rig, rig_factory, wait_for  # noqa: E402,F401


def test_the_node_waits_for_the_whole_answer(rig_factory):
    model = PacedStreamModel(["Move forward 0.25 m.\n", "Turn left 10 deg.\n"], delay=0.3)
    rig = rig_factory(model=model)
    rig.send("move forward 0.25 m then turn left 10 degrees")
    assert rig.wait_response(timeout=5.0).startswith("Move forward 0.25 m.\nTurn left 10 deg.\n")
    assert wait_for(lambda: rig.moving(), 3.0)
    assert rig.moving()[0][0] >= model.yielded[-1]  # not before the last line was written


def test_a_later_line_that_fails_means_nothing_moves(rig_factory):
    model = PacedStreamModel(["Move forward 2 m.\n", "Fly to the moon.\n"], delay=0.2)
    rig = rig_factory(model=model)
    rig.send("move forward 2 m")
    response = rig.wait_response(timeout=5.0)
    assert response.startswith("Not moving: could not understand")
    time.sleep(0.3)
    assert rig.moving() == [] and not rig.node._motion.active


def test_an_ungrounded_answer_never_reaches_the_wheels(rig_factory):
    model = PacedStreamModel(["Turn right 180 deg.\n"])
    rig = rig_factory(model=model)
    rig.send("take a right")
    assert rig.wait_response(timeout=5.0).startswith(UNCLEAR)
    time.sleep(0.3)
    assert rig.moving() == []


def test_stop_while_generating_cancels_and_nothing_moves(rig_factory):
    model = PacedStreamModel(["Move forward 2 m.\n", "Turn left 90 deg.\n"], delay=0.5)
    rig = rig_factory(model=model)
    rig.send("move forward 2 m then turn left 90 degrees")
    assert wait_for(lambda: model.yielded, 3.0)
    sent = time.perf_counter()
    rig.send("stop")
    assert rig.wait_stopped_after(sent) - sent < 0.05
    assert model.cancelled.wait(2.0)  # the generation was cancelled, line 2 never ran
    time.sleep(0.5)
    assert rig.moving() == [] and rig.twists[-1][1:] == (0.0, 0.0)


def test_a_model_error_moves_nothing_and_says_so(rig_factory):
    model = FailingStreamModel(["Move forward 2 m.\n"], delay=0.1)
    rig = rig_factory(model=model)
    rig.send("move forward 2 m")
    response = rig.wait_response(timeout=5.0)
    assert response.startswith("Not moving: the model failed (RuntimeError: CUDA out of memory)")
    time.sleep(0.3)
    assert rig.moving() == [] and not rig.node._motion.active


def test_an_answer_cut_by_the_token_budget_moves_nothing(rig_factory):
    """Half a square is not a square: a truncated answer moves nothing and says why."""
    model = TruncatedStreamModel(["Move forward 2 m.\n", "Turn left 90 deg.\n"], delay=0.1)
    rig = rig_factory(model=model)
    rig.send("drive a square with 2 m sides")
    assert rig.wait_response(timeout=5.0).startswith(
        "Not moving: the answer reached max_new_tokens")
    time.sleep(0.3)
    assert rig.moving() == [] and not rig.node._motion.active


def test_an_unsure_answer_is_refused_by_the_node(rig_factory):
    model = PacedStreamModel(["Move forward 2 m.\n"], confidence=0.3)
    rig = rig_factory(model=model, min_confidence=0.5)
    rig.send("move forward 2 m")
    response = rig.wait_response(timeout=5.0)
    assert response.startswith(UNCLEAR) and "confidence 0.30" in response
    time.sleep(0.3)
    assert rig.moving() == []
