"""Static scan of submitted notebooks before anything runs (issue 7).

Every cell of a submission that will execute during autograding is parsed with
:mod:`ast` (after IPython's own input transformation, so ``%magics`` and ``!shell``
escapes are seen as the ``get_ipython()`` calls they become) and checked against a
small set of rules.  A submission with any finding is *not executed*: the grader
reports it, with the offending lines, for manual review.

The rules are deliberately strict, because solution cells of this course only need
NumPy-level Python:

* imports are restricted to an allow-list (NumPy, SciPy, math, ... plus every module
  the instructor's reference solution itself imports);
* names and attributes that reach the interpreter or the operating system are refused
  (``get_ipython``, ``eval``/``exec``, ``builtins``, ``sys.modules``, ``os._exit``,
  ``sqlite3``, ``subprocess``, ``importlib``, ``ctypes``, frame introspection, ...);
* assigning to (or deleting) attributes of imported modules (``np.allclose = ...``);
* rebinding, at module level, a builtin or a name that the locked cells define
  (``def isinstance(*a): return True`` would fool every test);
* defining comparison/conversion dunder methods or subclassing builtin/array types
  (objects that compare equal to anything);
* string literals naming a path outside the submission folder (absolute, ``~`` or
  ``..``), ``open()`` of a path that is not such a literal, ``allow_pickle=True``;
* any string mentioning ``NBGRADER`` (grading-time detection).

Scanning is a first line of defence only: the sandbox in :mod:`tools.kernel_sandbox`
must (and does) hold on its own.
"""
from __future__ import annotations

import ast
import builtins
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence

__all__ = [
    "BASE_ALLOWED_IMPORTS",
    "Finding",
    "ScanContext",
    "build_context",
    "cells_to_scan",
    "scan_notebook",
    "scan_source",
]

#: Top-level modules a solution cell may import without review.
BASE_ALLOWED_IMPORTS = frozenset({
    "numpy", "math", "cmath", "scipy", "matplotlib", "functools", "itertools",
    "collections", "typing", "dataclasses", "numbers", "statistics", "random",
    "warnings", "time", "string", "re", "copy", "decimal", "fractions", "heapq",
    "bisect", "enum", "abc",
})

#: Names whose mere use in submitted code is refused.
DANGEROUS_NAMES = frozenset({
    "eval", "exec", "compile", "__import__", "globals", "locals", "vars", "setattr",
    "delattr", "breakpoint", "exit", "quit", "get_ipython", "reload",
    "__builtins__", "__loader__", "__spec__", "In", "Out", "_ih", "_oh", "_dh",
    "_i", "_ii", "_iii", "__", "___",
})
#: Modules that reach the interpreter, the operating system or the grader: refused
#: both as names (even when a locked cell imported them) and as attributes.
DANGEROUS_MODULES = frozenset({
    "os", "sys", "subprocess", "builtins", "importlib", "ctypes", "sqlite3", "socket",
    "shutil", "inspect", "gc", "traceback", "pickle", "marshal", "threading",
    "multiprocessing", "resource", "posix", "pty", "IPython", "ipykernel", "nbgrader",
    "runpy", "zmq", "tornado", "_thread", "faulthandler", "tracemalloc",
})
#: Attribute names refused on any object.
DANGEROUS_ATTRIBUTES = frozenset(DANGEROUS_MODULES | {
    "system", "popen", "_exit", "fork", "forkpty", "kill", "killpg", "execv", "execve",
    "execl", "execlp", "execvp", "execvpe", "spawnv", "spawnl", "posix_spawn", "environ",
    "environb", "getenv", "putenv", "unsetenv", "modules", "ctypeslib", "f2py",
    "distutils", "input_transformers_cleanup", "input_transformers_post",
    "input_splitter", "ast_transformers", "register_magic_function", "run_line_magic",
    "run_cell_magic", "run_cell", "user_ns", "user_global_ns", "displayhook",
    "excepthook", "showtraceback", "f_back", "f_locals", "f_globals", "f_code",
    "f_builtins", "tb_frame", "tb_next", "gi_frame", "cr_frame", "ag_frame", "gi_code",
    "co_code", "setrecursionlimit", "settrace", "setprofile", "_getframe",
    "currentframe", "getsource", "setuid", "setgid", "urlopen",
})
#: Dunder methods a submitted class may define.
ALLOWED_DUNDER_METHODS = frozenset({"__init__", "__repr__", "__str__", "__post_init__"})
#: Dunder attributes that may be read.
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__", "__doc__", "__qualname__"})
#: Line magics that are harmless (their code argument is scanned as well).
ALLOWED_LINE_MAGICS = frozenset({"matplotlib", "time", "timeit"})
#: Base classes that make objects able to impersonate numbers/arrays.
SUSPICIOUS_BASES = frozenset({
    "int", "float", "complex", "bool", "str", "bytes", "list", "tuple", "dict", "set",
    "frozenset", "object_", "ndarray", "generic", "floating", "float64", "matrix",
    "MaskedArray", "type", "Exception", "BaseException", "AssertionError",
})

_BUILTIN_NAMES = frozenset(n for n in dir(builtins) if not n.startswith("__"))
_IPYTHON_HISTORY = re.compile(r"^_(i\d+|\d+)$")


@dataclass(frozen=True)
class Finding:
    """One reason to hold a submission for manual review.

    Attributes
    ----------
    cell_index : int
        Index of the cell in the submitted notebook.
    grade_id : str or None
        nbgrader ``grade_id`` of that cell, when it has one.
    lineno : int
        1-based line number inside the cell.
    line : str
        The offending source line (stripped).
    rule : str
        Short rule identifier (``import``, ``name``, ``attribute``, ...).
    message : str
        Human-readable explanation.
    """

    cell_index: int
    grade_id: str | None
    lineno: int
    line: str
    rule: str
    message: str

    def format(self) -> str:
        """Return ``cell N (grade_id) line L: `code`  [rule] message``."""
        where = f"cell {self.cell_index}"
        if self.grade_id:
            where += f" ({self.grade_id})"
        return f"{where} line {self.lineno}: `{self.line}`  [{self.rule}] {self.message}"

    def to_dict(self) -> dict:
        """Return the finding as a JSON-serialisable dict."""
        return {
            "cell_index": self.cell_index, "grade_id": self.grade_id,
            "lineno": self.lineno, "line": self.line, "rule": self.rule,
            "message": self.message,
        }


@dataclass
class ScanContext:
    """What the scanner knows about the assignment.

    Attributes
    ----------
    allowed_imports : set of str
        Top-level module names that may be imported.
    protected_names : set of str
        Names that must not be rebound at module level: builtins and the functions,
        classes and modules that the locked cells define, minus the names the reference
        solution binds itself.
    module_aliases : set of str
        Names bound to modules by the locked cells (``np`` for ``import numpy as np``).
    alias_modules : dict
        ``alias -> module`` for the locked cells' imports (re-importing the same module
        under the same alias is allowed).
    """

    allowed_imports: set = field(default_factory=lambda: set(BASE_ALLOWED_IMPORTS))
    protected_names: set = field(default_factory=lambda: set(_BUILTIN_NAMES))
    module_aliases: set = field(default_factory=set)
    alias_modules: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- helpers
def _nbgrader_meta(cell: Mapping) -> dict:
    meta = cell.get("metadata", {}) or {}
    nbg = meta.get("nbgrader", {}) if isinstance(meta, Mapping) else {}
    return nbg if isinstance(nbg, Mapping) else {}


def _source_text(cell: Mapping) -> str:
    src = cell.get("source", "")
    if isinstance(src, list):
        return "".join(str(s) for s in src)
    return str(src)


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
        tree = _parse(_source_text(cell))
        if tree is None:
            continue
        names, defined, aliases = _top_level_bindings(tree)
        nbg = _nbgrader_meta(cell)
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


def _trusted_sources(reference: Mapping) -> set:
    """Sources of the reference's locked code cells (nbgrader restores these)."""
    out = set()
    for cell in reference.get("cells", []):
        nbg = _nbgrader_meta(cell)
        locked = bool(nbg.get("grade") and not nbg.get("solution")) or (
            bool(nbg.get("locked")) and not nbg.get("solution"))
        if cell.get("cell_type") == "code" and nbg.get("grade_id") and locked:
            src = _source_text(cell)
            out.add(src)
            out.add(_strip_hidden(src))  # as released (before nbgrader restores them)
    return out


def _strip_hidden(source: str) -> str:
    keep, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            keep.append(line)
    return "\n".join(keep)


def _is_trusted(source: str, trusted: set) -> bool:
    if source in trusted:
        return True
    # a test cell re-added by ``OverwriteCells.add_missing_cells`` carries a comment prefix
    for ref in trusted:
        if ref and source.endswith(ref):
            prefix = source[: len(source) - len(ref)]
            if all(not ln.strip() or ln.lstrip().startswith("#") for ln in prefix.splitlines()):
                return True
    return False


def cells_to_scan(notebook: Mapping, reference: Mapping) -> list[int]:
    """Indices of the code cells whose source is not a restored reference cell.

    Meant for the notebook *after* nbgrader's sanitising step (``OverwriteCells`` has
    put the reference source back into every locked cell), i.e. exactly the code that
    will execute.  A code cell is skipped only if its source is identical to a locked
    code cell of the reference (optionally preceded by nbgrader's "this cell was
    missing" comment); everything else -- solution cells, cells the student added,
    cells whose metadata was stripped -- is scanned.
    """
    trusted = _trusted_sources(reference)
    return [i for i, cell in enumerate(notebook.get("cells", []))
            if cell.get("cell_type") == "code" and not _is_trusted(_source_text(cell), trusted)]


def scan_notebook(submission: Mapping, reference: Mapping, *,
                  extra_allowed_imports: Sequence[str] = ()) -> list[Finding]:
    """Scan every cell of a submission that will run with student-written source.

    Parameters
    ----------
    submission : dict-like notebook
        The submitted notebook (nbformat 4).
    reference : dict-like notebook
        The instructor's source notebook for the same assignment.
    extra_allowed_imports : sequence of str
        Additional importable top-level modules.

    Returns
    -------
    list of Finding
        Empty when the submission may run.
    """
    if not isinstance(submission, Mapping) or not isinstance(submission.get("cells"), list):
        raise TypeError("submission must be a notebook dict with a 'cells' list")
    ctx = build_context(reference, extra_allowed_imports=extra_allowed_imports)
    aliases = set(ctx.module_aliases)
    findings: list[Finding] = []
    cells = submission["cells"]
    for idx in cells_to_scan(submission, reference):
        cell = cells[idx]
        source = _source_text(cell)
        lines = source.splitlines() or [""]
        gid = _nbgrader_meta(cell).get("grade_id")
        for lineno, rule, message in scan_source(source, ctx, aliases=aliases):
            line = lines[lineno - 1].strip() if 0 < lineno <= len(lines) else ""
            findings.append(Finding(idx, gid, lineno, line[:200], rule, message))
    # de-duplicate identical (cell, line, rule, message)
    unique, seen = [], set()
    for f in findings:
        key = (f.cell_index, f.lineno, f.rule, f.message)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    return unique
