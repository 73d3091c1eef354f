"""End to end with the real embedded SmolLM2: train a few steps, save the adapter, load
it in the controller node, drive the simulator. After two steps the model's words
may be anything: the test checks the pipeline, not the answer. Whatever the model
says, either it parses and the motion announced on /response is what the base does,
or /response says why not and nothing moves, or lines already streamed into motion
and /response says the robot was stopped after them.
"""
import math
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy")
pytest.importorskip("peft")

from robot_sft.adapter import read_metadata  # noqa: E402
from robot_sft.sim.session import MOTION_ANNOUNCEMENT, SimSession  # noqa: E402
from ros_helpers import unique_domain_id, unique_namespace  # noqa: E402

pytestmark = [pytest.mark.slow, pytest.mark.ros]

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def adapter(tmp_path_factory):
    out = tmp_path_factory.mktemp("adapter")
    command = [sys.executable, "-m", "training.train", "--max_steps", "2", "--num_examples", "40",
               "--per_device_train_batch_size", "4", "--eval_samples", "-1",
               "--logging_steps", "1", "--num_threads", "2", "--output_dir", str(out)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    read_metadata(out)  # a complete, self-describing adapter directory
    return out


def test_trained_adapter_drives_the_simulator(adapter):
    # Tight limits: whatever a barely trained model answers, any motion stays short.
    params = {"model_backend": "transformers", "adapter": str(adapter), "device": "cpu",
              "max_new_tokens": 24, "max_distance": 1.0, "max_duration": 4.0}
    with SimSession(controller_params=params, domain_id=unique_domain_id(),
                    namespace=unique_namespace("e2e"), ready_timeout=120.0) as robot:
        result = robot.send("Move forward 30 cm", timeout=60.0)
    assert not result.timed_out and result.response, result
    (x0, y0, yaw0), (x1, y1, yaw1) = result.start_pose, result.final_pose
    moved = math.hypot(x1 - x0, y1 - y0) > 1e-3 or abs(math.remainder(yaw1 - yaw0, 2 * math.pi)) > 1e-3
    if MOTION_ANNOUNCEMENT in result.response:
        assert result.moved and moved, result
    elif result.response.startswith("Stopped:"):  # streamed lines started, then the answer failed
        assert "had started" in result.response, result
    else:
        assert not result.moved and not moved, result
        if result.response.startswith("Not moving"):  # a clear reason, e.g. a parse error
            assert ":" in result.response
