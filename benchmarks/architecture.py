"""Size of lumastyle's biggest classes and of its option surface, for a tree (this one by default).

    python benchmarks/architecture.py [--root DIR] [--top 8]

Prints, per class, its lines and methods (read with ``ast``, nothing imported), the number of
``model:`` options (the LightningModule's constructor arguments) and of getattr/hasattr calls in
lumastyle/ (duck typing). Run it on an older checkout with ``--root`` to compare (benchmarks/README.md).
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path


def classes(root: Path) -> list[tuple[int, int, str]]:
    """(lines, methods, module:Class) of every class under ``root/lumastyle``."""
    found = []
    for path in sorted((root / "lumastyle").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) for n in node.body)
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                found.append((lines, methods, f"{path.relative_to(root)}:{node.name}"))
    return sorted(found, reverse=True)


def model_options(root: Path) -> tuple[int, int]:
    """(current, deprecated) constructor arguments of the LightningModule (``model:`` in a config); the
    deprecated ones are the flat names ``lumastyle/options.py`` lists, and ``tile_pixels``."""
    deprecated: set[str] = set()
    options = root / "lumastyle" / "options.py"
    if options.is_file():
        for node in ast.walk(ast.parse(options.read_text())):
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "FLAT_NAMES":
                deprecated = {k.value for k in node.value.keys if isinstance(k, ast.Constant)}  # type: ignore[union-attr]
        deprecated.add("tile_pixels")
    tree = ast.parse((root / "lumastyle" / "model.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name == "LumaStyle":
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name == "__init__":
                    names = [a.arg for a in item.args.args[1:] + item.args.kwonlyargs]
                    return len([n for n in names if n not in deprecated]), len([n for n in names if n in deprecated])
    return 0, 0


def duck_typing(root: Path) -> int:
    """Calls of getattr/hasattr in lumastyle/."""
    count = 0
    for path in (root / "lumastyle").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                count += node.func.id in ("getattr", "hasattr")
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--top", type=int, default=8)
    args = parser.parse_args()
    print("| class | lines | methods |\n|---|---|---|")
    for lines, methods, name in classes(args.root)[: args.top]:
        print(f"| `{name}` | {lines} | {methods} |")
    current, deprecated = model_options(args.root)
    print(f"\nmodel options: {current} (+ {deprecated} deprecated names still read); "
          f"getattr/hasattr calls in lumastyle/: {duck_typing(args.root)}")


if __name__ == "__main__":
    main()
