"""An answer that arrives line by line: which motion may start now, and what to say at the end.

Pure Python, on top of `robot_sft.reply.build_reply`. The response format puts one
action on each line, so a complete line is a complete action: the node starts it
while the model writes the next one (parameter `stream_actions`).

Rules (the same parse and plan as a whole answer, applied to the lines so far):
- the complete lines so far are parsed and planned together (a sentence may refer
  to the one before it); segments not started yet are handed out;
- a line that fails to parse or plan fails the answer: the caller stops the robot
  with zero and /response says so, naming how much had already started;
- navigation and status answers start nothing until the answer is complete.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from robot_sft.reply import Reply, build_reply
from robot_sft.safety import SafetyLimits, TwistSegment


@dataclass(frozen=True)
class Update:
    segments: list[TwistSegment] = field(default_factory=list)  # start (or append) these now
    failed: Reply | None = None  # the answer cannot be executed: stop now, stop reading


class StreamingReply:
    def __init__(self, limits: SafetyLimits, places: dict, battery: str, obstacles: str):
        self._context = (limits, places, battery, obstacles)
        self.text = ""
        self.started: list[TwistSegment] = []  # handed out so far, in order

    def _reply(self, text: str) -> Reply:
        return build_reply(text, *self._context)

    def _new_segments(self, reply: Reply) -> Reply | list[TwistSegment]:
        """The segments to hand out, or a failure if the plan of the lines so far no
        longer starts with what was started (never silently re-plan running motion)."""
        if reply.segments[:len(self.started)] != self.started:
            return self._failure(Reply("Not moving: the later lines changed the plan of the "
                                       "motion already started.", ok=False))
        return reply.segments[len(self.started):]

    def add(self, piece: str) -> Update:
        """Take the next piece of the answer; hand out the segments its complete lines add."""
        self.text += piece
        complete = self.text[:self.text.rfind("\n") + 1]
        if not complete.strip():
            return Update()
        reply = self._reply(complete)
        if not reply.ok:
            return Update(failed=self._failure(reply))
        if reply.goal is not None:  # a navigation answer moves nothing itself
            return Update()
        new = self._new_segments(reply)
        if isinstance(new, Reply):
            return Update(failed=new)
        self.started += new
        return Update(new)

    def finish(self) -> tuple[Reply, list[TwistSegment]]:
        """The reply to the whole answer, and the segments still to append (the last line's)."""
        reply = self._reply(self.text)
        if not reply.ok:
            return self._failure(reply), []
        new = self._new_segments(reply)
        if isinstance(new, Reply):
            return new, []
        self.started += new
        return reply, new

    def fail(self, text: str) -> Reply:
        """The reply when the answer ends badly from outside (e.g. the token budget ran
        out): `text` ("Not moving: ..."), saying what had already been started."""
        return self._failure(Reply(text, ok=False))

    def _failure(self, reply: Reply) -> Reply:
        """The reply of an answer that fails, saying what had already been started."""
        if not self.started:
            return reply
        text = reply.text.replace("Not moving:", "Stopped:", 1)
        return Reply(f"{text}\nStopped after {len(self.started)} of the planned motion "
                     f"segment(s) had started.", ok=False)
