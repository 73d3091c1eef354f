"""How the package's nodes declare parameters: one `Param` shape for every node.

Pure Python (no rclpy): each node lists its parameters as a tuple of `Param`
(`controller_config.PARAMETERS`, `sim.config.PARAMETERS`), and
`robot_sft.ros_parameters.declare_parameters` declares such a list on a node. So
the rules live here once:

- ROS drops a value given for an undeclared name without a word: a params file
  with `max_linear_sped: 0.2` meant a 0.2 m/s limit and got the default 1.0.
  `unknown_parameter_error` names the unknown key and the closest known one.
- `hard_max`: no value above it is accepted, at start-up or at run time (declared
  as a FloatingPointRange, so `ros2 param describe` shows it).
- `ceiling`: anyone on the DDS domain can call the parameter service, so a safety
  limit may only be lowered at run time; the start-up value is its ceiling.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str
    read_only: bool = False          # fixed at start-up (model, topics)
    hard_max: float | None = None    # never above this (start-up or run time)
    ceiling: bool = False            # at run time only lowered below the start-up value

    @property
    def constraints(self) -> str:
        """What the descriptor says besides the description (for docs and messages)."""
        notes = []
        if self.read_only:
            notes.append("read-only")
        if self.ceiling:
            notes.append("only lowered at run time")
        if self.hard_max is not None:
            notes.append(f"at most {self.hard_max:g}")
        return ", ".join(notes)


def unknown_parameter_error(name: str, known) -> str:
    """One line naming an unknown parameter and the closest known one."""
    close = difflib.get_close_matches(name, sorted(known), n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]!r}?)" if close else " (no known parameter is close)"
    return f"unknown parameter {name!r}{hint}"


def check_unknown(given, params, also_accepted=()) -> None:
    """ValueError for the first given name that neither `params` nor `also_accepted`
    (another node's names, in a params file both nodes share) declares."""
    known = {p.name for p in params} | set(also_accepted)
    unknown = sorted(set(given) - known)
    if unknown:
        raise ValueError(unknown_parameter_error(unknown[0], known))


def check_run_time_change(param: Param, start_value, new_value) -> str | None:
    """Why `param` may not change from its start-up value to `new_value` at run time
    (None: it may). Range and type are the descriptor's job."""
    if param.ceiling and isinstance(new_value, (int, float)) and new_value > start_value:
        return (f"{param.name} may only be lowered at run time: {new_value!r} is above the "
                f"start-up value {start_value!r} (restart the node to raise it)")
    return None


def markdown_table(params) -> str:
    """The parameter table of a node's docs page, generated from its `params`."""
    def default(value):
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, str):
            return f"`\"{value}\"`" if value == "" else f"`{value}`"
        return f"`{value}`"

    rows = ["| Name | Default | Meaning |", "|---|---|---|"]
    for p in params:
        notes = f" ({p.constraints})" if p.constraints else ""
        rows.append(f"| `{p.name}` | {default(p.default)} | {p.description}{notes} |")
    return "\n".join(rows)
