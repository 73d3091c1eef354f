"""Start-up errors a user can act on, in one line, for every node's main().

rclpy.init reports a missing or malformed `--params-file` as an RCLError whose
text ends in C source locations, after rcl has logged its own line; outside the
error handling that was an 18-line traceback. The params files are checked here
first, and any other start-up exception is cut to its first meaningful line.
"""
from __future__ import annotations

import re
import signal
import sys
from pathlib import Path


def params_file_problem(argv=None) -> str | None:
    """Why a `--params-file` among the arguments cannot be used (None: all can)."""
    argv = list(sys.argv if argv is None else argv)
    for flag, path in zip(argv, argv[1:]):
        if flag != "--params-file":
            continue
        file = Path(path)
        if not file.is_file():
            return f"params file {path!r} does not exist"
        try:
            import yaml  # rclpy's own dependency (rclpy.parameter reads YAML with it)

            data = yaml.safe_load(file.read_text())
        except (OSError, UnicodeDecodeError) as exc:
            return f"params file {path!r} cannot be read: {exc}"
        except yaml.YAMLError as exc:
            return f"params file {path!r} is not valid YAML: {one_line(exc)}"
        if not _is_params_tree(data):
            return (f"params file {path!r} is not a ROS params file (expected "
                    f"'<node or /**>: {{ros__parameters: {{...}}}}' entries)")
    return None


def _is_params_tree(data) -> bool:
    """{node: {ros__parameters: {...}}}, nodes possibly nested in namespaces."""
    if not isinstance(data, dict) or not data:
        return False
    if "ros__parameters" in data:
        return isinstance(data["ros__parameters"], dict)
    return all(_is_params_tree(v) for v in data.values())


def one_line(exc: BaseException) -> str:
    """The message of `exc` on one line, without rcl's ", at /path/file.c:123" trail."""
    text = re.sub(r",? at [^\s,]+\.(c|cpp|hpp):\d+", "", str(exc))
    return " ".join(part.strip() for part in text.splitlines() if part.strip()) or type(exc).__name__


def ignore_late_signals() -> None:
    """Call last in main(): more SIGINT/SIGTERM may arrive while the process ends
    (ros2 launch signals its children and the terminal the whole group). Python puts
    the default handlers back while it finalises, and a signal then killed the process
    (exit -2) or, between restore and exit, raised KeyboardInterrupt; an ignored
    signal stays ignored."""
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_IGN)
