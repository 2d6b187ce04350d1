"""The package's shape: layers that only import downwards, no import cycle, light modules that
never load TensorFlow, and nothing run on import."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

LIGHT = (
    "nst",
    "nst.core.records",
    "nst.core.recipe",
    "nst.inputs.native",
    "nst.output.runfolder",
    "nst.output.outputs",
    "nst.output.plots",
    "nst.batch.sweep",
    "nst.run.pipeline",
    "nst.run.still",
    "nst.run.watchers",
    "nst.run.exits",
    "nst.run.process",
    "nst.cli.progress",
    "nst.core.scales",
    "nst.run.preflight",
    "nst.inputs.styles",
    "nst.inputs.masks",
    "nst.output.evolution",
    "nst.cli.viewer",
    "nst.output.checkpoint",
    "nst.core.lbfgs",
    "nst.batch.plan",
    "nst.batch.launch",
    "nst.batch.local",
    "nst.batch.sheet",
    "nst.batch.grid",
    "nst.batch.ray",
    "nst.inputs.flow",
    "nst.inputs.video_io",
    "nst.run.video",
)


def test_light_modules_do_not_import_tensorflow():
    code = (
        f"import sys; import {', '.join(LIGHT)}; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


# Bottom to top: a module may import from its own package and from the packages before it.
LAYERS = ("settings", "inputs", "core", "output", "run", "cli", "batch", "web")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def nst_imports(source: str, package: str) -> set[str]:
    """The nst modules (and names) that `source`, a module of `package`, imports."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.split(".")[0] == "nst":
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "nst")
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in (ROOT / "nst").rglob("*.py")}
    graph = {}
    for name, path in paths.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        graph[name] = nst_imports(path.read_text(encoding="utf-8"), package) & set(paths) - {name}
    return graph


def layer_of(module: str) -> int:
    parts = module.split(".")
    return LAYERS.index(parts[1]) if len(parts) > 1 else -1


def climbing(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if module != "nst" and layer_of(target) > layer_of(module)
    ]


def cycles(graph: dict[str, set[str]]) -> list[str]:
    found, done = [], set()

    def visit(module, path):
        if module in path:
            found.append(" -> ".join([*path[path.index(module) :], module]))
        elif module not in done:
            for target in sorted(graph.get(module, ())):
                visit(target, [*path, module])
            done.add(module)

    for module in sorted(graph):
        visit(module, [])
    return found


def test_every_module_lives_in_a_layer_package():
    assert [p.name for p in (ROOT / "nst").glob("*.py") if p.name != "__init__.py"] == []
    packages = sorted(p.parent.name for p in (ROOT / "nst").glob("*/__init__.py"))
    assert packages == sorted(LAYERS)
    for number, name in enumerate(LAYERS, start=1):
        init = (ROOT / "nst" / name / "__init__.py").read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(init))
        assert doc and doc.startswith(f"Layer {number}, "), f"nst/{name}/__init__.py"


def test_no_import_climbs_up_a_layer_and_none_is_circular():
    graph = import_graph()
    assert len(graph) > 50
    assert climbing(graph) == []
    assert cycles(graph) == []


def test_the_layer_and_cycle_checks_see_what_they_look_for():
    imports = nst_imports("from nst.web import server\nfrom . import losses\n", "nst.core")
    assert imports == {"nst.web", "nst.web.server", "nst.core", "nst.core.losses"}
    assert climbing({"nst.core.optimize": {"nst.web.server"}}) == [
        "nst.core.optimize -> nst.web.server"
    ]
    assert climbing({"nst.web.server": {"nst.core.optimize"}}) == []
    assert cycles({"nst.a.x": {"nst.a.y"}, "nst.a.y": {"nst.a.x"}}) == [
        "nst.a.x -> nst.a.y -> nst.a.x"
    ]
