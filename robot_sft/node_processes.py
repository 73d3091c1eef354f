"""The package's nodes as separate processes, the way `ros2 launch` starts them.

For the black-box tests and the cross-process latency benchmark: each node is the
INSTALLED executable (`<prefix>/lib/robot_sft/<name>`, where ros2 launch looks),
in its own process, on a ROS domain and namespace of the caller's choosing, with
its output in a log file. Measuring from another process is what a user gets;
nodes sharing one process (or one CPU) hid a starving executor before.

    with NodeProcesses(log_dir, domain_id=42, namespace="bench") as nodes:
        nodes.start("sim", [installed_executable("sim"), *nodes.ros_args(params_file)])
        nodes.start("busy", burn_a_core_command())
        ...
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

PACKAGE = "robot_sft"


def installed_executable(name: str) -> str:
    """<prefix>/lib/robot_sft/<name> (where ros2 launch looks), else the console script."""
    for candidate in (Path(sys.prefix) / "lib" / PACKAGE / name, Path(sys.prefix) / "bin" / name):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise FileNotFoundError(f"executable {name!r} is not installed: run bash scripts/install.sh")
    return found


def installed_params_file() -> Path:
    path = Path(sys.prefix) / "share" / PACKAGE / "config" / "controller.yaml"
    if not path.is_file():
        raise FileNotFoundError(f"{path} is not installed: run bash scripts/install.sh")
    return path


def module_command(module: str) -> list[str]:
    """Run a module of the installed package as its own process."""
    return [sys.executable, "-m", module]


def burn_a_core_command() -> list[str]:
    """A process that keeps one core busy: other work on the robot's computer."""
    return [sys.executable, "-c", "while True: pass"]


class NodeProcesses:
    """Processes started in `log_dir` (so they import the installed package, not a
    source tree), each logging to `<log_dir>/<name>.log`; all ended on exit."""

    def __init__(self, log_dir: Path, domain_id: int, namespace: str):
        self.log_dir = Path(log_dir)
        self.namespace = namespace.strip("/")
        self.env = {**os.environ, "ROS_DOMAIN_ID": str(domain_id), "PYTHONUNBUFFERED": "1"}
        self.processes: dict[str, subprocess.Popen] = {}

    def ros_args(self, params_file: Path | None = None, **params) -> list[str]:
        """--ros-args putting a node in this namespace, with a params file and -p values."""
        args = ["--ros-args", "-r", f"__ns:=/{self.namespace}"]
        if params_file is not None:
            args += ["--params-file", str(params_file)]
        for name, value in params.items():
            args += ["-p", f"{name}:={value}"]
        return args

    def start(self, name: str, command: list[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_dir / f"{name}.log", "w") as log:
            process = subprocess.Popen(command, cwd=self.log_dir, env=self.env, stdout=log,
                                       stderr=subprocess.STDOUT)
        self.processes[name] = process
        return process

    def alive(self, *names: str) -> bool:
        return all(self.processes[n].poll() is None for n in names or self.processes)

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)}" for name in self.processes)

    def stop(self, name: str, signum: int = signal.SIGINT, timeout: float = 15.0) -> int:
        """Signal one process and wait for its exit code (killed if it does not exit)."""
        process = self.processes[name]
        if process.poll() is None:
            process.send_signal(signum)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def close(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
