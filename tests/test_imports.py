"""No import circle in bot/: counting imports inside functions and under TYPE_CHECKING too, since a circle
hidden there is still two modules that each need the other (docs/architecture.md, "Layers")."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imports() -> dict[str, set[str]]:
    modules = {}
    for path in (ROOT / "bot").rglob("*.py"):
        name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        modules[name] = path
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while (w := stack.pop()) != v:
                group.append(w)
            if group:
                found.append(sorted([v, *group]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_of_bot_imports_one_that_imports_it_back():
    assert circles(imports()) == []


def test_the_check_finds_a_circle():
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


MODULE_LINES, CLASS_LINES = 400, 250  # docs/architecture.md, "Layers": a room a newcomer reads at one sitting


def oversized(root: Path = ROOT / "bot") -> list[str]:
    """Each module of `root` over MODULE_LINES lines and each class over CLASS_LINES, named with its size."""
    found = []
    for path in sorted(root.rglob("*.py")):
        text, where = path.read_text(), path.relative_to(root.parent)
        if (lines := len(text.splitlines())) > MODULE_LINES:
            found.append(f"{where}: {lines} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and (size := node.end_lineno - node.lineno + 1) > CLASS_LINES:
                found.append(f"{where}: class {node.name}, {size} lines")
    return found


def test_no_module_of_bot_is_over_400_lines_nor_a_class_over_250():
    assert oversized() == []


def test_the_size_check_names_what_is_too_big(tmp_path):
    (tmp_path / "big.py").write_text("class Big:\n" + "    x = 1\n" * CLASS_LINES + "\n" * (MODULE_LINES - CLASS_LINES))
    (tmp_path / "small.py").write_text("class Small:\n    x = 1\n")
    big = f"{tmp_path.name}/big.py"
    assert oversized(tmp_path) == [f"{big}: {MODULE_LINES + 1} lines", f"{big}: class Big, {CLASS_LINES + 1} lines"]
