"""docs/compatibility.md names the test behind every "tested" row: each name must be a real test."""

import ast
import re
from pathlib import Path

HERE = Path(__file__).parent
DOC = HERE.parents[1] / "docs" / "compatibility.md"


def test_every_test_the_matrix_names_exists():
    tests = set()
    for path in HERE.glob("test_*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
                tests.add(f"{path.name}::{node.name}")
    doc = DOC.read_text()
    named = set(re.findall(r"`(test_\w+\.py::\w+)`", doc))
    assert len(named) > 50
    assert sorted(named - tests) == []
    # A "yes" row names at least one test; a "no" row names none.
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and cells[1] in ("yes", "no"):
            assert (cells[1] == "yes") == bool(re.search(r"test_\w+\.py::\w+", cells[2])), line
