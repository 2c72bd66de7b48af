"""The static scan's rules: what submitted code may not name, import or define.

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

Scanning is a first line of defence only: the sandbox in :mod:`aegrade.sandbox`
must (and does) hold on its own.
"""
from __future__ import annotations

import builtins
import re
from dataclasses import dataclass, field

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
