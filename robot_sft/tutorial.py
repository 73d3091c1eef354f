"""The tutorial's five instructions (Day 32) and the canonical actions they mean.

They seed the training data (training.data.generate keeps them in the train split) and
open the demo (robot_sft.demo), so the online half needs no import of the training half.
The tutorial's speeds (0.5 m/s, 0.5 rad/s) are the planner defaults, so the targets say
no speed: a speed the user did not give would teach the model to invent numbers.
Pure Python.
"""
from __future__ import annotations

from robot_sft.response_format import Move, Navigate, Status, Turn

# (command, generator category, actions)
SEED_EXAMPLES = [
    ("Move the robot forward 2 meters", "move", [Move(2, "m")]),
    ("What is the robot's current battery level?", "status_battery", [Status("battery")]),
    ("Navigate to the charging station", "navigate", [Navigate("charging station")]),
    ("Rotate 90 degrees clockwise", "turn", [Turn(-90, "deg")]),
    ("Report any obstacles detected", "status_obstacles", [Status("obstacles")]),
]
