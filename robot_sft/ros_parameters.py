"""Declare a list of `Param` on an rclpy node: the one way every node here does it.

The rules (unknown names, hard caps, run-time ceilings) are pure and live in
`robot_sft.parameters`; this module only moves them into rclpy: descriptors with
descriptions, read-only flags and FloatingPointRange up to the hard caps (so
`ros2 param describe` shows them and rclpy refuses values outside at start-up and at
`ros2 param set`), and a check of the names the node was given.
"""
from __future__ import annotations

from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor
from rclpy.exceptions import ParameterUninitializedException

from robot_sft.parameters import Param, check_unknown


def descriptor(p: Param) -> ParameterDescriptor:
    notes = f" ({p.constraints})" if p.constraints else ""
    d = ParameterDescriptor(description=p.description + notes, read_only=p.read_only)
    if p.hard_max is not None and isinstance(p.default, float):
        d.floating_point_range = [FloatingPointRange(from_value=0.0, to_value=float(p.hard_max),
                                                     step=0.0)]
    return d


def declare_parameters(node, params, also_accepted=()) -> dict:
    """Declare `params` on `node` and return {name: value}.

    ValueError (one line, naming the closest known name) when the node was given a
    parameter that neither `params` nor `also_accepted` declares: ROS would drop it
    silently. rclpy's InvalidParameterValueException when a start-up value lies
    outside a declared range."""
    # What the params files and -p arguments gave this node; names rclpy declares
    # itself (use_sim_time, ...) are known already.
    given = [name for name in getattr(node, "_parameter_overrides", {})
             if not node.has_parameter(name)]
    check_unknown(given, params, also_accepted)
    for p in params:
        node.declare_parameter(p.name, p.default, descriptor(p))
    return {p.name: parameter_value(node, p.name) for p in params}


def parameter_value(node, name: str):
    try:
        return node.get_parameter(name).value
    except ParameterUninitializedException:  # an empty list given: "obstacles:=[]"
        return []
