"""ament_python package robot_sft (builds with colcon and installs with pip)."""
import sys
from glob import glob

from setuptools import find_packages, setup

PACKAGE = "robot_sft"

# Versions that work together today (TRL 1.x renamed many SFT arguments).
TRAIN = [
    "torch>=2.4",  # install torch==2.13.0 first on CPU machines: see scripts/install.sh
    "transformers>=5.0,<6",
    "peft>=0.17,<1",
    "trl>=1.0,<2",
    "datasets>=3.0",
    "accelerate>=1.0",
    "gguf>=0.10",
    "pyyaml>=6",
    "matplotlib>=3.7",
    "tqdm>=4.66",
    "llguidance>=1.9",  # decode-time response grammar (robot_sft/inference/constraint.py)
]
# ROS 2 Kilted from PyPI; not needed where ROS 2 is installed with apt.
ROS = [
    "ros-rclpy[fastrtps]",
    "ros-std-msgs",
    "ros-geometry-msgs",
    "ros-sensor-msgs",
    "ros-nav-msgs",
]
# wheel: test_package_layout builds the wheel with --no-build-isolation (setuptools < 70.1
# has no bdist_wheel of its own).
TEST = ["pytest>=8", "hypothesis>=6.100", "colcon-common-extensions", "wheel"]
# The llama.cpp backend (model_backend llama_cpp): built from source on Linux x86-64 (no
# wheel on PyPI), a few minutes; scripts/install.sh tries it and goes on without it.
FAST = ["llama-cpp-python==0.3.36"]
# llama.cpp's OpenAI-compatible server (python -m llama_cpp.server): a fleet's inference
# server on a CPU, and the real server the fleet tests run against. On top of FAST it adds
# only fastapi, uvicorn, sse-starlette, starlette-context and pydantic-settings.
SERVER = ["llama-cpp-python[server]==0.3.36"]

data_files = [
    ("share/ament_index/resource_index/packages", [f"resource/{PACKAGE}"]),
    (f"share/{PACKAGE}", ["package.xml"]),
    (f"share/{PACKAGE}/launch", glob("launch/*.launch.py")),
    (f"share/{PACKAGE}/config", glob("config/*.yaml")),
]
# colcon runs `setup.py install/develop`, and setup.cfg already routes console scripts
# to lib/robot_sft. A wheel (pip) puts them in bin/, where launch_ros does not look,
# so wheels also carry small launchers in lib/robot_sft.
if not any(command in sys.argv for command in ("install", "develop")):
    data_files.append((f"lib/{PACKAGE}", glob("scripts/launchers/*")))

setup(
    name=PACKAGE,
    version="0.1.0",
    packages=find_packages(include=[PACKAGE, f"{PACKAGE}.*", "training", "training.*"]),
    package_data={"training": ["configs/*.yaml", "configs/accelerate/*.yaml"]},
    data_files=data_files,
    python_requires=">=3.10",
    install_requires=["setuptools"],
    extras_require={"train": TRAIN, "ros": ROS, "test": TEST, "fast": FAST, "server": SERVER,
                    "all": TRAIN + ROS + TEST},
    zip_safe=True,
    maintainer="robot_sft maintainers",
    maintainer_email="maintainers@robot-sft.dev",
    description="LoRA SFT of a chat LLM on robot commands, and a ROS 2 node that executes them.",
    license="Apache-2.0",
    tests_require=["pytest"],
    entry_points={
        "console_scripts": [
            f"controller = {PACKAGE}.controller_node:main",
            f"sim = {PACKAGE}.sim.node:main",
        ],
    },
)
