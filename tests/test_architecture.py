"""The import graph keeps the shape the README's architecture section describes.

Imports point inward: front doors (Slurm, ParallelCluster, ...) depend on the cluster service,
the service on the controller and the engine; one composition root (``stratus.headnode``)
assembles a running head node. Every import counts here, including those inside functions and
under ``TYPE_CHECKING``: they are dependencies of the design all the same.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import stratus

ROOT = Path(stratus.__file__).parent

# Front doors translate a dialect into the service; they never import each other. The web
# console's head-node routes (``console``) are one: ``stratus serve`` (``web``, a user entry point
# beside ``cli``) shows what they answer.
FRONT_DOORS = {"slurm", "pcluster", "batch", "metrics", "console"}
# The head node's core: none of it may import a front door, the API, the CLI or the root.
CORE = {"engine", "store", "controller", "service", "fleet", "providers", "agent", "config", "sim", "staging"}
# What a front door may use: the service and the neutral vocabulary below it, never the
# controller, the store, the fleet, providers or agents directly.
# From the API, only who the caller is (``api.callers``, checked below).
# Data staging's entries (``staging``) are neutral vocabulary both doors translate into.
DOOR_MAY_IMPORT = {"service", "engine", "config", "errors", "paths", "net", "api", "staging"}
# Deliberate exceptions, each with its reason.
ALLOWED = {
    # ParallelCluster's CustomSlurmSettings hold Slurm durations and hostlists: the config reads
    # them with the Slurm front end's own pure parsers rather than second copies.
    ("config", "slurm.timefmt"),
    ("config", "slurm.hostlist"),
    # ``web`` (``stratus serve``: the REST API and the console) sits beside the CLI and calls its
    # operations; the CLI's one way in is the ``serve`` verb that starts it.
    ("cli", "web"),
}


def _is_module(dotted: str) -> bool:
    path = ROOT.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imports() -> dict[str, set[str]]:
    """Module -> the stratus modules it imports (dotted, without the ``stratus.`` prefix).

    ``from stratus.a import b`` counts as importing ``a.b`` when that is a module, else ``a``;
    names of the root package itself (``from stratus import __version__``) are not counted.
    """
    out: dict[str, set[str]] = defaultdict(set)
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).with_suffix("")
        module = ".".join(p for p in rel.parts if p != "__init__")
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    names.append(full if _is_module(full.removeprefix("stratus.")) else node.module)
            for name in names:
                if name.startswith("stratus."):
                    out[module].add(name.removeprefix("stratus."))
    return out


def _package(module: str) -> str:
    return module.split(".")[0]


def _package_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for module, targets in _imports().items():
        src = _package(module)
        for target in targets:
            dst = _package(target)
            if dst != src and not _allowed(src, target):
                graph[src].add(dst)
    return graph


def _allowed(src: str, target: str) -> bool:
    return any(src == a and (target == b or target.startswith(b + ".")) for a, b in ALLOWED)


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_packages_import_no_cycle() -> None:
    cycle = _cycle(_package_graph())
    assert cycle is None, "import cycle between packages: " + " -> ".join(cycle or [])


def test_front_doors_do_not_import_each_other_or_reach_below_the_service() -> None:
    graph = _package_graph()
    for door in FRONT_DOORS:
        wrong = graph.get(door, set()) - DOOR_MAY_IMPORT
        assert not wrong, f"front door {door!r} imports {sorted(wrong)}"


def test_front_doors_use_the_service_through_its_interface_only() -> None:
    """A front door names the service's protocol and vocabulary, never an implementation."""
    allowed = {"service", "service.interface", "service.model"}
    for module, targets in _imports().items():
        if _package(module) in FRONT_DOORS:
            wrong = {t for t in targets if _package(t) == "service" and t not in allowed}
            wrong |= {t for t in targets if _package(t) == "api" and t != "api.callers"}
            assert not wrong, f"{module} imports {sorted(wrong)}"


def test_the_core_imports_no_front_door() -> None:
    graph = _package_graph()
    outer = FRONT_DOORS | {"api", "cli", "headnode"}
    for package in CORE:
        wrong = graph.get(package, set()) & outer
        assert not wrong, f"{package!r} imports {sorted(wrong)}"


def test_the_checker_finds_a_cycle() -> None:
    """The cycle finder itself works (so a green run above means something)."""
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}}) is None
