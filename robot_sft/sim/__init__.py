"""The simulator: a kinematic differential-drive robot in a room (docs/simulator.md).

- `world`: the physics, pure Python + numpy (no rclpy).
- `config`: the `sim` node's parameters (pure Python).
- `node`: the ROS 2 node `sim` (the `sim` executable runs `robot_sft.sim.node:main`).
- `session`: the simulator, optionally the controller, and a probe node in one process,
  for the demo, the tests and the benchmarks.
"""
