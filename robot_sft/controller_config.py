"""The controller node's parameters: names, defaults, descriptions, validation.

Pure Python (no rclpy), so config/controller.yaml and the table in
docs/controller.md are checked against this single list. The node declares
exactly these parameters (`robot_sft.ros_parameters.declare_parameters`).

Safety limits carry a hard cap (`hard_max`: no value above it, ever) and may only
be lowered at run time (`ceiling`): the parameter service is open to every node
on the DDS domain, and "max_linear_speed: 100" from anyone must not drive.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from robot_sft.inference.base import ECHO
from robot_sft.inference.http_stream import server_base
from robot_sft.inference.server_protocol import SERVER_GRAMMARS
from robot_sft.parameters import Param, check_unknown
from robot_sft.places import Place, parse_places
from robot_sft.safety import SafetyLimits

BACKENDS = ("auto", "transformers", "llama_cpp", "openai", "fixed")
QUANTIZE = ("auto", "none", "int8", "q8_0", "q4_0", "f16")
# quantize values each model backend takes (with model_backend auto, int8 picks transformers).
BACKEND_QUANTIZE = {"transformers": ("auto", "none", "int8"),
                    "llama_cpp": ("auto", "none", "q8_0", "q4_0", "f16")}


PARAMETERS = (
    Param("adapter", "outputs/embedded", "Adapter directory written by training "
          "(robot_sft.json, PEFT adapter, tokenizer).", True),
    Param("base_model", "", "Base model alias or path; empty: the adapter metadata's base_model.",
          True),
    Param("model_backend", "auto", "'llama_cpp' runs the adapter merged into a cached GGUF "
          "on llama.cpp (CPU, ~5x faster per command); 'transformers' runs it on torch; 'auto': "
          "llama_cpp when it is installed, the device is the CPU and the base ships as GGUF "
          "(the embedded SmolLM2), else transformers (the node logs its pick); 'openai' asks "
          "the inference server at server_url (vLLM, llama.cpp; docs/fleet.md); 'fixed' "
          "answers fixed_response (dry runs and tests, no model).", True),
    Param("fixed_response", ECHO, "Answer of the fixed backend; '{command}' is replaced by the "
          "command, so canonical commands ('Move forward 1 m.') drive the robot.", True),
    Param("device", "auto", "Torch device for the model: auto, cpu, cuda, cuda:0.", True),
    Param("max_new_tokens", 128, "Generation length limit (tokens).", True),
    Param("quantize", "auto", "Weights: 'auto' is each backend's default (transformers: none, "
          "llama_cpp: q8_0); transformers: 'none' (fp32/bf16) or 'int8' (dynamic int8 Linear "
          "layers, CPU; slightly different numbers - evaluate first); llama_cpp: 'q8_0' "
          "(blockwise 8-bit, near-lossless), 'q4_0' (4-bit, faster, lossy - evaluate first), 'f16' "
          "or 'none' (f32).", True),
    Param("constrained_decoding", True, "Decode under each command's own response grammar "
          "(llguidance): every answer parses, and holds only numbers, units, directions and "
          "places of the command; ~0.2 ms per token and ~4 ms per command on llama.cpp "
          "(docs/evaluation.md: 94.3 % against 92.3 % correct off).", True),
    Param("min_confidence", 0.0, "An answer that would move the robot is refused as unclear "
          "when the model gave its least sure choice (action, direction, number) a probability "
          "below this (0..1; docs/evaluation.md: the calibration).", True, hard_max=1.0),
    Param("num_threads", 0, "CPU threads for the model; 0: the backend's default (torch: one "
          "per physical core; llama_cpp: half the usable CPUs, for tokens and prompts). Fewer can "
          "be faster on a busy CPU.", True),
    Param("server_url", "http://127.0.0.1:8000", "model_backend openai: the OpenAI-compatible "
          "server (http:// or https://, with or without /v1).", True),
    Param("server_model", "", "model_backend openai: the adapter's name on the server (vLLM: "
          "--lora-modules NAME=DIR; llama.cpp: --model_alias NAME); checked in /v1/models.",
          True),
    Param("server_api_key_env", "", "model_backend openai: the NAME of the environment "
          "variable that holds the server's API key (never the key: parameters are public); "
          "empty: no key.", True),
    Param("server_grammar", "auto", "model_backend openai: which request fields carry the "
          "response grammar: 'vllm' (structured_outputs), 'llama_cpp' (grammar), 'auto' (by "
          "the server's /v1/models owner), 'none' (no grammar: the answer is only parsed). "
          "An answer outside the grammar sent never moves the robot.", True),
    Param("server_timeout", 10.0, "model_backend openai: longest wait for the server (to "
          "connect, between two pieces of an answer), s; longer says so and does not move.",
          True, hard_max=600.0),
    Param("max_command_chars", 500, "Commands are cut to this many characters before the model."),
    Param("max_linear_speed", 1.0, "Speed limit, m/s: an explicit faster speed is refused, "
          "'quickly' is clamped.", hard_max=3.0, ceiling=True),
    Param("max_angular_speed", 1.5, "Turn rate limit, rad/s: an explicit faster rate is refused, "
          "'quickly' is clamped.", hard_max=6.0, ceiling=True),
    Param("default_linear_speed", 0.5, "Speed when the command gives none, m/s.", hard_max=3.0),
    Param("default_angular_speed", 0.5, "Turn rate when the command gives none, rad/s.",
          hard_max=6.0),
    Param("max_distance", 10.0, "Longest move per action, m: longer ones are refused.",
          hard_max=100.0, ceiling=True),
    Param("max_duration", 60.0, "Longest motion per action, s: longer ones are refused.",
          hard_max=600.0, ceiling=True),
    Param("publish_rate_hz", 20.0, "Rate at which the current Twist is re-published, Hz.",
          hard_max=1000.0),
    Param("cmd_vel_timeout", 0.5, "Longest gap allowed between two /cmd_vel messages while "
          "moving, s: a starved loop stops the motion (must exceed 1/publish_rate_hz).",
          hard_max=5.0, ceiling=True),
    Param("use_odometry", True, "Close distance/angle moves on /odom while it is live."),
    Param("odom_timeout", 0.5, "Odometry counts as live when the last valid /odom is younger, s; "
          "a closed-loop move whose odometry goes silent longer stops and says so.",
          hard_max=5.0, ceiling=True),
    Param("odom_loss_wait", 2.0, "When odometry goes silent during a distance/angle move, hold "
          "still this long for it to return and then go on, closed on it; 0 stops at once, s.",
          hard_max=10.0),
    Param("odom_loss_open_loop", False, "When odometry is lost during a distance/angle move, "
          "finish it on the planned time (open loop) instead of stopping.", True),
    Param("odom_stall_timeout", 1.0, "Moving with live odometry that shows no progress for "
          "this long (blocked, lifted, slipping) stops the robot and says 'blocked', s.",
          hard_max=10.0, ceiling=True),
    Param("max_commands_per_s", 0.0, "Commands accepted per second, averaged over a burst of "
          "as many; more are dropped with one log line (stop phrases never are). 0: no limit.",
          True, hard_max=1000.0),
    Param("log_commands", True, "Log command and answer text (/rosout); false logs only their "
          "length, for deployments that must not record operator text."),
    Param("control_nice", -10, "Nice value for the callback (stop) and motion threads: below "
          "0 they run ahead of other work on the computer (needs root or CAP_SYS_NICE; "
          "without, the node says so and keeps normal priority); 0 leaves them.", True),
    Param("model_nice", 0, "Nice value for the model's thread (command -> answer): below 0 "
          "answers come sooner when other work shares the CPU, at that work's expense; keep it "
          "above control_nice (needs root or CAP_SYS_NICE, like control_nice); 0 leaves it.",
          True),
    Param("status_max_age", 2.0, "Battery and obstacle answers use sensor messages at most "
          "this old, s; older ones answer 'unknown' (a scan from before a move describes "
          "another place).", hard_max=60.0),
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


def _non_negative(values: dict, name: str) -> None:
    v = values[name]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
        raise ValueError(f"parameter {name} must be a number >= 0, got {v!r}")


def make_config(values: dict) -> ControllerConfig:
    """Validate a full set of parameter values; ValueError says which one is wrong and why."""
    check_unknown(values, PARAMETERS)
    values = {**DEFAULTS, **values}
    if values["model_backend"] not in BACKENDS:
        raise ValueError(f"parameter model_backend must be one of {BACKENDS}, "
                         f"got {values['model_backend']!r}")
    for name in ("publish_rate_hz", "cmd_vel_timeout", "odom_timeout", "odom_stall_timeout",
                 "max_new_tokens", "max_command_chars", "status_max_age", "server_timeout"):
        _positive(values, name)
    confidence = values["min_confidence"]
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) \
            or not 0.0 <= confidence <= 1.0:
        raise ValueError(f"parameter min_confidence must be a number in 0..1, got {confidence!r}")
    for p in PARAMETERS:
        v = values[p.name]
        if p.hard_max is not None and isinstance(v, (int, float)) and not v <= p.hard_max:
            raise ValueError(f"parameter {p.name} must be at most {p.hard_max:g} (its hard cap), "
                             f"got {v!r}")
    for name in ("max_commands_per_s", "odom_loss_wait"):
        _non_negative(values, name)
    for name in ("control_nice", "model_nice"):
        nice = values[name]
        if isinstance(nice, bool) or not isinstance(nice, int) or not -20 <= nice <= 19:
            raise ValueError(f"parameter {name} must be an integer in -20..19, got {nice!r}")
    if values["server_grammar"] not in SERVER_GRAMMARS:
        raise ValueError(f"parameter server_grammar must be one of {SERVER_GRAMMARS}, "
                         f"got {values['server_grammar']!r}")
    if values["model_backend"] == "openai":
        server_base(values["server_url"])  # ValueError says what is wrong with it
        if not str(values["server_model"]).strip():
            raise ValueError("parameter server_model is empty: model_backend openai needs the "
                             "adapter's name on the server (vLLM --lora-modules NAME=DIR, "
                             "llama.cpp --model_alias NAME)")
    if values["quantize"] not in QUANTIZE:
        raise ValueError(f"parameter quantize must be one of {QUANTIZE}, got {values['quantize']!r}")
    takes = BACKEND_QUANTIZE.get(values["model_backend"], QUANTIZE)
    if values["quantize"] not in takes:
        raise ValueError(f"parameter quantize {values['quantize']!r} does not apply to "
                         f"model_backend {values['model_backend']}: use one of {takes}")
    threads = values["num_threads"]
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"parameter num_threads must be an integer >= 0, got {threads!r}")
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
