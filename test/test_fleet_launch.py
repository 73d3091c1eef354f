"""launch/fleet.launch.py and robot_sft.fleet: checked statically (launch_ros is not on
PyPI), and for real where launch_ros is installed. The same controllers started as
processes: test/test_fleet.py."""
import ast
import importlib.util
from pathlib import Path

import pytest

from launch_ast import calls, constant, keywords

from robot_sft.fleet import fleet_robots, per_robot

LAUNCH_FILE = Path(__file__).resolve().parents[1] / "launch" / "fleet.launch.py"
ARGUMENTS = {"robots", "adapter", "server_url", "server_model", "params_file", "use_sim"}


def test_fleet_launch_file_builds_the_fleet_robots_controllers():
    tree = ast.parse(LAUNCH_FILE.read_text(), filename=str(LAUNCH_FILE))
    declared = {constant(call.args[0]) for call in calls(tree, "DeclareLaunchArgument")}
    assert declared == ARGUMENTS
    performed = {constant(e) for call in calls(tree, "LaunchConfiguration") for e in call.args}
    read = {constant(e) for node in ast.walk(tree) if isinstance(node, ast.Tuple)
            for e in node.elts}
    assert ARGUMENTS <= performed | read  # every argument is used
    # The robots come from robot_sft.fleet (the tests start the same controllers).
    assert any(isinstance(n, ast.ImportFrom) and n.module == "robot_sft.fleet"
               and [a.name for a in n.names] == ["fleet_robots"] for n in tree.body)
    assert calls(tree, "fleet_robots") and calls(tree, "OpaqueFunction")
    nodes = {constant(keywords(call)["executable"]): keywords(call)
             for call in calls(tree, "Node")}
    assert set(nodes) == {"controller", "sim"}
    for node in nodes.values():
        assert constant(node["package"]) == "robot_sft"
        assert ast.unparse(node["namespace"]) == "robot.namespace"
    assert ast.unparse(nodes["controller"]["parameters"]) == \
        "[value['params_file'], robot.parameters]"
    assert ast.unparse(nodes["sim"]["parameters"]) == "[value['params_file']]"
    # The single-robot launch file is untouched by the fleet.
    single = (LAUNCH_FILE.parent / "controller.launch.py").read_text()
    assert "fleet" not in single


def test_fleet_robots_share_one_server_and_take_one_adapter_or_one_each():
    robots = fleet_robots("3", "outputs/a", "http://gpu:8000")
    assert [r.namespace for r in robots] == ["robot1", "robot2", "robot3"]
    assert all(r.parameters == {"model_backend": "openai", "server_url": "http://gpu:8000",
                                "server_model": "a", "adapter": "outputs/a"} for r in robots)
    robots = fleet_robots(2, "x/alpha, x/beta", "http://gpu:8000", "")
    assert [(r.parameters["adapter"], r.parameters["server_model"]) for r in robots] == \
        [("x/alpha", "alpha"), ("x/beta", "beta")]
    robots = fleet_robots(2, "x/alpha", "http://gpu:8000", "r1,r2")
    assert [r.parameters["server_model"] for r in robots] == ["r1", "r2"]
    with pytest.raises(ValueError, match="adapter lists 2 values for 3 robots"):
        fleet_robots(3, "a,b", "http://gpu:8000")
    with pytest.raises(ValueError, match="robots must be 1..1000"):
        fleet_robots(0, "a", "http://gpu:8000")
    with pytest.raises(ValueError, match="robots must be a whole number"):
        fleet_robots("four", "a", "http://gpu:8000")
    assert per_robot("a", 2, "adapter") == ["a", "a"]


def test_fleet_launch_description_builds():
    pytest.importorskip("launch_ros", reason="launch_ros is not installable from PyPI; "
                                             "checked statically above")
    from ament_index_python.packages import PackageNotFoundError
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    spec = importlib.util.spec_from_file_location("fleet_launch", LAUNCH_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        description = module.generate_launch_description()
    except PackageNotFoundError:
        pytest.skip("robot_sft is not installed in the ament index (colcon build / install.sh)")
    arguments = {a.name: a for a in description.entities if isinstance(a, DeclareLaunchArgument)}
    assert set(arguments) == ARGUMENTS
    context = LaunchContext()
    for name, argument in arguments.items():
        context.launch_configurations[name] = argument.default_value[0].text
    context.launch_configurations.update(robots="3", use_sim="true")
    opaque = next(e for e in description.entities if isinstance(e, OpaqueFunction))
    nodes = opaque.execute(context)
    assert sorted(n.node_executable for n in nodes) == ["controller"] * 3 + ["sim"] * 3
