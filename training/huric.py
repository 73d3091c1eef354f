"""HuRIC (github.com/crux82/huric, Apache-2.0): real spoken commands to a home robot, as an
outside evaluation set. Read from a local copy given on the command line; its text is never
committed here.

    git clone https://github.com/crux82/huric /data/huric
    python -m training.evaluate --adapter outputs/embedded --commands huric:/data/huric

Each English example (`en/*/*.hrc`, XML) holds a sentence and FrameNet-style frames. What
this robot should do with it follows docs/command-policy.md:

- only motion frames (Motion, Arriving, Change_direction), each one of
  - going to a place (a Goal): `Navigate` to that place (scored by the goal's head word: the
    robot's `places` decide whether it can go there);
  - a turn (Change_direction): `Turn` by the sentence's angle, or `Turn left.`/`Turn right.`
    with no angle;
  - any other motion ("go forward", "move along the wall", "move a little to the right"):
    a refusal, since it is unbounded, unsupported or unclear;
- anything else (bringing, taking, finding, switching things on, following): a refusal: this
  robot only moves, turns, stops, navigates and reports status.
A command with any part to refuse is refused as a whole.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

from robot_sft.grounding import direction_cues, mentioned_numbers
from robot_sft.response_format import DefaultTurn, Navigate, Refuse, Turn

MOTION_FRAMES = ("Motion", "Arriving", "Change_direction")
REFUSE = Refuse("this robot can only move, turn, stop, navigate and report status")


@dataclass(frozen=True)
class HuricCommand:
    id: str
    command: str
    frames: tuple[str, ...]
    expected: tuple           # actions; a single Refuse: any refusal is right
    goal_heads: tuple[str, ...] = ()  # the head word of each Navigate goal, for scoring


def _tokens(command) -> dict[str, str]:
    return {t.get("id"): t.get("surface", "").lower() for t in command.iter("token")
            if t.get("surface") is not None}


def _frame_actions(frame, sentence: str, tokens: dict[str, str]):
    """(actions, goal heads) one frame asks for, or None when it must be refused."""
    name = frame.get("name")
    elements = {e.get("type"): e for e in frame.iter("frameElement")}
    if name in ("Motion", "Arriving") and "Goal" in elements:
        goal = elements["Goal"]
        head = tokens.get(goal.get("semanticHead"), "")
        words = [tokens.get(t.get("id"), "") for t in goal.iter("token")]
        place = " ".join(w for w in words if w)
        return [Navigate(re.sub(r"^(?:to|into|in|towards|toward|at|near)\s+", "", place) or head)], \
            [head]
    if name == "Change_direction":
        cues = direction_cues(sentence)
        side = 1 if "left" in cues else -1 if "right" in cues else 0
        if not side:
            return None
        angles = [n for n in mentioned_numbers(sentence) if n > 1]
        if len(angles) > 1:
            return None
        return ([Turn(side * angles[0], "deg")] if angles else [DefaultTurn(side)]), []
    return None


def read_example(path: Path) -> list[HuricCommand]:
    """The commands of one .hrc file with what the robot should do."""
    root = ET.parse(path).getroot()
    found = []
    for i, command in enumerate(root.iter("command")):
        sentence = (command.findtext("sentence") or "").strip()
        if not sentence:
            continue
        tokens = _tokens(command)
        frames = list(command.iter("frame"))
        names = tuple(f.get("name") for f in frames)
        actions, heads = [], []
        for frame in sorted(frames, key=lambda f: min(
                (int(t.get("id")) for t in f.find("lexicalUnit").iter("token")), default=0)
                if f.find("lexicalUnit") is not None else 0):
            wanted = _frame_actions(frame, sentence, tokens) if frame.get("name") in \
                MOTION_FRAMES else None
            if wanted is None:
                actions, heads = [REFUSE], []
                break
            actions += wanted[0]
            heads += wanted[1]
        found.append(HuricCommand(f"{root.get('id')}.{i}", sentence, names,
                                  tuple(actions or [REFUSE]), tuple(heads)))
    return found


def load_huric(path, language: str = "en") -> list[HuricCommand]:
    """Every command under `path`/`language`/ (a clone of crux82/huric)."""
    root = Path(path) / language
    if not root.is_dir():
        raise FileNotFoundError(f"{root} not found: pass the path of a clone of "
                                f"https://github.com/crux82/huric")
    commands = [c for f in sorted(root.rglob("*.hrc")) for c in read_example(f)]
    unique = {c.command.lower(): c for c in commands}  # the releases repeat some sentences
    return list(unique.values())
