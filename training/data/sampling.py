"""Quantities for generated commands: values people use, within the safety limits of
`robot_sft.safety.SafetyLimits` unless `over` (then beyond them, so the copied target
is one the planner must refuse). Round values most of the time, random ones otherwise,
so the model copies any number rather than a favourite few. Pure Python.
"""
from __future__ import annotations


def pick(rng, table: dict):
    """A key of `table`, drawn with the values as weights."""
    return rng.choices(list(table), weights=list(table.values()))[0]


_DIST_VALUES = {
    "m": [0.1, 0.2, 0.25, 0.3, 0.5, 0.5, 0.75, 1, 1, 1.2, 1.5, 2, 2, 2.5, 3, 4, 5, 6, 8, 10],
    "cm": [5, 10, 15, 20, 25, 30, 40, 50, 50, 60, 75, 80, 100, 120, 150, 200, 250, 300, 500],
    "mm": [5, 10, 20, 50, 100, 150, 200, 250, 500, 750],
    "ft": [1, 2, 3, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25],
    "in": [1, 2, 3, 4, 6, 8, 10, 12, 18, 24, 36, 48],
}
_DIST_RANDOM = {"m": (0.1, 10, 1), "cm": (1, 999, 0), "mm": (1, 2000, 0), "ft": (1, 32, 0),
                "in": (1, 390, 0)}
_DIST_OVER = {"m": (11, 100), "cm": (1100, 5000), "ft": (35, 300), "in": (400, 2000)}
_ANGLE_VALUES = {"deg": [5, 10, 15, 20, 30, 45, 45, 60, 75, 90, 90, 90, 120, 135, 150, 180,
                         180, 270, 360],
                 "rad": [0.1, 0.25, 0.5, 0.75, 1, 1.5, 1.57, 2, 2.5, 3, 3.14, 4, 6.28]}
_DURATION_VALUES = [0.5, 1, 1.5, 2, 2, 3, 3, 4, 5, 5, 6, 8, 10, 10, 12, 15, 20, 30, 45, 60]
_LINEAR_SPEEDS = {"m/s": [0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 1],
                  "cm/s": [5, 10, 15, 20, 25, 30, 40, 50, 75], "ft/s": [0.5, 1, 1.5, 2, 2.5, 3]}
_ANGULAR_SPEEDS = {"rad/s": [0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.2, 1.5],
                   "deg/s": [10, 15, 20, 30, 45, 60, 90]}


def _random_value(rng, lo, hi, decimals):
    value = round(rng.uniform(lo, hi), decimals)
    return int(value) if decimals == 0 else value


def sample_distance(rng, over: bool = False) -> tuple[float, str]:
    if over:
        unit = pick(rng, {"m": 5, "cm": 1, "ft": 3, "in": 1})
        lo, hi = _DIST_OVER[unit]
        return rng.choice([lo, hi // 2, int(rng.uniform(lo, hi))]), unit
    unit = pick(rng, {"m": 45, "cm": 25, "ft": 15, "in": 8, "mm": 7})
    if rng.random() < 0.7:
        return rng.choice(_DIST_VALUES[unit]), unit
    return _random_value(rng, *_DIST_RANDOM[unit]), unit


def sample_angle(rng, over: bool = False) -> tuple[float, str]:
    if over:
        return (rng.choice([1000, 1080, 1440, 2000, int(rng.uniform(750, 3600))]), "deg") \
            if rng.random() < 0.8 else (rng.choice([13, 15, 20, 30]), "rad")
    if rng.random() < 0.8:
        return (rng.choice(_ANGLE_VALUES["deg"]) if rng.random() < 0.7
                else 5 * _random_value(rng, 1, 144, 0) if rng.random() < 0.8
                else _random_value(rng, 1, 720, 0)), "deg"
    return (rng.choice(_ANGLE_VALUES["rad"]) if rng.random() < 0.7
            else _random_value(rng, 0.1, 12.5, 1)), "rad"


def sample_duration(rng, over: bool = False) -> tuple[float, str]:
    if over:
        return (rng.choice([90, 120, 300, 600, int(rng.uniform(61, 600))]), "s") \
            if rng.random() < 0.6 else (rng.choice([2, 3, 5, 10, 30]), "min")
    if rng.random() < 0.08:
        return rng.choice([0.5, 1]), "min"
    return (rng.choice(_DURATION_VALUES) if rng.random() < 0.7
            else _random_value(rng, 1, 60, 0)), "s"


def sample_speed(rng, linear: bool, over: bool = False) -> tuple[float, str]:
    if over or rng.random() < 0.04:  # over the limit: copied, the planner refuses it
        return (rng.choice([1.5, 2, 3, 5]), "m/s") if linear else (rng.choice([2, 3, 4]), "rad/s")
    table = _LINEAR_SPEEDS if linear else _ANGULAR_SPEEDS
    unit = pick(rng, {"m/s": 6, "cm/s": 2, "ft/s": 1} if linear else {"rad/s": 3, "deg/s": 1})
    return rng.choice(table[unit]), unit
