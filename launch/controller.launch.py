"""ros2 launch robot_sft controller.launch.py adapter:=outputs/embedded [use_sim:=true]"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory('robot_sft'), 'config',
                                  'controller.yaml')
    adapter = LaunchConfiguration('adapter')
    params_file = LaunchConfiguration('params_file')
    use_sim = LaunchConfiguration('use_sim')
    namespace = LaunchConfiguration('namespace')
    return LaunchDescription([
        DeclareLaunchArgument('adapter', default_value='outputs/embedded',
                              description='Adapter directory written by training'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='Controller (and simulator) parameters (YAML)'),
        DeclareLaunchArgument('use_sim', default_value='false',
                              description='Also start the robot_sft simulator'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace for the nodes and their topics'),
        Node(package='robot_sft', executable='controller', name='controller',
             namespace=namespace, parameters=[params_file, {'adapter': adapter}],
             output='screen', emulate_tty=True),
        # The same file: its `/**` section gives the sim the shared topic names and
        # cmd_vel_timeout; the controller-only parameters it does not declare are ignored.
        Node(package='robot_sft', executable='sim', name='sim', namespace=namespace,
             parameters=[params_file], output='screen', emulate_tty=True,
             condition=IfCondition(use_sim)),
    ])
