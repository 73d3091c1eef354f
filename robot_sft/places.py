"""Named places for `Navigate(place)`: parsing the node's `places` parameter.

Pure Python. ROS parameters cannot hold a dictionary of poses, so each place
is one string "name:x,y,yaw" (metres, metres, radians; yaw may be left out),
for example ``places: ["charging station:12.5,3.2,0.0", "dock:0,0,3.14"]``.
Names are matched the way `Navigate` normalises them ("The Dock" -> "dock").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_sft.response_format import ActionError, Navigate


@dataclass(frozen=True)
class Place:
    name: str
    x: float
    y: float
    yaw: float = 0.0

    def describe(self) -> str:
        return (f"{self.name} at x={self.x:.2f} m, y={self.y:.2f} m, "
                f"yaw={math.degrees(self.yaw):.0f} deg")


def place_key(name: str) -> str:
    """The lookup key of a place name, or ValueError if it is not a plain name."""
    try:
        return Navigate(name).place
    except ActionError as exc:
        raise ValueError(str(exc)) from exc


def parse_place(entry: str) -> Place:
    name, sep, numbers = str(entry).rpartition(":")
    if not sep:
        raise ValueError(f"place {entry!r} must look like 'name:x,y,yaw'")
    try:
        values = [float(v) for v in numbers.split(",")]
    except ValueError:
        raise ValueError(f"place {entry!r}: x,y,yaw must be numbers") from None
    if len(values) not in (2, 3) or not all(math.isfinite(v) for v in values):
        raise ValueError(f"place {entry!r} needs 2 or 3 finite numbers (x,y[,yaw])")
    return Place(place_key(name), *values)


def parse_places(entries) -> dict[str, Place]:
    """The `places` parameter -> {name: Place}; ValueError names the bad entry."""
    places: dict[str, Place] = {}
    for entry in entries:
        place = parse_place(entry)
        if place.name in places:
            raise ValueError(f"place {place.name!r} is defined twice")
        places[place.name] = place
    return places
