"""The import rules of the design's layout table, read from the source with `ast`.

| package      | may import of ours         |
|--------------|----------------------------|
| routing/     | nothing (and stays pure)   |
| calllog/     | nothing                    |
| ivr/         | routing, calllog           |
| dialplan/    | routing                    |
| reports/     | calllog, routing           |
| migrations/  | calllog                    |
| console/     | calllog, routing, reports  |
| zalo/        | calllog, routing           |
| hotline/     | all; nothing imports it    |
| tests/, benchmarks/ | all                 |
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OURS = {
    "routing", "ivr", "calllog", "dialplan", "hotline", "migrations", "console", "reports",
    "zalo", "tests", "benchmarks",
}
# What would make routing/ impure: event loops, network, database, logging plumbing.
NOT_IN_ROUTING = {
    "asyncio", "httpx", "sqlalchemy", "websockets", "panoramisk", "structlog", "alembic",
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str

    @property
    def top(self) -> str:
        return self.module.split(".")[0]

    def __str__(self) -> str:
        return f"{self.path}:{self.line} imports {self.module}"


def imports_of(path: Path, root: Path = ROOT) -> list[Import]:
    """Every module `path` imports: import statements anywhere in the file (also under
    `if TYPE_CHECKING:` or inside functions), relative imports (resolved from the file's
    place under `root`) and `importlib.import_module("...")` / `__import__("...")` with a
    literal name."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(path, node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                module = _absolute(path, root, node.level, node.module)
                found.append(Import(path, node.lineno, module))
            elif node.module:
                found.append(Import(path, node.lineno, node.module))
        elif isinstance(node, ast.Call) and _dynamic_import(node):
            arg = node.args[0]
            assert isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            found.append(Import(path, node.lineno, arg.value))
    return found


def _absolute(path: Path, root: Path, level: int, module: str | None) -> str:
    package = list(path.relative_to(root).parent.parts)
    base = package[: len(package) - (level - 1)]
    return ".".join([*base, *([module] if module else [])])


def _dynamic_import(call: ast.Call) -> bool:
    func = call.func
    named = (isinstance(func, ast.Name) and func.id in ("__import__", "import_module")) or (
        isinstance(func, ast.Attribute) and func.attr == "import_module"
    )
    return (
        named
        and bool(call.args)
        and isinstance(call.args[0], ast.Constant)
        and isinstance(call.args[0].value, str)
    )


def sources(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def imports_in(package: str) -> list[Import]:
    return [imp for path in sources(package) for imp in imports_of(path)]


def ours_outside(package: str, allowed: set[str]) -> list[str]:
    """Imports of our packages by `package` that the table does not allow."""
    return [
        str(imp)
        for imp in imports_in(package)
        if imp.top in OURS and imp.top not in allowed | {package}
    ]


# --- the collector itself ------------------------------------------------------------


def test_collector_sees_every_form_of_import(tmp_path: Path) -> None:
    module = tmp_path / "routing" / "sub" / "sample.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from __future__ import annotations\n"
        "import os.path, json as j\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..parent import thing\n"
        "if TYPE_CHECKING:\n"
        "    from ivr.context import CallContext\n"
        "def later():\n"
        "    import importlib\n"
        "    importlib.import_module('hotline.cli')\n"
        "    __import__('sqlalchemy')\n",
        encoding="utf-8",
    )
    found = {imp.module for imp in imports_of(module, root=tmp_path)}
    assert found == {
        "__future__", "os.path", "json", "typing", "routing.sub", "routing.parent",
        "ivr.context", "importlib", "hotline.cli", "sqlalchemy",
    }


@pytest.mark.parametrize(
    "package", ["routing", "ivr", "calllog", "dialplan", "reports", "hotline", "console", "zalo"])
def test_every_package_has_sources_to_check(package: str) -> None:
    assert sources(package), f"no .py files under {package}/"


def test_collector_finds_the_imports_we_know_of() -> None:
    assert "routing.config" in {imp.module for imp in imports_in("ivr")}
    assert "calllog.model" in {imp.module for imp in imports_in("ivr")}
    assert "routing.config" in {imp.module for imp in imports_in("dialplan")}
    assert "calllog.model" in {imp.module for imp in imports_in("reports")}
    assert "reports" in {imp.top for imp in imports_in("hotline")}


# --- the rules ---------------------------------------------------------------------


def test_routing_imports_nothing_of_ours() -> None:
    assert ours_outside("routing", allowed=set()) == []


def test_routing_stays_pure() -> None:
    impure = [str(imp) for imp in imports_in("routing") if imp.top in NOT_IN_ROUTING]
    assert impure == []


def test_calllog_imports_nothing_of_ours() -> None:
    assert ours_outside("calllog", allowed=set()) == []


def test_ivr_imports_only_routing_and_calllog_of_ours() -> None:
    assert ours_outside("ivr", allowed={"routing", "calllog"}) == []


def test_dialplan_imports_only_routing_of_ours() -> None:
    assert ours_outside("dialplan", allowed={"routing"}) == []


def test_reports_import_only_calllog_and_routing_of_ours() -> None:
    assert ours_outside("reports", allowed={"calllog", "routing"}) == []


def test_migrations_import_only_calllog_of_ours() -> None:
    assert ours_outside("migrations", allowed={"calllog"}) == []


def test_console_imports_only_calllog_routing_and_reports_of_ours() -> None:
    assert ours_outside("console", allowed={"calllog", "routing", "reports"}) == []


def test_zalo_imports_only_calllog_and_routing_of_ours() -> None:
    assert ours_outside("zalo", allowed={"calllog", "routing"}) == []


def test_only_the_hotline_shell_imports_the_console() -> None:
    importers = [
        str(imp)
        for package in sorted(OURS - {"console", "hotline", "tests", "benchmarks"})
        if (ROOT / package).is_dir()
        for imp in imports_in(package)
        if imp.top == "console"
    ]
    assert importers == []


def test_no_part_imports_the_hotline_shell() -> None:
    # tests/ and benchmarks/ "may import all" in the layout table: they drive the shell.
    importers = [
        str(imp)
        for package in sorted(OURS - {"hotline", "tests", "benchmarks"})
        for imp in imports_in(package)
        if imp.top == "hotline"
    ]
    assert importers == []
