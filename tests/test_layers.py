"""The layers stay clean: the core never imports an engine, and the engines never import each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "routilux"
ENTRY_POINTS = {"__init__.py"}  # it wires the layers together (so does the cli/ package)


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at any level of the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def files_of(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def core_files() -> list[Path]:
    return [p for p in PACKAGE.glob("*.py") if p.name not in ENTRY_POINTS] + files_of(PACKAGE / "builtin_routines")


@pytest.mark.parametrize("path", core_files(), ids=lambda p: p.name)
def test_the_core_never_imports_an_engine_or_a_queue_library(path):
    bad = {m for m in imported_modules(path)
           if m.startswith(("routilux.local", "routilux.distributed", "celery", "kombu", "redis"))}
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", files_of(PACKAGE / "local"), ids=lambda p: p.name)
def test_the_local_engine_never_imports_the_distributed_one(path):
    bad = {m for m in imported_modules(path) if m.startswith(("routilux.distributed", "celery", "kombu", "redis"))}
    assert not bad, f"local/{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", files_of(PACKAGE / "distributed"), ids=lambda p: p.name)
def test_the_distributed_engine_never_imports_the_local_one(path):
    bad = {m for m in imported_modules(path) if m.startswith("routilux.local")}
    assert not bad, f"distributed/{path.name} imports {sorted(bad)}"


def test_redis_key_names_are_built_in_one_module_only():
    offenders = []
    for path in files_of(PACKAGE / "distributed"):
        if path.name == "keys.py":
            continue
        text = path.read_text(encoding="utf-8")
        if 'f"{self.prefix}' in text or ":job:{" in text:
            offenders.append(path.name)
    assert offenders == []


def test_nothing_in_the_package_uses_pickle():
    users = [p.name for p in PACKAGE.rglob("*.py") if "pickle" in imported_modules(p)]
    assert users == []


@pytest.mark.parametrize("path", files_of(PACKAGE / "distributed"), ids=lambda p: p.name)
def test_the_distributed_engine_never_imports_the_console(path):
    bad = {m for m in imported_modules(path) if m.startswith(("routilux.server", "fastapi", "starlette", "uvicorn"))}
    assert not bad, f"distributed/{path.name} imports {sorted(bad)}"


def test_importing_routilux_its_distributed_engine_and_the_cli_loads_no_terminal_ui_or_graphviz():
    import subprocess
    import sys

    code = ("import sys, routilux, routilux.distributed, routilux.cli; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('rich', 'graphviz')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]"


def test_importing_routilux_and_its_distributed_engine_loads_no_web_framework():
    import subprocess
    import sys

    code = ("import sys, routilux, routilux.distributed; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('fastapi', 'starlette', 'uvicorn', 'routilux.server', 'playwright', 'httpx')"
            " or m.startswith('routilux.server')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=PACKAGE.parent).stdout.strip()
    assert out == "[]"


FRONT_END_FILES = files_of(PACKAGE / "cli") + files_of(PACKAGE / "server")
STORE_SIDE = ("routilux.distributed.store", "routilux.distributed.protocol.keys", "routilux.distributed.protocol.scripts",
              "routilux.distributed.protocol", "routilux.distributed.operations.store")


@pytest.mark.parametrize("path", FRONT_END_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_cli_and_the_console_never_reach_past_the_runtime_into_the_store_or_key_names(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    reached = sorted(f"line {node.lineno}: .{node.attr}" for node in ast.walk(tree)
                     if isinstance(node, ast.Attribute) and node.attr in ("store", "ops"))
    imported = sorted(m for m in imported_modules(path) if m.startswith(STORE_SIDE))
    assert (reached, imported) == ([], []), f"{path.parent.name}/{path.name}"


def test_the_worker_side_and_the_operations_side_of_the_distributed_engine_never_import_each_other():
    # worker/boot.py wires the daemon together (it serves the operations' queue-depth gauge): it may.
    crossings = []
    for side, other in (("worker", "operations"), ("operations", "worker")):
        for path in files_of(PACKAGE / "distributed" / side):
            if path.name == "boot.py":
                continue
            bad = {m for m in imported_modules(path) if m.startswith(f"routilux.distributed.{other}")}
            crossings += [f"{side}/{path.name} -> {m}" for m in sorted(bad)]
    assert crossings == []


# --------------------------------------------------------------------------- the import graph

# The core's layers, lowest first. A module imports only from its own layer or below
# (type-only and function-local imports count). Modules not listed here are held to
# the no-circle rule only.
CORE_LAYERS = (
    ("foundations", {"errors", "registry", "error_handler", "execution_tracker", "output_handler", "bounds",
                     "codec", "protocols", "tracker_log"}),
    ("context", {"context"}),
    ("model", {"event", "slot", "routine", "connection", "activation"}),
    ("state", {"versioned", "job_state", "txn"}),
    ("flow", {"routing", "flow", "flow_graph", "flow_info"}),
    ("step", {"step"}),
    ("formats", {"serialization", "spec", "spec_files", "formats"}),
)


def module_name(path: Path) -> str:
    """``routilux.a.b`` for routilux/a/b.py (the package's name for an ``__init__.py``)."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(node: ast.ImportFrom, name: str, is_package: bool) -> str:
    """The absolute module an ``ImportFrom`` names (relative imports resolved against ``name``)."""
    if not node.level:
        return node.module or ""
    base = name.split(".") if is_package else name.split(".")[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def package_imports(path: Path, known: set[str], name: str | None = None) -> set[str]:
    """The modules of the package that one file imports, anywhere in it (TYPE_CHECKING and functions too)."""
    name = name or module_name(path)
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, name, path.name == "__init__.py")
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return (found & known) - {name}


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports, for every module of ``routilux``."""
    paths = {module_name(p): p for p in files_of(PACKAGE)}
    known = set(paths)
    return {name: package_imports(path, known) for name, path in paths.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle (its modules in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return path[path.index(target):] + [target]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_reports_a_circle_in_order_and_none_in_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_graph_counts_type_only_function_local_and_relative_imports(tmp_path):
    source = tmp_path / "sample.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "import routilux.errors\n"
        "if TYPE_CHECKING:\n    from routilux.flow import Flow\n"
        "def later():\n    from routilux.spec import flow_from_spec\n"
        "from . import registry\n"
        "from .local import engine\n",
        encoding="utf-8",
    )
    known = {"routilux.errors", "routilux.flow", "routilux.spec", "routilux.registry", "routilux.local",
             "routilux.local.engine", "routilux.txn"}
    assert package_imports(source, known, "routilux.sample") == known - {"routilux.local", "routilux.txn"}


def test_the_core_imports_form_no_circle():
    graph = import_graph()
    core = {name: targets for name, targets in graph.items()
            if not name.startswith(("routilux.local", "routilux.distributed", "routilux.cli", "routilux.server"))}
    cycle = find_cycle(core)
    assert cycle is None, "import circle in the core: " + " -> ".join(cycle or [])


def test_the_whole_package_imports_form_no_circle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle or [])


@pytest.mark.parametrize("layer", range(len(CORE_LAYERS)), ids=[name for name, _ in CORE_LAYERS])
def test_each_core_layer_imports_only_from_itself_or_the_layers_below(layer):
    graph = import_graph()
    allowed = set().union(*(modules for _, modules in CORE_LAYERS[: layer + 1]))
    everything = set().union(*(modules for _, modules in CORE_LAYERS))
    upward = {}
    for module in CORE_LAYERS[layer][1]:
        targets = {t.removeprefix("routilux.") for t in graph[f"routilux.{module}"]}
        bad = (targets & everything) - allowed
        if bad:
            upward[module] = sorted(bad)
    assert upward == {}, f"{CORE_LAYERS[layer][0]} layer imports upward: {upward}"
