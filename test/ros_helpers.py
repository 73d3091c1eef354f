"""Isolation for tests that start real ROS 2 nodes: a domain id and a namespace of
their own, so parallel test runs (and a robot on the same network) never cross-talk."""
import hashlib
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

_counter = itertools.count()


def unique_domain_id() -> int:
    """A ROS_DOMAIN_ID in 1..100 (Fast DDS's safe range) derived from this process."""
    return 1 + os.getpid() % 100


def unique_namespace(prefix: str = "t") -> str:
    """A namespace no other process or test uses: /<prefix><pid>_<n>."""
    return f"{prefix}{os.getpid()}_{next(_counter)}"


SOURCE = Path(__file__).resolve().parents[1] / "robot_sft"


def check_install_is_current() -> None:
    """Fail clearly when the installed package (what the executables run) is older than
    this source tree."""
    code = subprocess.run(
        [sys.executable, "-c", "import robot_sft, os; print(os.path.dirname(robot_sft.__file__))"],
        cwd="/", capture_output=True, text=True, check=True).stdout.strip()
    installed = Path(code)
    stale = [str(p.relative_to(SOURCE)) for p in SOURCE.rglob("*.py")
             if not (installed / p.relative_to(SOURCE)).is_file()
             or hashlib.sha256((installed / p.relative_to(SOURCE)).read_bytes()).digest()
             != hashlib.sha256(p.read_bytes()).digest()]
    if stale:
        pytest.fail(f"installed robot_sft ({installed}) differs from the source tree in "
                    f"{', '.join(sorted(stale))}: run bash scripts/install.sh")

