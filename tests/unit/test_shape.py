"""The shape limits of ``src/dynopypi`` (issue 19), read from the source with ``ast``: a
module of at most 300 lines, a function of at most 60, a class of at most 250; at most 12
modules in a package and 10 directly under ``src/dynopypi``. A failure names everything
that is over, so that a split can aim at a seam rather than at a number."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "dynopypi"
MODULE_LINES = 300
FUNCTION_LINES = 60
CLASS_LINES = 250
PACKAGE_MODULES = 12
TOP_MODULES = 10


def too_long(root: Path) -> list[str]:
    """Every module, function (methods and nested ones too) and class over its limit."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        name = path.relative_to(root.parent).as_posix()
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > MODULE_LINES:
            found.append(f"{name}: {lines} lines (module limit {MODULE_LINES})")
        found += [f"{name}: {what}" for what in _long_definitions(ast.parse(text), "")]
    return found


def _long_definitions(node: ast.AST, prefix: str) -> list[str]:
    found: list[str] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            kind, limit = (
                ("class", CLASS_LINES)
                if isinstance(child, ast.ClassDef)
                else ("function", FUNCTION_LINES)
            )
            qualified = f"{prefix}{child.name}"
            size = (child.end_lineno or child.lineno) - child.lineno + 1
            if size > limit:
                found.append(f"{kind} {qualified}: {size} lines ({kind} limit {limit})")
            found += _long_definitions(child, f"{qualified}.")
        else:
            found += _long_definitions(child, prefix)
    return found


def too_many(root: Path) -> list[str]:
    """Every package with more modules (``__init__`` aside) than its limit: the top
    package ``TOP_MODULES``, the others ``PACKAGE_MODULES``."""
    found: list[str] = []
    packages = sorted(init.parent for init in root.rglob("__init__.py"))
    for package in packages:
        modules = [p for p in package.glob("*.py") if p.name != "__init__.py"]
        limit = TOP_MODULES if package == root else PACKAGE_MODULES
        if len(modules) > limit:
            name = package.relative_to(root.parent).as_posix()
            found.append(f"{name}: {len(modules)} modules (limit {limit})")
    return found


def test_modules_functions_and_classes_keep_their_limits() -> None:
    assert (SRC / "__init__.py").is_file(), f"no package at {SRC}: the check would see nothing"
    over = too_long(SRC)
    assert not over, "over the shape limits (split along a seam):\n" + "\n".join(over)


def test_packages_keep_their_number_of_modules() -> None:
    over = too_many(SRC)
    assert not over, "packages with too many modules:\n" + "\n".join(over)


def test_every_limit_is_checked(tmp_path: Path) -> None:
    """The checks find what is over, and only that: a tree made to break each limit once,
    and to meet each exactly elsewhere, is reported line by line."""
    root = tmp_path / "pkg"
    files: dict[str, str] = {f"top{n}.py": "" for n in range(TOP_MODULES + 1)}
    files |= {f"full/m{n}.py": "" for n in range(PACKAGE_MODULES)}
    files |= {f"over/m{n}.py": "" for n in range(PACKAGE_MODULES + 1)}

    def function(name: str, lines: int, indent: str = "") -> str:
        return f"{indent}def {name}() -> None:\n" + f"{indent}    pass\n" * (lines - 1)

    def klass(name: str, lines: int, method: int) -> str:
        body = "    pass\n" * (lines - 1 - method)
        return f"class {name}:\n" + function("method", method, "    ") + body

    files["sizes/fits.py"] = "x = 1\n" * MODULE_LINES
    files["sizes/long.py"] = "x = 1\n" * (MODULE_LINES + 1)
    files["sizes/functions.py"] = function("fits", FUNCTION_LINES) + function(
        "too_long", FUNCTION_LINES + 1
    )
    files["sizes/big.py"] = klass("Big", CLASS_LINES + 1, FUNCTION_LINES + 1)
    files["sizes/fitting.py"] = klass("Fits", CLASS_LINES, FUNCTION_LINES)
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    for package in (root, root / "full", root / "over", root / "sizes"):
        (package / "__init__.py").write_text("")

    assert too_many(root) == [
        f"pkg: {TOP_MODULES + 1} modules (limit {TOP_MODULES})",
        f"pkg/over: {PACKAGE_MODULES + 1} modules (limit {PACKAGE_MODULES})",
    ]
    assert too_long(root) == [
        f"pkg/sizes/big.py: class Big: {CLASS_LINES + 1} lines (class limit {CLASS_LINES})",
        f"pkg/sizes/big.py: function Big.method: {FUNCTION_LINES + 1} lines "
        f"(function limit {FUNCTION_LINES})",
        f"pkg/sizes/functions.py: function too_long: {FUNCTION_LINES + 1} lines "
        f"(function limit {FUNCTION_LINES})",
        f"pkg/sizes/long.py: {MODULE_LINES + 1} lines (module limit {MODULE_LINES})",
    ]
