"""The one hard rule: ``domain`` imports only the standard library, eventsourcing and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

DOMAIN = Path(__file__).resolve().parents[2] / "domain"
ALLOWED = set(sys.stdlib_module_names) | {"eventsourcing", "domain", "__future__"}


def imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_imports_nothing_but_stdlib_and_eventsourcing() -> None:
    files = sorted(DOMAIN.rglob("*.py"))
    assert files, "domain/ has no modules?"
    offenders = {str(f.relative_to(DOMAIN)): sorted(imported_roots(f) - ALLOWED) for f in files}
    assert {name: bad for name, bad in offenders.items() if bad} == {}


def test_the_check_catches_a_framework_import(tmp_path: Path) -> None:
    module = tmp_path / "bad.py"
    module.write_text("from django.db import models\nimport PIL.Image\n")
    assert imported_roots(module) - ALLOWED == {"django", "PIL"}
