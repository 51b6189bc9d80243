"""The package's map (its docstring) lists every module once, and imports go only downward.

The map in `simplenn/__init__.py` is the one description of the layout; these tests fail
when a module is added without a line there, listed twice, or imports from a layer below it
in the map's order (which would make the layers a tangle again). Importing any module
changes nothing in the process: that is `set_up`'s job alone.
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import simplenn

PACKAGE = Path(simplenn.__file__).parent
ENTRY = re.compile(r"^    ( {4})?(\S+?)(/|\.py)\s")  # "    nn/", "        network.py", "    config.py"


def map_entries() -> list[tuple[str, str]]:
    """The map's lines as (layer, module path), e.g. ("nn", "nn/network.py"), ("config", "config.py")."""
    entries, layer = [], None
    for line in simplenn.__doc__.splitlines():
        match = ENTRY.match(line)
        if not match:
            continue
        nested, name, kind = match.groups()
        if kind == "/":
            layer = name
        elif nested:
            entries.append((layer, f"{layer}/{name}.py"))
        else:
            layer = None
            entries.append((name, f"{name}.py"))
    return entries


def package_modules() -> list[str]:
    return sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                  if path.name not in ("__init__.py", "__main__.py"))


def test_the_map_lists_every_module_once():
    listed = [path for _, path in map_entries()]
    assert len(listed) == len(set(listed)), [path for path in listed if listed.count(path) > 1]
    assert sorted(listed) == package_modules()


def test_the_map_finds_each_layer_a_folder_or_a_module():
    layers = list(dict.fromkeys(layer for layer, _ in map_entries()))
    for layer in layers:
        assert (PACKAGE / layer).is_dir() or (PACKAGE / f"{layer}.py").is_file(), layer
    assert len(layers) <= 20  # rooms a newcomer can hold in mind


def imported_layers(path: Path) -> set[str]:
    """The top-level simplenn names a module imports, function-local imports included."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.startswith("simplenn"):
            parts = node.module.split(".")
            names.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
        elif isinstance(node, ast.Import):
            names.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("simplenn.") and alias.name.count("."))
    return names


def test_imports_go_only_downward():
    order = list(dict.fromkeys(layer for layer, _ in map_entries()))
    rank = {layer: index for index, layer in enumerate(order)}
    upward = []
    for layer, module in map_entries():
        for target in imported_layers(PACKAGE / module):
            if target in rank and rank[target] > rank[layer]:
                upward.append(f"{module} imports {target}")
    assert upward == []


@pytest.mark.slow  # a fresh process
def test_importing_every_module_changes_nothing_in_the_process(tmp_path):
    # A fresh interpreter imports all of simplenn and reports what a module could have changed.
    # The libraries simplenn uses come first: what they change on import is theirs.
    code = """
import gc, json, os, pkgutil, importlib, sys
import tensorflow, keras, sklearn.neural_network, matplotlib.pyplot, scipy.ndimage, PIL.Image, starlette, uvicorn
def state():
    return {"environ": dict(os.environ), "fds": sorted(os.listdir("/proc/self/fd")),
            "frozen": gc.get_freeze_count(), "collecting": gc.isenabled()}
before = state()
import simplenn
for module in pkgutil.walk_packages(simplenn.__path__, "simplenn."):
    if not module.name.endswith("__main__"):
        importlib.import_module(module.name)
after = state()
print(json.dumps({"before": before, "after": after}))
"""
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.update({key: value for key, value in __import__("os").environ.items() if key.startswith("PYTHON")})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    states = json.loads(done.stdout.splitlines()[-1])
    before, after = states["before"], states["after"]
    assert after["environ"] == before["environ"]
    assert after["frozen"] == before["frozen"] == 0
    assert after["collecting"] is True
    assert not (tmp_path / "cache" / "simplenn").exists()  # no compile cache made


@pytest.mark.slow  # fresh processes
def test_set_up_quiets_the_import_and_keeps_xlas_programs(tmp_path):
    code = ("import gc, os, simplenn; simplenn.set_up(one_command=True); from simplenn.nn.network import Network; "
            "print(gc.get_freeze_count() > 100000, os.environ['TF_CPP_MIN_LOG_LEVEL'], 'persistent_cache' in os.environ['TF_XLA_FLAGS'])")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    env.update({key: value for key, value in __import__("os").environ.items() if key.startswith("PYTHON")})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["True", "3", "True"]
    assert done.stderr == ""
    assert (tmp_path / ".cache" / "simplenn" / "xla").is_dir()
