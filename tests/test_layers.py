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
STORE_SIDE = ("routilux.distributed.store", "routilux.distributed.keys", "routilux.distributed.scripts",
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
