"""Which controllers a fleet runs: one per robot, robot1..robotN, all asking one inference
server. Pure, so launch/fleet.launch.py and the tests and benchmark that start the same
controllers as processes (test/test_fleet.py, benchmarks/fleet.py) share one definition.

    fleet_robots(3, "outputs/robotA,outputs/robotB,outputs/robotC", "http://gpu:8000")

`adapter` and `server_model` are one value for every robot or a comma-separated list with
one per robot. A robot's server_model defaults to its adapter directory's name - the
name `python -m robot_sft.export` serves it under by default.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath

MAX_ROBOTS = 1000


@dataclass(frozen=True)
class FleetRobot:
    namespace: str     # robot1, robot2, ...: its topics are /robotN/command, ...
    parameters: dict   # the controller parameters that differ per robot


def per_robot(value: str, count: int, what: str) -> list[str]:
    """One value for each of `count` robots: a single value for all, or a comma-separated
    list of exactly `count` (ValueError otherwise)."""
    items = [v.strip() for v in str(value).split(",")]
    if len(items) == 1:
        return items * count
    if len(items) != count or not all(items):
        raise ValueError(f"{what} lists {len(items)} values for {count} robots: give one "
                         f"for all, or one per robot")
    return items


def fleet_robots(count, adapter: str, server_url: str, server_model: str = "") -> list[FleetRobot]:
    """The controllers of a fleet of `count` robots on the server at `server_url`."""
    try:
        count = int(count)
    except (TypeError, ValueError):
        raise ValueError(f"robots must be a whole number, got {count!r}") from None
    if not 1 <= count <= MAX_ROBOTS:
        raise ValueError(f"robots must be 1..{MAX_ROBOTS}, got {count}")
    adapters = per_robot(adapter, count, "adapter")
    models = per_robot(server_model, count, "server_model") if str(server_model).strip() \
        else [PurePath(a).name for a in adapters]
    return [FleetRobot(f"robot{i + 1}", {"model_backend": "openai", "server_url": server_url,
                                         "server_model": model, "adapter": path})
            for i, (path, model) in enumerate(zip(adapters, models))]
