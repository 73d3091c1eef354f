"""Reading a launch file without launch_ros (it is not on PyPI): its calls, their keyword
arguments and literal values, from the file's syntax tree. Shared by the launch-file tests."""
import ast


def calls(tree, name):
    """Every call of `name` (a plain name or an attribute) in the tree."""
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)
            and getattr(node.func, "id", getattr(node.func, "attr", None)) == name]


def keywords(call):
    return {k.arg: k.value for k in call.keywords}


def constant(node):
    """A literal's value; None for anything computed."""
    return node.value if isinstance(node, ast.Constant) else None
