"""The stage packages form a ladder: a module imports (eagerly or lazily) only its own floor and
the floors below it, so each stage can be read and tested without the ones above."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "src" / "codec2vec"
# ground floor (0): atomic, config, errors, hub, integrity, memory, provenance, ranks
FLOORS = {"data": 1, "codecs": 2, "units": 3, "models": 4, "objectives": 4, "clustering": 5, "train": 5, "eval": 6,
          "describe": 7, "verify": 7, "demo": 7, "s3prl": 7, "cli": 8, "__init__": 8}


def _floor(module: str) -> int:
    parts = module.split(".")
    return FLOORS.get(parts[1], 0) if len(parts) > 1 else FLOORS["__init__"]


def test_no_module_imports_a_floor_above_its_own():
    upward = []
    for path in ROOT.rglob("*.py"):
        module = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = ([node.module] if isinstance(node, ast.ImportFrom) and node.module
                       else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for target in targets:
                if target.startswith("codec2vec.") and _floor(target) > _floor(module):
                    upward.append(f"{module} (floor {_floor(module)}) imports {target} (floor {_floor(target)})")
    assert upward == []
