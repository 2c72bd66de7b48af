"""What the scan knows about an assignment, read from the instructor's source notebook."""
from __future__ import annotations

import ast
from typing import Iterable, Mapping

from ..notebooks import cell_source, nbgrader_meta
from .rules import _BUILTIN_NAMES, ScanContext

def _to_python(source: str) -> str:
    """Apply IPython's input transformation (magics, ``!``, ``?``) to a cell."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:  # pragma: no cover - IPython is a dev dependency
        return source
    try:
        return TransformerManager().transform_cell(source)
    except Exception:  # noqa: BLE001 - leave it to ast.parse to report
        return source


def _top_level_bindings(tree: ast.AST) -> tuple[set, set, dict]:
    """Names bound at module level: all of them, those bound by ``def``/``class``/``import``,
    and ``alias -> module`` for imports."""
    names: set = set()
    defined: set = set()
    aliases: dict = {}

    def targets(node):
        if isinstance(node, ast.Name):
            names.add(node.id)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for elt in node.elts:
                targets(elt)
        elif isinstance(node, ast.Starred):
            targets(node.value)

    def visit(stmts):
        for node in stmts:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
                defined.add(node.name)
            elif isinstance(node, ast.Import):
                for a in node.names:
                    alias = a.asname or a.name.split(".")[0]
                    names.add(alias)
                    defined.add(alias)
                    aliases[alias] = a.name if a.asname else a.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                for a in node.names:
                    alias = a.asname or a.name
                    names.add(alias)
                    defined.add(alias)
                    aliases[alias] = f"{node.module}.{a.name}" if node.module else a.name
            elif isinstance(node, ast.Assign):
                for t in node.targets:
                    targets(t)
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                targets(node.target)
            elif isinstance(node, (ast.For, ast.AsyncFor)):
                targets(node.target)
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.With, ast.AsyncWith)):
                for item in node.items:
                    if item.optional_vars is not None:
                        targets(item.optional_vars)
                visit(node.body)
            elif isinstance(node, (ast.If, ast.While)):
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                visit(node.body)
                for h in node.handlers:
                    if h.name:
                        names.add(h.name)
                    visit(h.body)
                visit(node.orelse)
                visit(node.finalbody)
            elif isinstance(node, ast.Expr):
                for sub in ast.walk(node):
                    if isinstance(sub, ast.NamedExpr):
                        targets(sub.target)

    visit(getattr(tree, "body", []))
    return names, defined, aliases


def _parse(source: str):
    try:
        return ast.parse(_to_python(source))
    except (SyntaxError, ValueError):
        return None


# --------------------------------------------------------------------------- context
def build_context(reference: Mapping, *, extra_allowed_imports: Iterable[str] = ()) -> ScanContext:
    """Build the scan context from the instructor's source notebook.

    Parameters
    ----------
    reference : dict-like notebook
        The nbgrader *source* notebook (with solutions), e.g. ``solutions/ps1/ps1.ipynb``.
    extra_allowed_imports : iterable of str
        More top-level modules to allow.

    Returns
    -------
    ScanContext
    """
    ctx = ScanContext()
    ctx.allowed_imports |= set(extra_allowed_imports)
    locked_names: set = set()
    solution_names: set = set()
    for cell in reference.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        tree = _parse(cell_source(cell))
        if tree is None:
            continue
        names, defined, aliases = _top_level_bindings(tree)
        nbg = nbgrader_meta(cell)
        if nbg.get("solution"):
            solution_names |= names
            for alias, module in aliases.items():
                ctx.allowed_imports.add(module.split(".")[0])
        else:
            # helpers and modules the tests rely on (plain variables are re-assigned by
            # the tests themselves, and students legitimately use names like ``X``)
            locked_names |= defined
            ctx.module_aliases |= set(aliases)
            ctx.alias_modules.update(aliases)
    ctx.protected_names = (set(_BUILTIN_NAMES) | locked_names) - solution_names
    return ctx
