"""Architecture rule (architecture.md): no two modules import each other. A package and its own
submodules are exempt (a package re-exports what its submodules define, and they use its helpers)."""

from __future__ import annotations

import ast
from pathlib import Path

import llmtrace

ROOT = Path(llmtrace.__file__).parent


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = ("llmtrace",) + path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def _imports(name: str, path: Path, known: dict) -> set[str]:
    """Every llmtrace module ``path`` imports, at the top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name in known)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in known else base)
    found.discard(name)
    return found & set(known)


def _related(a: str, b: str) -> bool:
    return a.startswith(b + ".") or b.startswith(a + ".")


def test_no_two_modules_import_each_other():
    known = _modules()
    edges = {name: _imports(name, path, known) for name, path in known.items()}
    pairs = sorted({tuple(sorted((a, b))) for a, targets in edges.items() for b in targets
                    if a in edges.get(b, ()) and not _related(a, b)})
    assert pairs == []


def test_the_scan_sees_a_cycle(tmp_path):
    """The scan itself is not blind: the edges it finds include a known one-way import."""
    known = _modules()
    chunk_reads = _imports("llmtrace.containers.chunk_reads", known["llmtrace.containers.chunk_reads"], known)
    assert "llmtrace.containers.recorded" in chunk_reads
    assert "llmtrace.containers.chunk_reads" in _imports("llmtrace.containers.har", known["llmtrace.containers.har"], known)
