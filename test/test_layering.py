"""The import graph of robot_sft/, training/ and benchmarks/, read statically (ast).

Every import counts, also one inside a function: a function-level import still runs
the imported module when the function is called, and a circle made of them is still a
circle (the model layer's five-file circle was mostly function-level). Only imports
under `if TYPE_CHECKING:` are skipped (they never run).

Checked: no import cycle; the online half (robot_sft) never imports the training half;
the pure modules reach neither rclpy nor torch (nor a library that imports torch),
directly or through anything they import, wherever the import is written. training.masking
is pure only at import time: its collator builds torch tensors (imported in the function).
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("robot_sft", "training", "benchmarks")

PURE = (
    "robot_sft.response_format", "robot_sft.safety", "robot_sft.executor",
    "robot_sft.controller_config", "robot_sft.places", "robot_sft.commands", "robot_sft.reply",
    "robot_sft.answer", "robot_sft.grammar", "robot_sft.adapter", "robot_sft.prompting",
    "robot_sft.inference.base", "robot_sft.grounding", "robot_sft.tutorial",
    "robot_sft.parameters", "robot_sft.sim.config", "robot_sft.sim.world", "robot_sft.geometry", "robot_sft.node_startup",
    "robot_sft.thread_priority", "robot_sft.inference.http_stream",
    "robot_sft.inference.server_protocol", "robot_sft.serving", "robot_sft.fleet",
    "training.data.generate", "training.data.loaders", "training.data.numbers",
    "training.data.templates", "training.chat_templates", "training.metrics",
)
PURE_AT_IMPORT = ("training.masking",)  # module-level imports only
# Imports that bring in rclpy or torch: the names themselves, the libraries built on torch,
# and ROS message packages (rosidl: the ROS half of the stack).
HEAVY = ("rclpy", "torch", "transformers", "peft", "trl", "accelerate", "bitsandbytes",
         "llguidance.torch", "launch_ros")


# ------------------------------------------------------------------------- the walker

def module_files(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file under the packages."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


FUNCTIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)


def _runtime_nodes(tree: ast.AST, module_level_only: bool = False):
    """Every node, except the bodies of `if TYPE_CHECKING:` blocks (and, with
    module_level_only, of functions: what runs at import time)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
            elif not (module_level_only and isinstance(child, FUNCTIONS)):
                stack.append(child)


def imported_names(module: str, path: Path, is_package: bool,
                   module_level_only: bool = False) -> set[str]:
    """Dotted names this module imports anywhere in its code (relative imports resolved;
    `from a import b` gives a.b, which is the module a.b when there is one, else a)."""
    names = set()
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in _runtime_nodes(tree, module_level_only):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                package = module.split(".") if is_package else module.split(".")[:-1]
                package = package[:len(package) - (node.level - 1)]
                base = ".".join(package + ([node.module] if node.module else []))
            else:
                base = node.module
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def import_graph(root: Path = REPO, packages=PACKAGES, module_level_only: bool = False):
    """(edges, external): edges[m] = the repository modules m imports (with the packages
    whose __init__ the import runs); external[m] = the other dotted names it imports."""
    modules = module_files(root, packages)
    edges, external = {}, {}
    for module, path in modules.items():
        edges[module], external[module] = set(), set()
        for name in imported_names(module, path, path.name == "__init__.py", module_level_only):
            if name.split(".")[0] not in packages:
                external[module].add(name)
                continue
            if name not in modules:  # `from pkg.mod import function`: the module pkg.mod
                name = name.rsplit(".", 1)[0]
            parts = name.split(".")
            for i in range(1, len(parts) + 1):  # importing a.b.c runs a, a.b and a.b.c
                if ".".join(parts[:i]) in modules:
                    edges[module].add(".".join(parts[:i]))
        edges[module].discard(module)
    return edges, external


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(found)


def reachable(edges: dict[str, set[str]], start: str) -> dict[str, str]:
    """Every module `start` reaches -> the module that imports it on one path from start."""
    seen, todo = {start: ""}, [start]
    while todo:
        module = todo.pop()
        for target in sorted(edges.get(module, ())):
            if target not in seen:
                seen[target] = module
                todo.append(target)
    return seen


def chain(parents: dict[str, str], module: str) -> str:
    path = [module]
    while parents[path[-1]]:
        path.append(parents[path[-1]])
    return " -> ".join(reversed(path))


# ------------------------------------------------------------------------- the rules

@pytest.fixture(scope="module")
def graph():
    return import_graph()


@pytest.fixture(scope="module")
def import_time_graph():
    return import_graph(module_level_only=True)


def is_heavy(name: str) -> bool:
    return any(name == h or name.startswith(h + ".") for h in HEAVY) or \
        name.split(".")[0].endswith("_msgs")


def is_training_cycle(component: list[str]) -> bool:
    return all(m.startswith("training.") for m in component)


def test_no_import_cycle_outside_training(graph):
    edges, _ = graph
    found = [c for c in cycles(edges) if not is_training_cycle(c)]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_import_cycle_inside_training(graph):
    """train.py and evaluate.py share training/datasets.py and import neither each other."""
    edges, _ = graph
    found = [c for c in cycles(edges) if is_training_cycle(c)]
    assert not found, "import cycles: " + "; ".join(" <-> ".join(c) for c in found)
    assert "training.evaluate" not in edges["training.train"]
    assert "training.train" not in edges["training.evaluate"]


def test_robot_sft_never_imports_training(graph):
    edges, _ = graph
    slips = [f"{m} imports {t}" for m in sorted(edges) if m.split(".")[0] == "robot_sft"
             for t in sorted(edges[m]) if t.split(".")[0] == "training"]
    assert not slips, "; ".join(slips)


def heavy_imports(graph, module: str) -> list[str]:
    edges, external = graph
    assert module in edges, f"{module} is no longer a module: update the lists above"
    parents = reachable(edges, module)
    return [f"{chain(parents, m)} imports {name}" for m in sorted(parents)
            for name in sorted(external[m]) if is_heavy(name)]


@pytest.mark.parametrize("module", PURE)
def test_pure_modules_reach_neither_rclpy_nor_torch(graph, module):
    heavy = heavy_imports(graph, module)
    assert not heavy, "; ".join(heavy)


@pytest.mark.parametrize("module", PURE_AT_IMPORT)
def test_modules_pure_at_import_time_reach_neither_rclpy_nor_torch(import_time_graph, module):
    heavy = heavy_imports(import_time_graph, module)
    assert not heavy, "; ".join(heavy)


def test_importing_the_model_layer_stays_cheap():
    """Static rules aside: importing every module of the model layer runs no torch,
    transformers or llama_cpp; they are imported where a model is built (a subprocess, so
    this session's imports do not count)."""
    import subprocess
    import sys

    modules = sorted(m for m in module_files(REPO, ("robot_sft",))
                     if m.startswith("robot_sft.inference"))
    assert "robot_sft.inference.base" in modules
    code = (f"import importlib, sys\nfor m in {modules!r}: importlib.import_module(m)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'llama_cpp', 'rclpy') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# ------------------------------------------------------------- the walker can see it all

def test_the_walker_finds_function_level_and_relative_cycles(tmp_path):
    """A circle closed only by a function-level relative import, and a TYPE_CHECKING
    import that must not count."""
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "sub" / "__init__.py").write_text("")
    (package / "a.py").write_text("from pkg.sub import b\n")
    (package / "sub" / "b.py").write_text("def f():\n    from ..c import g\n    return g\n")
    (package / "c.py").write_text("import torch\n\ndef g():\n    from . import a\n")
    (package / "d.py").write_text("from typing import TYPE_CHECKING\n"
                                  "if TYPE_CHECKING:\n    from pkg import a\n")
    edges, external = import_graph(tmp_path, ("pkg",))
    assert cycles(edges) == [["pkg.a", "pkg.c", "pkg.sub.b"]]
    assert "pkg.a" not in edges["pkg.d"]
    assert "torch" in external["pkg.c"]
    assert chain(reachable(edges, "pkg.a"), "pkg.c") == "pkg.a -> pkg.sub.b -> pkg.c"
    at_import, _ = import_graph(tmp_path, ("pkg",), module_level_only=True)
    assert cycles(at_import) == [] and "pkg.c" not in at_import["pkg.sub.b"]
