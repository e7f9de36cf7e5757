"""The import graph of `cardano_market` keeps the layers of docs/DESIGN.md: read with `ast`, no
module is imported.

Three rules, each failing with the full list of offending imports:
- a module imports only from its own layer or lower ones (every import counts: module-level, inside
  functions, under `if TYPE_CHECKING:`, and `importlib.import_module` of a literal name);
- the peers `worker` and `service` never import each other;
- no cycle between modules. Here only module-level imports count: an import inside a function
  runs when the function is called, not when the module is imported, and is the way to break an
  import-time cycle. Imports under `if TYPE_CHECKING:` do count (two modules that name each other's
  types know each other); the report marks them, since moving the shared type down a layer or
  into its own module is the fix, not a function-local import.

Every top-level package or module must be placed in `LAYERS`, so a new package cannot slip in
unplaced. A `_`-prefixed root module (a private helper) belongs where its importers are: its layer
is the lowest of theirs, and it must itself import nothing above that.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "cardano_market"
SRC = Path(__file__).resolve().parents[1] / "src" / PACKAGE

# Low to high; a module may import only from its own layer or lower ones.
LAYERS: dict[str, int] = {
    "domain": 0,
    "synthetic": 0,
    "contracts": 1,
    "ledger": 2,
    "chain": 3,
    "tx": 4,
    "store": 5,
    "security": 6,
    "app": 7,
    "config": 8,
    "worker": 9,
    "service": 9,
    "runtime": 10,
    "cli": 11,
    "demo": 11,
    "scenario": 11,
    "devtools": 11,
    "": 11,  # the package root, `cardano_market/__init__.py`: the lazy public API
}
PEERS = frozenset({"worker", "service"})


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (a module, or the package whose name was imported from)
    line: int
    module_level: bool
    type_only: bool = False  # under `if TYPE_CHECKING:`

    def where(self) -> str:
        path = SRC.parent / (self.importer.replace(".", "/"))
        path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        return f"{path.relative_to(SRC.parent)}:{self.line}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(SRC.rglob("*.py"))}


def top_level(module: str) -> str:
    """`cardano_market.chain.devnet.ledger` -> `chain`; the package root -> ``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _walk(nodes: list[ast.stmt]) -> Iterator[tuple[ast.AST, bool, bool]]:
    """Every node under `nodes`, with whether it runs when the module is imported (not inside a
    function body) and whether it sits under `if TYPE_CHECKING:`."""
    for node in nodes:
        yield from _walk_node(node, True, False)


def _walk_node(
    node: ast.AST, module_level: bool, type_only: bool
) -> Iterator[tuple[ast.AST, bool, bool]]:
    yield node, module_level, type_only
    inner = module_level and not isinstance(
        node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda
    )
    guarded = node.body if isinstance(node, ast.If) and _is_type_checking(node.test) else []
    for child in ast.iter_child_nodes(node):
        in_body = any(child is statement for statement in guarded)
        yield from _walk_node(child, inner, type_only or in_body)


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _dynamic_import(node: ast.Call, package: str) -> str | None:
    """`importlib.import_module("a.b")` or `import_module(f"{__package__}.b")`: the name, when
    literal."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
    if name != "import_module" or not node.args:
        return None
    arg = node.args[0]
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return arg.value
    if isinstance(arg, ast.JoinedStr) and arg.values:
        text = ""
        for part in arg.values:
            if isinstance(part, ast.Constant) and isinstance(part.value, str):
                text += part.value
            elif (
                isinstance(part, ast.FormattedValue)
                and isinstance(part.value, ast.Name)
                and part.value.id == "__package__"
            ):
                text += package
            else:
                return None
        return text
    return None


def imports_of(module: str, path: Path, known: dict[str, Path]) -> list[Import]:
    """The `cardano_market` modules `module` imports, relative imports resolved."""
    tree = ast.parse(path.read_text(), str(path))
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: list[Import] = []

    def target(name: str, line: int, level: bool, type_only: bool) -> None:
        if name == PACKAGE or name.startswith(PACKAGE + "."):
            found.append(Import(module, name, line, level, type_only))

    for node, level, type_only in _walk(tree.body):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target(alias.name, node.lineno, level, type_only)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            for alias in node.names:
                submodule = f"{origin}.{alias.name}"
                target(submodule if submodule in known else origin, node.lineno, level, type_only)
        elif isinstance(node, ast.Call):
            name = _dynamic_import(node, package)
            if name is not None:
                target(name, node.lineno, level, type_only)
    return found


def resolve(name: str, known: dict[str, Path]) -> str:
    """The longest known module that `name` names (an attribute path falls back to its module)."""
    while name not in known and "." in name:
        name = name.rpartition(".")[0]
    return name


def import_graph() -> tuple[dict[str, Path], list[Import]]:
    known = source_modules()
    edges: list[Import] = []
    for module, path in known.items():
        for found in imports_of(module, path, known):
            edges.append(
                Import(
                    found.importer,
                    resolve(found.imported, known),
                    found.line,
                    found.module_level,
                    found.type_only,
                )
            )
    unique = {edge for edge in edges if edge.imported != edge.importer}
    return known, sorted(unique, key=lambda e: (e.importer, e.line, e.imported))


def layer_of(known: dict[str, Path], edges: list[Import]) -> tuple[dict[str, int], list[str]]:
    """Each module's layer, and the top-level names `LAYERS` does not place."""
    layers: dict[str, int] = {}
    unplaced: list[str] = []
    for module in known:
        top = top_level(module)
        if top in LAYERS:
            layers[module] = LAYERS[top]
        elif not top.startswith("_"):
            unplaced.append(top)
    for module in known:
        top = top_level(module)
        if top in LAYERS or not top.startswith("_"):
            continue
        importers = [
            layers[edge.importer]
            for edge in edges
            if edge.imported == module and edge.importer in layers
        ]
        if importers:
            layers[module] = min(importers)
        else:
            unplaced.append(f"{top} (a private module nobody imports)")
    return layers, sorted(set(unplaced))


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


def violations(known: dict[str, Path], edges: list[Import]) -> list[str]:
    layers, unplaced = layer_of(known, edges)
    found = [f"top-level `{PACKAGE}.{name}` has no layer in LAYERS" for name in unplaced]
    for edge in edges:
        if edge.importer not in layers or edge.imported not in layers:
            continue
        mine, theirs = layers[edge.importer], layers[edge.imported]
        a, b = top_level(edge.importer), top_level(edge.imported)
        if theirs > mine:
            found.append(
                f"{edge.where()}: {edge.importer} (layer {mine}) imports {edge.imported} "
                f"(layer {theirs}, higher)"
            )
        elif a in PEERS and b in PEERS and a != b:
            found.append(f"{edge.where()}: {edge.importer} imports its peer {edge.imported}")
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.module_level:
            graph.setdefault(edge.importer, set()).add(edge.imported)
    for component in strongly_connected(sorted(known), graph):
        members = set(component)
        arrows = sorted(
            f"{edge.where()} -> {edge.imported}"
            + (" (under TYPE_CHECKING)" if edge.type_only else "")
            for edge in edges
            if edge.module_level and edge.importer in members and edge.imported in members
        )
        found.append("import cycle: " + " <-> ".join(component) + "\n    " + "\n    ".join(arrows))
    return found


def test_the_graph_is_read() -> None:
    """The reader sees the arrows it must: a guard against passing by reading nothing."""
    known, edges = import_graph()
    assert len(known) > 100
    pairs = {(edge.importer, edge.imported) for edge in edges}
    assert any(importer == "cardano_market.cli" for importer, _ in pairs)
    assert ("cardano_market.tx.order", "cardano_market.domain.values") in pairs
    assert any(importer.startswith("cardano_market.tx.") for importer, _ in pairs)
    assert any(not edge.module_level for edge in edges)  # function-local imports are read


def test_imports_point_down_the_layers_and_never_round_in_a_cycle() -> None:
    found = violations(*import_graph())
    assert not found, f"{len(found)} import-graph violation(s):\n" + "\n".join(found)


def test_the_checker_catches_each_kind_of_violation(tmp_path: Path) -> None:
    """The rules on a made-up graph: upward, peer, cycle, the function-local exemption."""
    known = {
        f"{PACKAGE}.domain.a": tmp_path,
        f"{PACKAGE}.domain.b": tmp_path,
        f"{PACKAGE}.domain.c": tmp_path,
        f"{PACKAGE}.worker.w": tmp_path,
        f"{PACKAGE}.service.s": tmp_path,
        f"{PACKAGE}._private": tmp_path,
    }
    edges = [
        Import(f"{PACKAGE}.domain.a", f"{PACKAGE}.domain.b", 1, True),
        Import(f"{PACKAGE}.domain.b", f"{PACKAGE}.domain.a", 1, True),
        Import(f"{PACKAGE}.domain.b", f"{PACKAGE}.domain.c", 2, True),
        Import(f"{PACKAGE}.domain.c", f"{PACKAGE}.domain.b", 2, False),
        Import(f"{PACKAGE}.worker.w", f"{PACKAGE}.service.s", 1, False),
        Import(f"{PACKAGE}.worker.w", f"{PACKAGE}._private", 2, True),
        Import(f"{PACKAGE}.service.s", f"{PACKAGE}._private", 2, True),
    ]
    edges.append(Import(f"{PACKAGE}.domain.c", f"{PACKAGE}.worker.w", 3, False))
    layers, unplaced = layer_of(known, edges)
    assert layers[f"{PACKAGE}._private"] == 9 and not unplaced
    found = violations(known, edges)
    assert len(found) == 3, found
    assert any(
        "domain.c (layer 0) imports cardano_market.worker.w (layer 9, higher)" in v for v in found
    )
    assert any("worker.w imports its peer cardano_market.service.s" in v for v in found)
    assert found[-1].startswith(f"import cycle: {PACKAGE}.domain.a <-> {PACKAGE}.domain.b\n")
    _, unplaced = layer_of({f"{PACKAGE}.newthing.x": tmp_path}, [])
    assert unplaced == ["newthing"]


def test_relative_and_local_imports_are_resolved(tmp_path: Path) -> None:
    source = tmp_path / "mod.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..domain.values import Value\n"
        "if TYPE_CHECKING:\n"
        "    from ..config import Settings\n"
        "def f():\n"
        "    from .. import store\n"
        "    importlib.import_module(f'{__package__}.deals')\n"
    )
    known = {
        f"{PACKAGE}.app.sibling": source,
        f"{PACKAGE}.domain.values": source,
        f"{PACKAGE}.store": source,
    }
    found = imports_of(f"{PACKAGE}.app.mod", source, known)
    assert [(i.imported, i.module_level, i.type_only) for i in found] == [
        (f"{PACKAGE}.app.sibling", True, False),
        (f"{PACKAGE}.domain.values", True, False),
        (f"{PACKAGE}.config", True, True),
        (f"{PACKAGE}.store", False, False),
        (f"{PACKAGE}.app.deals", False, False),
    ]
