"""The controller node's parameters: names, defaults, descriptions, validation.

Pure Python (no rclpy), so config/controller.yaml and the README table can be
checked against this single list. The node declares exactly these parameters.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_sft.inference.base import ECHO
from robot_sft.places import Place, parse_places
from robot_sft.safety import SafetyLimits

BACKENDS = ("auto", "transformers", "llama_cpp", "fixed")
QUANTIZE = ("auto", "none", "int8", "q8_0", "q4_0", "f16")
# quantize values each model backend takes (with model_backend auto, int8 picks transformers).
BACKEND_QUANTIZE = {"transformers": ("auto", "none", "int8"),
                    "llama_cpp": ("auto", "none", "q8_0", "q4_0", "f16")}


@dataclass(frozen=True)
class Param:
    name: str
    default: object
    description: str
    read_only: bool = False  # fixed at start-up (model, topics)


PARAMETERS = (
    Param("adapter", "outputs/embedded", "Adapter directory written by training "
          "(robot_sft.json, PEFT adapter, tokenizer).", True),
    Param("base_model", "", "Base model alias or path; empty: the adapter metadata's base_model.",
          True),
    Param("model_backend", "auto", "'llama_cpp' runs the adapter merged into a cached GGUF "
          "on llama.cpp (CPU, ~5x faster per command); 'transformers' runs it on torch; 'auto': "
          "llama_cpp when it is installed, the device is the CPU and the base ships as GGUF "
          "(the embedded SmolLM2), else transformers (the node logs its pick); 'fixed' answers "
          "fixed_response (dry runs and tests, no model).", True),
    Param("fixed_response", ECHO, "Answer of the fixed backend; '{command}' is replaced by the "
          "command, so canonical commands ('Move forward 1 m.') drive the robot.", True),
    Param("device", "auto", "Torch device for the model: auto, cpu, cuda, cuda:0.", True),
    Param("max_new_tokens", 128, "Generation length limit (tokens).", True),
    Param("stream_actions", True, "Start each action as soon as its line is generated "
          "(later lines append; a later line that fails stops the robot with zero). "
          "false: wait for the whole answer and execute it whole or not at all."),
    Param("quantize", "auto", "Weights: 'auto' is each backend's default (transformers: none, "
          "llama_cpp: q8_0); transformers: 'none' (fp32/bf16) or 'int8' (dynamic int8 Linear "
          "layers, CPU; slightly different numbers - evaluate first); llama_cpp: 'q8_0' "
          "(blockwise 8-bit, near-lossless), 'q4_0' (4-bit, faster, lossy - evaluate first), 'f16' "
          "or 'none' (f32).", True),
    Param("constrained_decoding", False, "Decode under the response grammar (llguidance): "
          "every answer parses and navigation names only known places; costs <1 ms per token "
          "(see README for its effect on accuracy).", True),
    Param("num_threads", 0, "CPU threads for the model; 0: the backend's default (torch: one "
          "per physical core; llama_cpp: half the logical CPUs per token). Fewer can be faster "
          "on a busy CPU.", True),
    Param("max_command_chars", 500, "Commands are cut to this many characters before the model."),
    Param("max_linear_speed", 1.0, "Speed limit, m/s: an explicit faster speed is refused, 'quickly' is clamped."),
    Param("max_angular_speed", 1.5, "Turn rate limit, rad/s: an explicit faster rate is refused, 'quickly' is clamped."),
    Param("default_linear_speed", 0.5, "Speed when the command gives none, m/s."),
    Param("default_angular_speed", 0.5, "Turn rate when the command gives none, rad/s."),
    Param("max_distance", 10.0, "Longest move per action, m: longer ones are refused."),
    Param("max_duration", 60.0, "Longest motion per action, s: longer ones are refused."),
    Param("publish_rate_hz", 20.0, "Rate at which the current Twist is re-published, Hz."),
    Param("cmd_vel_timeout", 0.5, "Longest gap allowed between two /cmd_vel messages while "
          "moving, s: a starved loop stops the motion (must exceed 1/publish_rate_hz)."),
    Param("use_odometry", True, "Close distance/angle moves on /odom while it is live."),
    Param("odom_timeout", 0.5, "Odometry counts as live when the last /odom is younger, s."),
    Param("places", ["charging station:12.5,3.2,0.0", "dock:0.0,0.0,0.0"],
          "Named places for 'Navigate to X', each 'name:x,y,yaw' (m, m, rad) in frame_id."),
    Param("frame_id", "map", "Frame of the places and of /goal_pose."),
    Param("command_topic", "command", "std_msgs/String commands in.", True),
    Param("response_topic", "response", "std_msgs/String answers out.", True),
    Param("cmd_vel_topic", "cmd_vel", "geometry_msgs/Twist velocity out.", True),
    Param("odom_topic", "odom", "nav_msgs/Odometry in (closes moves).", True),
    Param("battery_topic", "battery_state", "sensor_msgs/BatteryState in (battery status).", True),
    Param("scan_topic", "scan", "sensor_msgs/LaserScan in (obstacle report).", True),
    Param("goal_topic", "goal_pose", "geometry_msgs/PoseStamped out (Navigate).", True),
)
DEFAULTS = {p.name: p.default for p in PARAMETERS}


@dataclass(frozen=True)
class ControllerConfig:
    values: dict
    limits: SafetyLimits
    places: dict[str, Place]

    def __getattr__(self, name):
        try:
            return self.__dict__["values"][name]
        except KeyError:
            raise AttributeError(name) from None


def _positive(values: dict, name: str) -> None:
    v = values[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
        raise ValueError(f"parameter {name} must be a positive number, got {v!r}")


def make_config(values: dict) -> ControllerConfig:
    """Validate a full set of parameter values; ValueError says which one is wrong and why."""
    values = {**DEFAULTS, **values}
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown parameters {sorted(unknown)}")
    if values["model_backend"] not in BACKENDS:
        raise ValueError(f"parameter model_backend must be one of {BACKENDS}, "
                         f"got {values['model_backend']!r}")
    for name in ("publish_rate_hz", "cmd_vel_timeout", "odom_timeout", "max_new_tokens",
                 "max_command_chars"):
        _positive(values, name)
    if values["quantize"] not in QUANTIZE:
        raise ValueError(f"parameter quantize must be one of {QUANTIZE}, got {values['quantize']!r}")
    takes = BACKEND_QUANTIZE.get(values["model_backend"], QUANTIZE)
    if values["quantize"] not in takes:
        raise ValueError(f"parameter quantize {values['quantize']!r} does not apply to "
                         f"model_backend {values['model_backend']}: use one of {takes}")
    threads = values["num_threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"parameter num_threads must be an integer >= 0, got {threads!r}")
    if values["publish_rate_hz"] > 1000:
        raise ValueError("parameter publish_rate_hz must be at most 1000")
    if 1.0 / values["publish_rate_hz"] >= values["cmd_vel_timeout"]:
        raise ValueError(f"1/publish_rate_hz ({1.0 / values['publish_rate_hz']:.3f} s) must be "
                         f"below cmd_vel_timeout ({values['cmd_vel_timeout']} s)")
    for name in [p.name for p in PARAMETERS if p.name.endswith("_topic")] + ["frame_id", "device"]:
        if not str(values[name]).strip():
            raise ValueError(f"parameter {name} must not be empty")
    limit_names = ("max_linear_speed", "max_angular_speed", "default_linear_speed",
                   "default_angular_speed", "max_distance", "max_duration")
    try:
        limits = SafetyLimits(**{n: values[n] for n in limit_names})
    except ValueError as exc:
        raise ValueError(f"invalid safety parameters: {exc}") from exc
    try:
        places = parse_places(values["places"])
    except ValueError as exc:
        raise ValueError(f"invalid parameter places: {exc}") from exc
    return ControllerConfig(values, limits, places)
