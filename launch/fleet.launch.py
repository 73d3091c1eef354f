"""ros2 launch robot_sft fleet.launch.py robots:=4 server_url:=http://gpu:8000 adapter:=DIR [use_sim:=true]

A fleet on one inference server: `robots` controllers in namespaces robot1..robotN
(/robot1/command, /robot1/cmd_vel, ...), each with model_backend openai on the same
server_url, optionally a simulator per robot. `adapter` and `server_model` are one value
for all robots or a comma-separated list, one per robot (robot_sft.fleet); a robot's
server_model defaults to its adapter directory's name. Serve the adapters first:
`python -m robot_sft.export --adapter DIR --format vllm|gguf` prints the server command
(docs/fleet.md). The single-robot launch file, controller.launch.py, is unchanged.

One robot's controller exiting does not end the launch: the other robots keep serving.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from robot_sft.fleet import fleet_robots


def launch_robots(context):
    """The nodes, once the arguments are known (their number is one of them)."""
    value = {name: LaunchConfiguration(name).perform(context)
             for name in ('robots', 'adapter', 'server_url', 'server_model', 'params_file',
                          'use_sim')}
    use_sim = value['use_sim'].lower() in ('true', '1', 'yes')
    nodes = []
    for robot in fleet_robots(value['robots'], value['adapter'], value['server_url'],
                              value['server_model']):
        nodes.append(Node(package='robot_sft', executable='controller', name='controller',
                          namespace=robot.namespace,
                          parameters=[value['params_file'], robot.parameters],
                          output='screen', emulate_tty=True))
        if use_sim:
            nodes.append(Node(package='robot_sft', executable='sim', name='sim',
                              namespace=robot.namespace, parameters=[value['params_file']],
                              output='screen', emulate_tty=True))
    return nodes


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory('robot_sft'), 'config',
                                  'controller.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('robots', default_value='2',
                              description='How many robots (namespaces robot1..robotN)'),
        DeclareLaunchArgument('adapter', default_value='outputs/embedded',
                              description='Adapter directory (metadata and tokenizer are '
                                          'enough), or a comma-separated list, one per robot'),
        DeclareLaunchArgument('server_url', default_value='http://127.0.0.1:8000',
                              description='The OpenAI-compatible inference server'),
        DeclareLaunchArgument('server_model', default_value='',
                              description="The adapter's name on the server, or a list; "
                                          "empty: each adapter directory's name"),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='Controller (and simulator) parameters (YAML)'),
        DeclareLaunchArgument('use_sim', default_value='false',
                              description='Also start a simulator per robot'),
        OpaqueFunction(function=launch_robots),
    ])
