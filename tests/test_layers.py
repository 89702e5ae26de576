"""The architecture's floors, enforced over the import graph (see DESIGN.md, "The layout").

Inside ``ctx_core`` every module imports only its own floor or the floors below it;
so nothing imports ``cli`` and the features never import ``eval``, ``demo`` or ``cli``. The
adapters import ``ctx_core`` and their own framework, never each other. No two modules
import each other, directly or round a longer circle. Imports under ``if TYPE_CHECKING:``
are not imports at run time and are left out; imports inside functions count.
"""

from __future__ import annotations

import ast
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Floors from the top down; a module may import its own floor and any floor below it.
FLOORS: tuple[frozenset[str], ...] = (
    frozenset({"cli"}),
    frozenset({"eval", "demo", "batch"}),
    frozenset({"udcg", "incontext", "structure", "memory", "context"}),
    frozenset({"rerank", "scoring", "__init__"}),
    frozenset({"llm", "models", "onnx_backend", "tokens", "embeddings", "chunking"}),
    frozenset({"types", "errors", "progress", "_registry", "_retry"}),
)
#: Third-party packages each adapter may import besides ctx_core and the standard library.
FRAMEWORKS = {"langchain_ctx": ("langchain", "langchain_core"), "llamaindex_ctx": ("llama_index",)}


@dataclass(frozen=True)
class Import:
    """One import statement: which module imports what, and where."""

    module: str
    target: str
    line: int


def module_name(path: Path, source_root: Path) -> str:
    """``core/ctx_core/udcg/reranker.py`` -> ``ctx_core.udcg.reranker``."""
    parts = list(path.relative_to(source_root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported(node: ast.AST, package: str) -> Iterator[tuple[str, int]]:
    if isinstance(node, ast.Import):
        for alias in node.names:
            yield alias.name, node.lineno
    elif isinstance(node, ast.ImportFrom):
        if node.level:  # relative: resolve against the importing package
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            stem = f"{base}.{node.module}" if node.module else base
        else:
            stem = node.module or ""
        for alias in node.names:
            # `from pkg import sub` may name a submodule: record the deeper name.
            yield f"{stem}.{alias.name}", node.lineno


def imports_of(path: Path, source_root: Path) -> list[Import]:
    """The run-time imports of one file (``TYPE_CHECKING`` blocks left out)."""
    name = module_name(path, source_root)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _type_checking_only(node):
            for child in node.orelse:
                visit(child)
            return
        for target, line in _imported(node, package):
            found.append(Import(name, target, line))
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def floor_of(module: str) -> int | None:
    """The floor index of a ``ctx_core`` module (0 is the top), ``None`` if it has none."""
    parts = module.split(".")
    key = parts[1] if len(parts) > 1 else "__init__"
    for index, floor in enumerate(FLOORS):
        if key in floor:
            return index
    return None


def _known_modules(source_root: Path, package: str) -> set[str]:
    return {module_name(p, source_root) for p in (source_root / package).rglob("*.py")}


def _resolve(target: str, known: set[str]) -> str | None:
    """The deepest known module ``target`` names (``a.b.Name`` -> ``a.b``)."""
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def layer_violations(source_root: Path, package: str = "ctx_core") -> list[str]:
    """Every import in ``package`` that runs up a floor, or from a module on no floor."""
    problems = []
    known = _known_modules(source_root, package)
    for path in sorted((source_root / package).rglob("*.py")):
        for item in imports_of(path, source_root):
            target = _resolve(item.target, known)
            if target is None or target == item.module:
                continue
            here, there = floor_of(item.module), floor_of(target)
            where = f"{path.relative_to(source_root)}:{item.line}"
            if here is None:
                problems.append(f"{where}: {item.module} is on no floor of FLOORS")
            elif there is None:
                problems.append(f"{where}: imports {target}, which is on no floor")
            elif there < here:
                problems.append(f"{where}: {item.module} imports {target}, a floor above it")
    return list(dict.fromkeys(problems))


def import_cycles(source_root: Path, package: str) -> list[list[str]]:
    """Circles in the module import graph of ``package`` (each listed once)."""
    known = _known_modules(source_root, package)
    graph: dict[str, set[str]] = {m: set() for m in known}
    for path in (source_root / package).rglob("*.py"):
        for item in imports_of(path, source_root):
            target = _resolve(item.target, known)
            # A package's __init__ re-exporting its own modules is not a circle of design.
            if target and target != item.module and not target.startswith(item.module + "."):
                graph[item.module].add(target)
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            walk(node)
    return cycles


def adapter_violations(source_root: Path, package: str) -> list[str]:
    """Imports of one adapter package that reach another adapter or another framework."""
    allowed = ("ctx_core", package, *FRAMEWORKS[package])
    others = [f for name, fs in FRAMEWORKS.items() if name != package for f in (name, *fs)]
    problems = []
    for path in sorted((source_root / package).rglob("*.py")):
        for item in imports_of(path, source_root):
            top = item.target.split(".")[0]
            if top in others and top not in allowed:
                problems.append(
                    f"{path.relative_to(source_root)}:{item.line}: imports {item.target}"
                )
    return problems


def test_core_modules_import_only_their_floor_and_below() -> None:
    assert layer_violations(ROOT / "core") == []


def test_no_import_circles() -> None:
    for source_root, package in [
        (ROOT / "core", "ctx_core"),
        (ROOT / "packages", "langchain_ctx"),
        (ROOT / "packages", "llamaindex_ctx"),
    ]:
        assert import_cycles(source_root, package) == [], package


@pytest.mark.parametrize("package", sorted(FRAMEWORKS))
def test_adapters_import_core_and_their_own_framework_only(package: str) -> None:
    assert adapter_violations(ROOT / "packages", package) == []


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def test_a_forbidden_import_is_reported(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "ctx_core/__init__.py": "",
            "ctx_core/types.py": "",
            "ctx_core/eval/__init__.py": "from ctx_core.types import *\n",
            "ctx_core/udcg/__init__.py": "",
            "ctx_core/udcg/reranker.py": """\
                from typing import TYPE_CHECKING
                from ctx_core.types import Passage
                if TYPE_CHECKING:
                    from ctx_core.cli import main  # type-only: allowed
                def run():
                    from ctx_core.eval import metrics  # up a floor, even when lazy
            """,
            "ctx_core/cli/__init__.py": "",
            "ctx_core/newthing.py": "import ctx_core.types\n",
        },
    )
    problems = layer_violations(root)
    assert any("udcg/reranker.py:6" in p and "ctx_core.eval" in p for p in problems)
    assert any("newthing" in p and "no floor" in p for p in problems)
    assert not any("ctx_core.cli" in p for p in problems)
    assert len(problems) == 2


def test_a_circle_is_reported(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import x\n",
            "pkg/a.py": "from pkg.b import y\nx = 1\n",
            "pkg/b.py": "def f():\n    from pkg import a\ny = 2\n",
        },
    )
    assert import_cycles(root, "pkg") == [["pkg.a", "pkg.b", "pkg.a"]]


def test_an_adapter_importing_the_other_framework_is_reported(tmp_path: Path) -> None:
    root = _write(
        tmp_path,
        {
            "langchain_ctx/__init__.py": "import langchain_core\nfrom ctx_core import Passage\n",
            "langchain_ctx/bad.py": "from llama_index.core.schema import TextNode\n",
        },
    )
    assert adapter_violations(root, "langchain_ctx") == [
        "langchain_ctx/bad.py:1: imports llama_index.core.schema.TextNode"
    ]
