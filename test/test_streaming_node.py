"""stream_actions: the controller starts each action as soon as its line is generated.

Real rclpy (Fast DDS) in-process, with a model that streams scripted lines at a set pace,
plus the pure parts (StreamingReply, MotionExecutor.extend) it is built on.
"""
import threading
import time

import pytest

from robot_sft.executor import MotionExecutor
from robot_sft.inference.base import (AnswerTruncated, GenerationCancelled, LineStreamModel,
                                      WholeAnswerModel)
from robot_sft.safety import SafetyLimits, TwistSegment
from robot_sft.stream_reply import StreamingReply

LIMITS = SafetyLimits()


# ---------------------------------------------------------------- pure parts

@pytest.mark.parametrize("pieces, expected_starts", [
    # each complete line hands out its own segment, at once
    (["Move forward 1 m.\n", "Turn left 90 deg.\n"], [1, 1]),
    # a piece without its newline waits for it
    (["Move forward", " 1 m.", "\n"], [0, 0, 1]),
    # two lines in one piece start together
    (["Move forward 1 m.\nTurn left 90 deg.\n"], [2]),
    # a shape line is complete: all its sides and turns start at once
    (["Square with 1 m sides, ", "turning left.\n", "Stop.\n"], [0, 8, 1]),
    # status and navigation answers move nothing while streaming
    (["Report the battery.\n"], [0]),
    (["Navigate to the dock.\n"], [0]),
])
def test_streaming_reply_hands_out_each_complete_line(pieces, expected_starts):
    stream = StreamingReply(LIMITS, {}, "78% charge", "no obstacle")
    assert [len(stream.add(p).segments) for p in pieces] == expected_starts


def test_streaming_reply_finish_plans_the_last_line_and_says_the_whole_answer():
    stream = StreamingReply(LIMITS, {}, "", "")
    assert len(stream.add("Move forward 1 m.\n").segments) == 1
    stream.add("Turn left 90 deg.")  # the end-of-turn token ended it, no newline
    reply, rest = stream.finish()
    assert reply.ok and len(rest) == 1 and rest[0].angular_z > 0
    assert reply.text.startswith("Move forward 1 m.\nTurn left 90 deg.\n")
    assert stream.started == reply.segments


@pytest.mark.parametrize("pieces, message", [
    (["Move forward 1 m.\n", "Fly to the moon.\n"], "Stopped: could not understand"),
    (["Move forward 1 m.\n", "Move forward 500 m.\n"], "Stopped:"),
    (["Move forward 1 m.\n", "Navigate to the dock.\n"], "navigation cannot be combined"),
    (["Move forward 1 m.\n", "Square with 20 m sides, turning left.\n"], "exceeds the limit"),
])
def test_a_failing_later_line_fails_the_answer_and_names_what_started(pieces, message):
    stream = StreamingReply(LIMITS, {}, "", "")
    assert stream.add(pieces[0]).segments
    failed = stream.add(pieces[1]).failed
    assert failed is not None and not failed.ok and message in failed.text
    assert "Stopped after 1 of the planned motion segment(s) had started." in failed.text


@pytest.mark.parametrize("pieces, prefix", [
    ([], "Not moving: the answer reached"),                        # nothing started
    (["Move forward 1 m.\n"], "Stopped: the answer reached"),     # one line running
])
def test_an_answer_ended_from_outside_names_what_started(pieces, prefix):
    stream = StreamingReply(LIMITS, {}, "", "")
    for piece in pieces:
        stream.add(piece)
    reply = stream.fail("Not moving: the answer reached max_new_tokens=24 before its end.")
    assert not reply.ok and reply.text.startswith(prefix)
    assert ("had started" in reply.text) == bool(pieces)


def test_a_failing_first_line_reads_like_the_whole_answer_path():
    stream = StreamingReply(LIMITS, {}, "", "")
    failed = stream.add("Fly to the moon.\n").failed
    assert failed.text.startswith("Not moving: could not understand")


def run_executor(ex, start, end, period=0.05):
    """Step every `period` s (as the motion thread would); the Twists per time."""
    return {round(t, 2): ex.step(t).twist for t in [start + i * period
                                                     for i in range(int((end - start) / period) + 1)]}


def test_executor_extend_appends_or_restarts_after_the_plan_ran_out():
    ex = MotionExecutor(publish_period=0.05)
    ex.start([TwistSegment(0.5, 0.0, 1.0)])
    assert ex.step(0.0).twist == (0.5, 0.0)
    ex.extend([TwistSegment(0.0, 0.5, 1.0)])  # appended while running: runs after
    out = run_executor(ex, 0.05, 2.5)
    assert out[0.5] == (0.5, 0.0) and out[1.5] == (0.0, 0.5) and out[2.5] is None
    assert not ex.active
    ex.extend([TwistSegment(-0.5, 0.0, 0.5)])  # after the plan ran out: starts afresh
    out = run_executor(ex, 5.0, 5.6)
    assert out[5.0] == (-0.5, 0.0) and out[5.45] == (-0.5, 0.0) and out[5.5] == (0.0, 0.0)


def test_a_whole_answer_model_streams_its_answer_as_one_piece_of_complete_lines():
    class Whole(WholeAnswerModel):
        def respond(self, command, cancel=None):
            return f"echo {command}"

    assert list(Whole().stream_lines("x")) == ["echo x\n"]


# ---------------------------------------------------------------- the node

rclpy = pytest.importorskip("rclpy")
from test_controller_node import Rig, rig_factory, wait_for  # noqa: E402,F401


class PacedStreamModel(LineStreamModel):
    """Streams `pieces` one every `delay` seconds, like a model writing line by line;
    honours cancel like the real decoder (between tokens)."""

    def __init__(self, pieces, delay):
        self.pieces, self.delay = pieces, delay
        self.yielded = []  # perf_counter time of each piece
        self.cancelled = threading.Event()

    def respond(self, command, cancel=None):
        return "".join(self.stream_lines(command, cancel))

    def stream_lines(self, command, cancel=None):
        for piece in self.pieces:
            if cancel is not None and cancel.wait(self.delay):
                self.cancelled.set()
                raise GenerationCancelled()
            self.yielded.append(time.perf_counter())
            yield piece


def first_moving_after(rig, since):
    moving = [t for t in rig.moving() if t[0] >= since]
    return moving[0][0] if moving else None


def test_first_action_moves_before_the_answer_is_complete(rig_factory):
    model = PacedStreamModel(["Move forward 0.25 m.\n", "Turn left 10 deg.\n"], delay=0.4)
    rig = rig_factory(model=model, default_angular_speed=1.0)
    sent = time.perf_counter()
    rig.send("forward a bit then turn left")
    response = rig.wait_response(timeout=5.0)
    assert response.startswith("Move forward 0.25 m.\nTurn left 10 deg.\n")
    first = first_moving_after(rig, sent)
    assert first is not None and first < model.yielded[1]  # moving while line 2 was written
    assert first - model.yielded[0] < 0.1
    assert wait_for(lambda: rig.moving() and rig.moving()[-1][2] > 0
                    and rig.twists[-1][1:] == (0.0, 0.0), 5.0)  # then the turn, then zero


def test_stream_actions_false_waits_for_the_whole_answer(rig_factory):
    model = PacedStreamModel(["Move forward 0.25 m.\n", "Turn left 10 deg.\n"], delay=0.3)
    rig = rig_factory(model=model, stream_actions=False)
    rig.send("forward a bit then turn left")
    rig.wait_response(timeout=5.0)
    assert wait_for(lambda: rig.moving(), 3.0)
    assert rig.moving()[0][0] >= model.yielded[-1]


def test_a_later_line_that_fails_stops_with_zero_and_says_so(rig_factory):
    model = PacedStreamModel(["Move forward 2 m.\n", "Fly to the moon.\n"], delay=0.3)
    rig = rig_factory(model=model)
    rig.send("go")
    response = rig.wait_response(timeout=5.0)
    assert "Stopped: could not understand" in response and "had started" in response
    assert rig.moving() and rig.moving()[0][0] < model.yielded[1]
    stopped = rig.wait_stopped_after(model.yielded[1])
    assert stopped - model.yielded[1] < 0.1  # at once, not after the 4 s move
    time.sleep(0.2)
    assert rig.twists[-1][1:] == (0.0, 0.0) and not rig.node._motion.active


def test_stop_while_moving_and_still_generating(rig_factory):
    model = PacedStreamModel(["Move forward 2 m.\n", "Turn left 90 deg.\n"], delay=0.5)
    rig = rig_factory(model=model)
    rig.send("go")
    assert wait_for(lambda: rig.moving(), 3.0)
    sent = time.perf_counter()
    rig.send("stop")
    assert rig.wait_stopped_after(sent) - sent < 0.05
    assert model.cancelled.wait(2.0)  # the generation was cancelled, line 2 never ran
    time.sleep(0.7)
    assert all(t[2] == 0.0 for t in rig.moving()) and rig.twists[-1][1:] == (0.0, 0.0)


def test_a_line_that_arrives_after_the_previous_motion_ended_still_runs(rig_factory):
    model = PacedStreamModel(["Move forward 5 cm.\n", "Turn left 10 deg.\n"], delay=0.4)
    rig = rig_factory(model=model, default_angular_speed=1.0)
    rig.send("go")
    assert "Turn left 10 deg." in rig.wait_response(timeout=5.0)
    assert wait_for(lambda: any(t[2] > 0 for t in rig.moving())
                    and rig.twists[-1][1:] == (0.0, 0.0), 3.0)
    forward = [t for t in rig.moving() if t[1] > 0]
    turn = [t for t in rig.moving() if t[2] > 0]
    assert forward[-1][0] < model.yielded[1] <= turn[0][0] + 0.01  # zero between: honest


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


def test_a_model_error_after_a_streamed_line_stops_and_names_what_started(rig_factory):
    model = FailingStreamModel(["Move forward 2 m.\n"], delay=0.3)
    rig = rig_factory(model=model)
    rig.send("go")
    response = rig.wait_response(timeout=5.0)
    assert response.startswith("Stopped: the model failed (RuntimeError: CUDA out of memory)")
    assert "Stopped after 1 of the planned motion segment(s) had started." in response
    time.sleep(0.3)
    assert rig.twists == [] or rig.twists[-1][1:] == (0.0, 0.0)
    assert not rig.node._motion.active


@pytest.mark.parametrize("stream_actions", [True, False])
def test_an_answer_cut_by_the_token_budget_moves_nothing_more(rig_factory, stream_actions):
    """Half a square is not a square: a truncated answer stops the robot and says why."""
    model = TruncatedStreamModel(["Move forward 2 m.\n", "Turn left 90 deg.\n"], delay=0.3)
    rig = rig_factory(model=model, stream_actions=stream_actions)
    rig.send("drive a square with 2 m sides")
    response = rig.wait_response(timeout=5.0)
    if stream_actions:  # the first line had started: the reply says so, not "Not moving"
        assert response.startswith("Stopped: the answer reached max_new_tokens")
        assert "Stopped after 2 of the planned motion segment(s) had started." in response
    else:
        assert response.startswith("Not moving: the answer reached max_new_tokens")
    done = time.perf_counter()
    time.sleep(0.3)
    assert all(t[0] <= done for t in rig.moving())  # nothing moves after the verdict
    assert rig.twists == [] or rig.twists[-1][1:] == (0.0, 0.0)
    assert not rig.node._motion.active
