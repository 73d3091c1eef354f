"""robot_sft/geometry.py: angle wrapping and yaw <-> quaternion, and that it is the only
place in robot_sft/ that defines a pose class, an angle wrap or the quaternion formulas."""
import ast
import math
import re
from pathlib import Path
from types import SimpleNamespace

from hypothesis import given
from hypothesis import strategies as st

from robot_sft.geometry import Pose2D, quaternion_from_yaw, wrap_angle, yaw_from_quaternion

PACKAGE = Path(__file__).resolve().parents[1] / "robot_sft"
GEOMETRY = PACKAGE / "geometry.py"
ANGLES = st.floats(min_value=-1e4, max_value=1e4, allow_nan=False)


@given(ANGLES)
def test_wrap_angle_is_the_same_rotation_within_pi(angle):
    wrapped = wrap_angle(angle)
    assert -math.pi <= wrapped <= math.pi
    assert math.isclose(math.cos(wrapped), math.cos(angle), abs_tol=1e-9)
    assert math.isclose(math.sin(wrapped), math.sin(angle), abs_tol=1e-9)


@given(st.floats(min_value=-3.14159, max_value=3.14159))
def test_wrap_angle_keeps_an_angle_already_in_range(angle):
    assert math.isclose(wrap_angle(angle), angle, rel_tol=1e-12, abs_tol=1e-15)


@given(ANGLES)
def test_yaw_quaternion_round_trip(yaw):
    x, y, z, w = quaternion_from_yaw(yaw)
    assert x == y == 0.0 and math.isclose(z * z + w * w, 1.0, rel_tol=1e-12)
    back = yaw_from_quaternion(SimpleNamespace(x=x, y=y, z=z, w=w))
    assert abs(wrap_angle(back - yaw)) < 1e-9


def test_pose_stamp_is_optional():
    assert Pose2D() == Pose2D(0.0, 0.0, 0.0) and Pose2D().stamp is None
    assert Pose2D(1.0, 2.0, 0.5, 3.0).stamp == 3.0


# Written-out angle wraps and quaternion formulas: atan2(sin(a), cos(a)), a % (2 pi),
# sin(yaw / 2), and the yaw-of-a-quaternion atan2.
DUPLICATE_CODE = re.compile(
    r"atan2\(\s*(math\.|np\.)?sin\("
    r"|%\s*\(?\s*(2(\.0)?\s*\*\s*(math\.|np\.)?pi|(math\.)?tau)"
    r"|sin\(\s*\w*yaw\w*\s*/\s*2"
    r"|atan2\(\s*2(\.0)?\s*\*\s*\(")
WRAP_NAME = re.compile(r"^_?(wrap|(wrap|normali[sz]e)_?angle|angle_?(wrap|normali[sz]e)|"
                       r"(quaternion_from_yaw|yaw_to_quaternion|yaw_from_quaternion))$", re.I)


def test_geometry_is_defined_only_in_geometry_py():
    sources = sorted(p for p in PACKAGE.rglob("*.py") if p != GEOMETRY)
    assert any(p.name == "executor.py" for p in sources)
    found = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(PACKAGE.parent)
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, ast.ClassDef) and node.name == "Pose2D":
                found.append(f"{name}:{node.lineno}: class Pose2D")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) \
                    and WRAP_NAME.match(node.name):
                found.append(f"{name}:{node.lineno}: def {node.name}")
        for number, line in enumerate(text.splitlines(), 1):
            if DUPLICATE_CODE.search(line):
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found, "use robot_sft.geometry instead: " + "; ".join(found)


def test_the_duplicate_check_sees_the_old_definitions():
    old = ("return math.atan2(math.sin(angle), math.cos(angle))",
           "return (angle + math.pi) % (2.0 * math.pi) - math.pi",
           "return 0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0)",
           "return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y))")
    assert all(DUPLICATE_CODE.search(line) for line in old)
    assert all(WRAP_NAME.match(n) for n in ("_wrap", "normalize_angle", "wrap_angle",
                                             "yaw_to_quaternion"))
    assert not WRAP_NAME.match("wrapper")
    assert sum(1 for _ in DUPLICATE_CODE.finditer(GEOMETRY.read_text())) == 3  # its own
