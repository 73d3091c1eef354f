"""ros2 launch robot_sft controller.launch.py adapter:=outputs/embedded [use_sim:=true]

Who may command the robot: every node on the DDS domain can publish /command. To
accept commands only from trusted nodes, give this launch a namespace only they
publish in (namespace:=robot1 makes it /robot1/command), or remap the controller's
command topic (`command_topic` in the params file, e.g. "operator/command"), and
on apt ROS installs enforce SROS2 access control on it; see docs/security.md.
"""
import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, RegisterEventHandler, Shutdown
from launch.conditions import IfCondition
from launch.event_handlers import OnProcessExit
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def end_with_the_controller(event, context):
    """The controller is what drives the robot: when it exits, the launch ends too (also
    with use_sim:=true, whose simulator would otherwise run on). A non-zero exit code
    raises, so `ros2 launch` itself exits non-zero (launch returns 1 when an action
    fails); a clean exit shuts down cleanly."""
    if event.returncode != 0:
        raise RuntimeError(f"controller exited with code {event.returncode}")
    return [Shutdown(reason="controller exited")]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory('robot_sft'), 'config',
                                  'controller.yaml')
    adapter = LaunchConfiguration('adapter')
    params_file = LaunchConfiguration('params_file')
    use_sim = LaunchConfiguration('use_sim')
    namespace = LaunchConfiguration('namespace')
    controller = Node(package='robot_sft', executable='controller', name='controller',
                      namespace=namespace, parameters=[params_file, {'adapter': adapter}],
                      output='screen', emulate_tty=True)
    return LaunchDescription([
        DeclareLaunchArgument('adapter', default_value='outputs/embedded',
                              description='Adapter directory written by training'),
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='Controller (and simulator) parameters (YAML)'),
        DeclareLaunchArgument('use_sim', default_value='false',
                              description='Also start the robot_sft simulator'),
        DeclareLaunchArgument('namespace', default_value='',
                              description='Namespace for the nodes and their topics '
                                          '(one only trusted nodes publish in)'),
        controller,
        RegisterEventHandler(OnProcessExit(target_action=controller,
                                           on_exit=end_with_the_controller)),
        # The same file: its `/**` section gives the sim the shared topic names and
        # cmd_vel_timeout; the sim accepts the controller's names and refuses others.
        Node(package='robot_sft', executable='sim', name='sim', namespace=namespace,
             parameters=[params_file], output='screen', emulate_tty=True,
             condition=IfCondition(use_sim)),
    ])
