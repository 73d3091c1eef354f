"""One command's answer as the robot acts on it: the model's whole answer, grounded in the
command, planned, and held to a confidence threshold.

The node (controller_node.serve), the evaluation of command files (`training.evaluate
--commands`) and the latency benchmark all call `answer_command`, so what is measured is
what the robot does. Rules, in order:

1. The whole answer first: nothing moves until every line is parsed, grounded and
   planned (a refusal in line 3 must not follow a turn from line 1). An answer cut by
   max_new_tokens moves nothing.
2. Grounded: numbers, units, directions and places must come from the command
   (robot_sft.grounding); otherwise "unclear, please rephrase".
3. Sure enough: an answer that would move the robot, whose least sure choice the model
   gave a probability below `min_confidence`, is refused as unclear as well.
4. Not cut short: where the grammar ended an answer that moves or navigates before a
   line the model meant to write (`last_meant_more`) - a refusal, a navigation, or a
   motion - part of the command would be left undone ("turn left and go forward": "Turn
   left.", then a "Move" with no distance; "go to the kitchen and sing a song":
   "Navigate to kitchen.", then "Cannot comply"; "spin right 700 degrees and then follow
   that person": "Turn right 700 deg.", then "Cannot comply"), so nothing moves: the
   command is refused as unclear. Only a further motion after an answer that carries
   every amount the command said ("go forward three meter and half": "Move forward 3.5
   m.", then a second "Move") was the model's own invention, and that answer stands; a
   stop or status answer moves nothing and stands.

Pure Python (the model is passed in): no torch, no rclpy.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from robot_sft.grounding import said_numbers
from robot_sft.inference.base import AnswerTruncated, CommandModel
from robot_sft.places import Place
from robot_sft.reply import UNCLEAR, Reply, build_reply
from robot_sft.response_format import (
    MOTION_ACTIONS, SHAPE_SIDES, Navigate, ParseError, parse_response,
)
from robot_sft.safety import SafetyLimits

UNKNOWN_STATUS = ("unknown", "unknown")


@dataclass(frozen=True)
class AnswerPolicy:
    """The node parameters that decide what an answer may do."""
    limits: SafetyLimits
    places: dict[str, Place]
    min_confidence: float = 0.0
    ground: bool = True  # evaluation may switch it off to measure what grounding buys

    @classmethod
    def from_config(cls, config) -> "AnswerPolicy":
        """The policy of a robot_sft.controller_config.ControllerConfig."""
        return cls(config.limits, config.places, config.min_confidence)


@dataclass(frozen=True)
class Answer:
    text: str          # the model's whole answer
    reply: Reply       # what the robot says and does
    confidence: float  # the probability of the model's least sure choice
    seconds: float     # command in -> reply ready


# How the lines start that a model cut short had still meant to write: a refusal or a
# navigation always leaves part of the command undone; a further motion, unless the answer
# already carries every amount the command said.
ALWAYS_UNDONE_STARTS = ("Cannot", "Navigate")
MOTION_LINE_STARTS = ("Move", "Turn") + tuple(n.capitalize() for n in SHAPE_SIDES)


def decide(text: str, confidence: float, command: str, policy: AnswerPolicy,
           battery: str = UNKNOWN_STATUS[0], obstacles: str = UNKNOWN_STATUS[1],
           meant_more: str | None = None) -> Reply:
    """The reply to a whole answer (rules 2 to 4 of the module docstring)."""
    reply = build_reply(text, policy.limits, policy.places, battery, obstacles,
                        command if policy.ground else None)
    acts = bool(reply.segments) or reply.goal is not None
    if policy.ground and _left_undone(text, meant_more, command):
        return Reply(f"{UNCLEAR}\nNot moving: the model meant a further line "
                     f"({meant_more.strip()!r} ...) that the command does not ground.", ok=False)
    if acts and confidence < policy.min_confidence:
        return Reply(f"{UNCLEAR}\nNot moving: the model was unsure of its answer "
                     f"({text.splitlines()[0][:80]!r}: confidence {confidence:.2f}, below "
                     f"min_confidence {policy.min_confidence:.2f}).", ok=False)
    return reply


def _left_undone(text: str, meant_more: str | None, command: str) -> bool:
    """Rule 4: an answer that moves or navigates, cut before a line the model meant: a
    refusal or a navigation (its place is the command's words), or a motion unless the
    answer is a motion that carries amounts the command said (then all of them: the
    grammar lets it end only so, and a further motion had no amount left to carry)."""
    wanted = (meant_more or "").strip()
    if not wanted:
        return False
    always = any(s.startswith(wanted) for s in ALWAYS_UNDONE_STARTS)
    if not always and not any(s.startswith(wanted) for s in MOTION_LINE_STARTS):
        return False
    actions = parse_response(text)
    if isinstance(actions, ParseError):
        return False
    moves = any(isinstance(a, MOTION_ACTIONS) for a in actions)
    if not moves and not any(isinstance(a, Navigate) for a in actions):
        return False  # a stop or status answer moves nothing
    return always or not (moves and said_numbers(command).amounts)


def model_failure_reply(exc: BaseException) -> Reply:
    """What the robot says when the model failed (a server that is down, slow or ignored
    the grammar; a broken model): it does not move."""
    return Reply(f"Not moving: the model failed ({type(exc).__name__}: {exc}).", ok=False)


def answer_command(model: CommandModel, command: str, policy: AnswerPolicy, status=None,
                   cancel: threading.Event | None = None) -> Answer:
    """The model's whole answer to `command` and the reply the robot acts on. `status()`
    gives the (battery, obstacles) texts when the answer is complete (fresh sensor data).
    GenerationCancelled and model errors propagate: the caller decides what they mean."""
    started = time.perf_counter()
    pieces: list[str] = []
    try:
        for piece in model.stream_lines(command, cancel):
            pieces.append(piece)
    except AnswerTruncated as exc:
        reply = Reply(f"Not moving: {exc} (raise max_new_tokens for longer sequences).",
                      ok=False)
        return Answer("".join(pieces).strip(), reply, model.last_confidence,
                      time.perf_counter() - started)
    text = "".join(pieces).strip()
    battery, obstacles = status() if status is not None else UNKNOWN_STATUS
    reply = decide(text, model.last_confidence, command, policy, battery, obstacles,
                   model.last_meant_more)
    return Answer(text, reply, model.last_confidence, time.perf_counter() - started)
