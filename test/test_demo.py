"""`python -m robot_sft.demo --model-backend fixed`: the whole demo without a model."""
import json
import math

import pytest

pytest.importorskip("rclpy")

from robot_sft import demo  # noqa: E402
from robot_sft.response_format import ParseError, intent_of, parse_response  # noqa: E402
from ros_helpers import unique_domain_id  # noqa: E402

pytestmark = pytest.mark.ros

TUTORIAL = ["Move the robot forward 2 meters", "What is the robot's current battery level?",
            "Navigate to the charging station", "Rotate 90 degrees clockwise",
            "Report any obstacles detected"]


def test_demo_commands_are_the_tutorials_and_three_more():
    commands = demo.demo_commands()
    assert [c for c, _ in commands[:5]] == TUTORIAL
    intents = [intent_of(parse_response(answer)) for _, answer in commands]
    assert intents == ["move", "status_battery", "navigate", "turn", "status_obstacles",
                       "turn", "move", "stop"]
    assert not any(isinstance(parse_response(a), ParseError) for _, a in commands)


def test_reference_answers_echo_unknown_commands():
    model = demo.ReferenceAnswers(dict(demo.demo_commands()))
    assert model.respond("Rotate 90 degrees clockwise") == "Turn right 90 deg."
    assert model.respond("Move forward 1 m.") == "Move forward 1 m."


def test_fixed_backend_demo_runs_end_to_end(tmp_path, capsys):
    commands = ["Rotate 90 degrees clockwise", "What is the robot's current battery level?",
                "Back up 50 centimeters", "Report any obstacles detected", "Stop"]
    code = demo.main(["--model-backend", "fixed", "--out", str(tmp_path), "--timeout", "20",
                      "--domain-id", str(unique_domain_id()), "--commands", *commands])
    printed = capsys.readouterr().out
    assert code == 0, printed
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert (tmp_path / "path.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = {c["command"]: c for c in summary["commands"]}
    assert list(results) == commands and summary["model_backend"] == "fixed"

    turn = results["Rotate 90 degrees clockwise"]
    assert turn["response"].startswith("Turn right 90 deg.")
    assert math.degrees(turn["final_pose"][2]) == pytest.approx(-90, abs=3)
    assert [s["angular_z"] < 0 for s in turn["segments"]] == [True]

    assert "% charge" in results["What is the robot's current battery level?"]["response"]
    assert results["What is the robot's current battery level?"]["segments"] == []

    back = results["Back up 50 centimeters"]  # facing -y: backing up goes to +y
    dx, dy = (b - a for a, b in zip(back["start_pose"][:2], back["final_pose"][:2]))
    assert (dx, dy) == pytest.approx((0.0, 0.5), abs=0.03)

    assert "nearest obstacle" in results["Report any obstacles detected"]["response"]
    assert results["Stop"]["response"].startswith("Stop.")
    for command in commands:
        assert f"command : {command}" in printed
    assert "5/5 commands answered, 2 moved the robot" in printed
