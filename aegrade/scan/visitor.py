"""The AST visitor that applies the rules of :mod:`aegrade.scan.rules` to one cell."""
from __future__ import annotations

import ast
import re

from .context import _parse, _to_python
from .rules import (_IPYTHON_HISTORY, ALLOWED_DUNDER_ATTRIBUTES, ALLOWED_DUNDER_METHODS,
                    ALLOWED_LINE_MAGICS, DANGEROUS_ATTRIBUTES, DANGEROUS_MODULES, DANGEROUS_NAMES,
                    SUSPICIOUS_BASES, ScanContext)

# --------------------------------------------------------------------------- scanner
class _Visitor(ast.NodeVisitor):
    def __init__(self, ctx: ScanContext, aliases: set):
        self.ctx = ctx
        self.aliases = aliases
        self.hits: list[tuple[int, str, str]] = []
        self.depth = 0  # function nesting (module level = 0)
        self.class_depth = 0

    def hit(self, node: ast.AST, rule: str, message: str) -> None:
        self.hits.append((getattr(node, "lineno", 1), rule, message))

    # -- imports ------------------------------------------------------------------
    def _check_module(self, node, module: str | None) -> None:
        top = (module or "").split(".")[0]
        if not top:
            self.hit(node, "import", "relative import")
        elif top not in self.ctx.allowed_imports:
            self.hit(node, "import", f"import of module `{module}` is not allowed in a solution")

    def _check_import_alias(self, node, alias: str, module: str) -> None:
        if self.depth == 0 and alias in self.ctx.protected_names:
            expected = self.ctx.alias_modules.get(alias)
            if expected != module:
                self.hit(node, "shadowing",
                         f"rebinds `{alias}` (used by the tests) to `{module}`")

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            self._check_module(node, a.name)
            alias = a.asname or a.name.split(".")[0]
            module = a.name if a.asname else a.name.split(".")[0]
            self._check_import_alias(node, alias, module)
            self.aliases.add(alias)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.hit(node, "import", "relative import")
        self._check_module(node, node.module)
        for a in node.names:
            if a.name == "*":
                self.hit(node, "import", "`import *` can rebind names the tests use")
                continue
            if a.name in DANGEROUS_ATTRIBUTES or a.name.startswith("__"):
                self.hit(node, "import", f"imports `{a.name}`")
            alias = a.asname or a.name
            self._check_import_alias(node, alias, f"{node.module}.{a.name}")
            self.aliases.add(alias)

    # -- names and attributes ---------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        name = node.id
        if name in DANGEROUS_MODULES:
            self.hit(node, "name", f"uses module `{name}`")
        elif name in DANGEROUS_NAMES or _IPYTHON_HISTORY.match(name):
            self.hit(node, "name", f"uses `{name}`")
        elif name.startswith("__") and name.endswith("__") and name != "__name__":
            self.hit(node, "dunder", f"uses `{name}`")
        elif name == "_" and isinstance(node.ctx, ast.Load):
            self.hit(node, "name", "reads `_` (IPython output history)")
        if isinstance(node.ctx, (ast.Store, ast.Del)) and self.depth == 0 \
                and self.class_depth == 0 and name in self.ctx.protected_names:
            self.hit(node, "shadowing", f"rebinds `{name}` at module level (the tests use it)")

    def _root_name(self, node):
        root = node
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        return root.id if isinstance(root, ast.Name) else None

    def _is_module_alias(self, name) -> bool:
        return name is not None and (name in self.aliases or name in self.ctx.module_aliases)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        attr = node.attr
        if attr.startswith("__") and attr.endswith("__"):
            if attr not in ALLOWED_DUNDER_ATTRIBUTES:
                self.hit(node, "dunder", f"accesses `.{attr}`")
        elif attr in DANGEROUS_ATTRIBUTES:
            self.hit(node, "attribute", f"accesses `.{attr}`")
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            root = self._root_name(node)
            if self._is_module_alias(root):
                self.hit(node, "monkeypatch", f"assigns to an attribute of module `{root}`")
        self.generic_visit(node)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, (ast.Store, ast.Del)) and isinstance(node.value, ast.Attribute):
            root = self._root_name(node)
            if self._is_module_alias(root):
                self.hit(node, "monkeypatch", f"modifies module `{root}` in place")
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        self.generic_visit(node)
        # ``t = np.testing`` makes ``t`` a module alias too
        value = node.value
        if isinstance(value, (ast.Name, ast.Attribute)) and self._is_module_alias(self._root_name(value)):
            for t in node.targets:
                if isinstance(t, ast.Name):
                    self.aliases.add(t.id)

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name and self.depth == 0 and node.name in self.ctx.protected_names:
            self.hit(node, "shadowing", f"rebinds `{node.name}` at module level (the tests use it)")
        self.generic_visit(node)

    def _visit_scope(self, node) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_Lambda = _visit_scope
    visit_ListComp = _visit_scope
    visit_SetComp = _visit_scope
    visit_DictComp = _visit_scope
    visit_GeneratorExp = _visit_scope

    # -- definitions ----------------------------------------------------------------------
    def _visit_function(self, node) -> None:
        if self.depth == 0 and self.class_depth == 0 and node.name in self.ctx.protected_names:
            self.hit(node, "shadowing", f"redefines `{node.name}` (the tests use it)")
        if self.class_depth and node.name.startswith("__") and node.name.endswith("__") \
                and node.name not in ALLOWED_DUNDER_METHODS:
            self.hit(node, "dunder-method",
                     f"defines `{node.name}` (objects that fake comparisons or conversions)")
        for deco in node.decorator_list:
            self.visit(deco)
        self.visit(node.args)
        if node.returns is not None:
            self.visit(node.returns)
        saved_class = self.class_depth
        self.class_depth = 0
        self.depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.depth -= 1
        self.class_depth = saved_class

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        if self.depth == 0 and node.name in self.ctx.protected_names:
            self.hit(node, "shadowing", f"redefines `{node.name}` (the tests use it)")
        for base in node.bases:
            name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", None)
            if name in SUSPICIOUS_BASES:
                self.hit(node, "subclass", f"subclasses `{name}`")
        for kw in node.keywords:
            if kw.arg == "metaclass":
                self.hit(node, "subclass", "sets a metaclass")
        for deco in node.decorator_list:
            self.visit(deco)
        for b in node.bases:
            self.visit(b)
        self.class_depth += 1
        for stmt in node.body:
            self.visit(stmt)
        self.class_depth -= 1

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name in self.ctx.protected_names or name in self.ctx.module_aliases:
                self.hit(node, "shadowing", f"declares `global {name}` (the tests use it)")

    visit_Nonlocal = visit_Global

    # -- calls and constants ------------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        if self._allowed_magic(node):
            return
        func = node.func
        fname = func.id if isinstance(func, ast.Name) else (
            func.attr if isinstance(func, ast.Attribute) else None)
        if fname in ("getattr", "hasattr") and isinstance(func, ast.Name):
            attr = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(attr, ast.Constant) and isinstance(attr.value, str)):
                self.hit(node, "name", f"`{fname}` with a computed attribute name")
            elif attr.value.startswith("__") or attr.value in DANGEROUS_ATTRIBUTES:
                self.hit(node, "attribute", f"`{fname}(..., {attr.value!r})`")
        if fname == "open" and isinstance(func, ast.Name):
            path = node.args[0] if node.args else None
            if not (isinstance(path, ast.Constant) and isinstance(path.value, str)):
                self.hit(node, "open", "open() of a path that is not a literal inside the folder")
        if fname == "type" and isinstance(func, ast.Name) and len(node.args) == 3:
            self.hit(node, "subclass", "creates a class dynamically with type()")
        for kw in node.keywords:
            if kw.arg == "allow_pickle" and not (isinstance(kw.value, ast.Constant)
                                                 and kw.value.value is False):
                self.hit(node, "pickle", "allow_pickle can run arbitrary code")
        for arg in list(node.args) + [kw.value for kw in node.keywords]:
            for sub in ast.walk(arg):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str) \
                        and _outside_path(sub.value):
                    self.hit(node, "path",
                             f"path {sub.value[:60]!r} is outside the submission folder")
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Call) \
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython":
            magic = node.args[0].value if node.args and isinstance(node.args[0], ast.Constant) \
                else func.attr
            self.hit(node, "magic", f"IPython magic or shell escape `{magic}`")
        self.generic_visit(node)

    def _allowed_magic(self, node: ast.Call) -> bool:
        """``get_ipython().run_line_magic('timeit', code)`` for an allowed magic.

        The magic itself is accepted and the code it runs is scanned instead.
        """
        func = node.func
        if not (isinstance(func, ast.Attribute)
                and func.attr in ("run_line_magic", "run_cell_magic")
                and isinstance(func.value, ast.Call) and not func.value.args
                and isinstance(func.value.func, ast.Name) and func.value.func.id == "get_ipython"
                and node.args and isinstance(node.args[0], ast.Constant)
                and node.args[0].value in ALLOWED_LINE_MAGICS and not node.keywords
                and all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                        for a in node.args)):
            return False
        for arg in node.args[1:]:
            code = arg.value
            if not code.strip() or node.args[0].value == "matplotlib":
                if node.args[0].value == "matplotlib" and code.strip() not in ("", "inline", "agg"):
                    self.hit(node, "magic", f"%matplotlib {code.strip()}")
                continue
            tree = _safe_parse(_to_python(code))
            if tree is None:
                continue
            sub = _Visitor(self.ctx, self.aliases)
            sub.depth, sub.class_depth = self.depth, self.class_depth
            sub.visit(tree)
            for _, rule, msg in sub.hits:
                self.hits.append((node.lineno, rule, msg))
        return True

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and "NBGRADER" in node.value.upper():
            self.hit(node, "nbgrader", "mentions NBGRADER (grading-time detection)")
        elif isinstance(node.value, bytes) and b"NBGRADER" in node.value.upper():
            self.hit(node, "nbgrader", "mentions NBGRADER (grading-time detection)")

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self.generic_visit(node)


def _safe_parse(code: str):
    try:
        return ast.parse(code)
    except (SyntaxError, ValueError):
        return None


def _outside_path(text: str) -> bool:
    """Whether a string literal looks like a path outside the submission folder."""
    s = text.strip()
    if not s or "\n" in s or len(s) > 4096:
        return False
    if s.startswith("/") and len(s) > 1 and not s.startswith("//"):
        return True
    if s.startswith("~"):
        return True
    parts = re.split(r"[\\/]", s)
    return ".." in parts and len(parts) > 1 or s == ".."


def scan_source(source: str, ctx: ScanContext, *, aliases: set | None = None) -> list[tuple[int, str, str]]:
    """Scan one cell's source.

    Parameters
    ----------
    source : str
        Cell source (IPython syntax allowed).
    ctx : ScanContext
        Assignment context from :func:`build_context`.
    aliases : set of str, optional
        Module aliases bound by earlier submitted cells (updated in place).

    Returns
    -------
    list of (lineno, rule, message)
        Empty when nothing was found.  A cell that does not parse yields nothing (it
        cannot run any code: IPython raises ``SyntaxError`` before executing it).
    """
    if aliases is None:
        aliases = set(ctx.module_aliases)
    tree = _parse(source)
    if tree is None:
        return []
    visitor = _Visitor(ctx, aliases)
    visitor.visit(tree)
    return list(visitor.hits)
