"""The package builds the way a ROS 2 engineer expects: colcon and pip layouts."""
import os
import shutil
import subprocess
import sys
import tarfile
import io
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = "robot_sft"


def _copy_sources(target: Path) -> None:
    """Copy what git would ship (tracked + untracked, not ignored) into target."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=REPO,
                           check=True, capture_output=True, text=True).stdout.split()
    for name in files:
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


@pytest.fixture(scope="module")
def colcon_install(tmp_path_factory):
    if shutil.which("colcon") is None:
        pytest.skip("colcon is not installed (pip install colcon-common-extensions)")
    workspace = tmp_path_factory.mktemp("ws")
    _copy_sources(workspace / "src" / PACKAGE)
    result = subprocess.run(["colcon", "build"], cwd=workspace, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return workspace / "install" / PACKAGE


@pytest.mark.parametrize("relative", [
    "lib/robot_sft/controller",
    "lib/robot_sft/sim",
    "share/robot_sft/package.xml",
    "share/robot_sft/launch/controller.launch.py",
    "share/robot_sft/launch/fleet.launch.py",
    "share/robot_sft/config/controller.yaml",
    "share/ament_index/resource_index/packages/robot_sft",
])
def test_colcon_build_layout(colcon_install, relative):
    path = colcon_install / relative
    assert path.is_file(), f"colcon build did not produce {relative}"
    if relative.startswith("lib/"):
        assert os.access(path, os.X_OK)


def test_package_xml_declares_ros_dependencies():
    root = ET.parse(REPO / "package.xml").getroot()
    assert root.get("format") == "3"
    assert root.findtext("name") == PACKAGE
    depends = {e.text for e in root if e.tag.endswith("depend")}
    assert {"rclpy", "std_msgs", "geometry_msgs", "sensor_msgs", "nav_msgs",
            "python3-pytest"} <= depends
    assert root.findtext("license") and root.find("maintainer") is not None
    assert root.find("export/build_type").text == "ament_python"


def test_wheel_ships_launchers_for_launch_ros(tmp_path):
    """pip puts console scripts in bin/; launch_ros looks in lib/robot_sft/, so the wheel
    carries executable launchers there."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(REPO)], check=True, capture_output=True,
                   timeout=300)
    (wheel,) = tmp_path.glob("robot_sft-*.whl")
    import zipfile
    with zipfile.ZipFile(wheel) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    for executable in ("controller", "sim"):
        name = f"robot_sft-0.1.0.data/data/lib/robot_sft/{executable}"
        assert name in infos, sorted(infos)
        assert (infos[name].external_attr >> 16) & 0o111, f"{name} is not executable"
    assert "robot_sft-0.1.0.data/data/share/robot_sft/package.xml" in infos
    assert "robot_sft-0.1.0.data/data/share/ament_index/resource_index/packages/robot_sft" in infos
