"""The package root is the public API: every name in `cardano_market.__all__` resolves (lazily,
PEP 562) to the object its module defines, and importing `cardano_market` loads none of them."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import cardano_market

ROOT_SOURCE = Path(cardano_market.__file__)
HEAVY = (
    "cbor2",
    "cryptography",
    "fastapi",
    "httpx",
    "nacl",
    "pycardano",
    "pydantic",
    "rich",
    "sqlalchemy",
    "typer",
    "uplc",
)


def type_checking_imports() -> dict[str, str]:
    """Name -> module, as the root's `if TYPE_CHECKING:` block imports them."""
    tree = ast.parse(ROOT_SOURCE.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom) and statement.module
                for alias in statement.names:
                    found[alias.asname or alias.name] = statement.module
    return found


def test_all_lists_exactly_the_lazy_names_and_the_type_checking_imports_agree() -> None:
    exports = cardano_market._EXPORTS
    assert sorted(cardano_market.__all__) == cardano_market.__all__, "keep __all__ sorted"
    assert set(cardano_market.__all__) == set(exports)
    assert type_checking_imports() == exports, (
        "the TYPE_CHECKING imports and _EXPORTS name different modules: update both"
    )


@pytest.mark.parametrize("name", cardano_market.__all__)
def test_every_public_name_resolves_to_its_module_object(name: str) -> None:
    module_name = cardano_market._EXPORTS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:  # a module moved: the mapping is stale
        pytest.fail(f"cardano_market.{name}: {module_name} is gone ({error}); update _EXPORTS")
    assert hasattr(module, name), (
        f"cardano_market.{name}: {module_name} has no {name}; update _EXPORTS"
    )
    assert getattr(cardano_market, name) is getattr(module, name)
    assert name in dir(cardano_market)


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'not_a_public_name'"):
        cardano_market.not_a_public_name  # noqa: B018


def test_importing_the_root_loads_nothing_else() -> None:
    code = (
        "import json, sys\n"
        "before = set(sys.modules)\n"
        "import cardano_market\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = json.loads(done.stdout)
    ours = [name for name in loaded if name.startswith("cardano_market.")]
    heavy = [name for name in loaded if name.split(".")[0] in HEAVY]
    assert not ours and not heavy, loaded


def test_the_readme_library_snippet_imports_only_from_the_root() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    start = readme.index("## The library")
    found = re.search(r"```python\n(.*?)```", readme[start:], re.S)
    assert found
    tree = ast.parse(found.group(1))
    modules = {
        node.module if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert modules == {"cardano_market"}
    names = {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert names <= set(cardano_market.__all__)
