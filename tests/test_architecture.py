"""The layers import only downward, and no module imports itself in a circle.

Layers (docs/architecture.rst), each allowed to import the ones listed:

==========  ===============================================================
esl         the codec: nothing of ours
connection  esl
sim         esl (the embedded switch leans on the codec only)
core        esl, connection (``switchio_lab.core`` and the switchio alias modules)
apps        esl, connection, core
measure     esl, connection, core, apps
compat      esl, connection, sim, core, apps, measure (switchio's blocking API; nothing
            else imports it)
lab / cli   anything (they start embedded switches and show everything)
testing     anything
==========  ===============================================================

Two proofs: a static one over every ``import`` in the code (function-level ones included,
``if TYPE_CHECKING:`` blocks excluded), and a dynamic one that imports every module of each
layer in a fresh interpreter where the layers it may not use cannot be imported at all.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "switchio_lab"

#: the top-level modules of the core (switchio's paths, kept as aliases of switchio_lab.core)
CORE_ALIASES = {"api", "handlers", "models", "pool", "service", "sync", "marks"}

ALLOWED: dict[str, set[str]] = {
    "esl": {"esl"},
    "connection": {"esl", "connection"},
    "sim": {"esl", "sim"},
    "core": {"esl", "connection", "core"},
    "apps": {"esl", "connection", "core", "apps"},
    "measure": {"esl", "connection", "core", "apps", "measure"},
    "compat": {"esl", "connection", "sim", "core", "apps", "measure", "compat"},
    "lab": {"esl", "connection", "sim", "core", "apps", "measure", "lab"},
    "cli": {"esl", "connection", "sim", "core", "apps", "measure", "lab", "compat", "cli"},
    "testing": {"esl", "connection", "sim", "core", "apps", "measure", "lab", "testing"},
}


def layer_of(module: str) -> str | None:
    """``switchio_lab.sim.node`` -> ``sim``; None for the package itself (it may import all)."""
    parts = module.split(".")
    if len(parts) == 1:
        return None
    head = parts[1]
    return "core" if head in CORE_ALIASES else head


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        name = ".".join(rel.parts)
        out[name.removesuffix(".__init__")] = path
    return out


class _Imports(ast.NodeVisitor):
    """Every module of ours a module imports, at any depth, outside ``if TYPE_CHECKING:``."""

    def __init__(self, name: str, is_package: bool, known: set[str]) -> None:
        self.name, self.is_package, self.known = name, is_package, known
        self.found: set[str] = set()

    def visit_If(self, node: ast.If) -> None:
        if "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.orelse:
                self.visit(stmt)
            return
        self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            base = self.name.split(".")
            if not self.is_package:
                base = base[:-1]
            base = base[: len(base) - (node.level - 1)]
            target = ".".join(base + ([node.module] if node.module else []))
        else:
            target = node.module or ""
        for alias in node.names:
            sub = f"{target}.{alias.name}"
            self._add(sub if sub in self.known else target)

    def _add(self, target: str) -> None:
        while target and target not in self.known and "." in target:
            target = target.rsplit(".", 1)[0]
        if target in self.known and target != self.name:
            self.found.add(target)


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph = {}
    for name, path in mods.items():
        visitor = _Imports(name, path.name == "__init__.py", known)
        visitor.visit(ast.parse(path.read_text(), str(path)))
        graph[name] = visitor.found
    return graph


def test_every_import_goes_downward() -> None:
    wrong = []
    for name, targets in import_graph().items():
        layer = layer_of(name)
        if layer is None:
            continue
        assert layer in ALLOWED, f"{name}: a new layer {layer!r}; add it to ALLOWED and the docs"
        for target in targets:
            other = layer_of(target)
            if other is not None and other not in ALLOWED[layer]:
                wrong.append(f"{name} ({layer}) imports {target} ({other})")
    assert not wrong, "imports against the layering:\n" + "\n".join(sorted(wrong))


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        top = stack.pop()
                        on_stack.discard(top)
                        comp.append(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_circle() -> None:
    circles = _circles(import_graph())
    assert not circles, "import circles:\n" + "\n".join(" <-> ".join(c) for c in circles)


def test_the_circle_finder_finds_circles() -> None:
    """The check above could pass by finding nothing: show it finds a circle and a chain."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert _circles(graph) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


#: run in a fresh interpreter: import every module of one layer with the others blocked
_PROBE = r"""
import importlib, importlib.abc, importlib.util, pkgutil, sys, types

layer, allowed, aliases = sys.argv[1], set(sys.argv[2].split(",")), set(sys.argv[3].split(","))

class Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        parts = name.split(".")
        if parts[0] == "switchio_lab" and len(parts) > 1:
            head = "core" if parts[1] in aliases else parts[1]
            if head not in allowed:
                raise ImportError(f"layer {layer!r} may not import {name}")
        return None

sys.meta_path.insert(0, Blocker())
# the package without its __init__ (which imports every layer, as the top may)
spec = importlib.util.find_spec("switchio_lab")
pkg = types.ModuleType("switchio_lab")
pkg.__path__ = list(spec.submodule_search_locations)
sys.modules["switchio_lab"] = pkg
root = spec.submodule_search_locations[0]
names = []
if layer == "core":
    names += [f"switchio_lab.{a}" for a in sorted(aliases)]
names.append(f"switchio_lab.{layer}")
for info in pkgutil.walk_packages([f"{root}/{layer}"], f"switchio_lab.{layer}."):
    names.append(info.name)
for name in names:
    if name.endswith("__main__"):
        continue
    importlib.import_module(name)
print(len(names))
"""


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_each_layer_imports_with_the_layers_above_it_blocked(layer: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, layer, ",".join(sorted(ALLOWED[layer])),
         ",".join(sorted(CORE_ALIASES))],
        capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert int(proc.stdout.split()[-1]) >= 1


def test_the_blocker_blocks() -> None:
    """The probe is not vacuous: the codec may not import the connections."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE + "\nimportlib.import_module('switchio_lab.connection')",
         "esl", "esl", ",".join(sorted(CORE_ALIASES))],
        capture_output=True, text=True, timeout=120, cwd=PACKAGE.parent,
    )
    assert proc.returncode != 0 and "may not import switchio_lab.connection" in proc.stderr
