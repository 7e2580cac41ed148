"""Mutation testing of Flask-SockReq's pure modules.

Each mutant is one small change to one module (``==`` made ``!=``, a
constant changed, a call dropped, ...). It is run against the tests that
cover the changed line, in a forked copy of this process, and is *killed*
when one of them fails. A mutant that survives is a change the tests cannot
tell from the real code: either the tests miss a behaviour, or the mutant is
equivalent (see ``tools/MUTATION.rst``, which explains the survivors).

How it runs, and why it does not use mutmut: mutmut 3 copies the project
into ``mutants/`` and runs the whole suite (5-6 minutes, real servers
included) to learn which tests to run, and the servers it starts import the
unmutated package. Here, nothing is written to disk:

1. The parent imports the package and collects the module's tests once
   (``pytest --collect-only``, which imports the test modules for every
   child to share), without running anything.
2. A forked child runs the module's tests with a line tracer on the module:
   which test runs which line (the baseline; it must pass).
3. For each mutant, a forked child compiles the mutated module and puts the
   mutated function's code into the live function object (or, for a change
   outside any function, rebinds the module's names everywhere they were
   imported), then runs only the tests that cover the line, fastest first,
   stopping at the first failure. A child that outlives its deadline is
   killed by its PID and counted as killed (a mutant that hangs is caught).

Only in-process tests can see a mutant: tests that talk to a server in a
subprocess are left out of the selections below (they would never cover a
line here). Run from the project root::

    .venv/bin/python tools/mutation.py                  # every module
    .venv/bin/python tools/mutation.py protocol cookies # some modules
    .venv/bin/python tools/mutation.py protocol --lines 300-320 -v
    .venv/bin/python tools/mutation.py protocol --list  # the mutants only
    .venv/bin/python tools/mutation.py protocol --show 17  # one mutant's code

It prints, per module: mutants, killed, survived, score, and each survivor
with its line. ``--json FILE`` writes the results. Not part of CI.
"""

from __future__ import annotations

import argparse
import ast
import copy
import dataclasses
import importlib
import io
import json
import os
import signal
import sys
import tempfile
import time
import types
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

#: The tests that can kill the mutants of each module: unit tests and
#: in-process tests (the test client, Flask-SocketIO's test client). Paths,
#: node ids, and ``-k``/``--deselect`` options, as for pytest.
TARGETS: dict[str, list[str]] = {
    "protocol": [
        "tests/test_protocol_unit.py",
        "tests/test_protocol_inprocess.py",
        "tests/test_config_keys.py",
        "tests/test_codec.py",
        "tests/test_acks_unit.py",
        "tests/test_inprocess.py",
        "tests/test_testing.py",
    ],
    "cookies": [
        "tests/test_cookies_unit.py",
        "tests/test_cookies_corpus.py",
        "tests/test_connection_unit.py",
        "tests/test_protocol_inprocess.py",
        "tests/test_inprocess.py",
        "tests/test_testing.py",
        # The corpus's end-to-end tests run servers, which no mutant reaches.
        "-k",
        "not socket_login and not http_session_with",
    ],
    "payload": [
        "tests/test_payload_unit.py",
        "tests/test_client_streams.py::test_lazy_multipart_is_werkzeugs_encoding",
        "tests/test_client_streams.py::test_what_is_uploaded_and_what_is_inline",
        "tests/test_testing.py",
        "tests/test_testing_options.py",
        "tests/test_pytest_plugin.py",
    ],
    "replay": [
        "tests/test_replay_unit.py",
        "tests/test_protocol_inprocess.py",
        "tests/test_exposure_unit.py",
        "tests/test_inprocess.py",
        "tests/test_testing.py",
    ],
    "exposure": [
        "tests/test_exposure_unit.py",
        "tests/test_config_keys.py",
        "tests/test_cli.py",
        "tests/test_inprocess.py",
    ],
    "connection": [
        "tests/test_connection_unit.py",
        "tests/test_protocol_inprocess.py",
        "tests/test_config_keys.py",
        "tests/test_inprocess.py",
        "tests/test_testing.py",
    ],
    "codec": [
        "tests/test_codec.py",
        "tests/test_codec_unit.py",
        "tests/test_acks_unit.py",
        "tests/test_protocol_inprocess.py",
        "tests/test_inprocess.py",
        "tests/test_testing.py",
    ],
    "streams": [
        "tests/test_streams_unit.py",
        "tests/test_config_keys.py",
        "tests/test_testing.py",
    ],
}

#: Tests that fail today because of a bug they show (see tools/MUTATION.rst):
#: a mutant is judged against a passing baseline, so they are left out.
KNOWN_FAILURES: list[str] = []

#: What the modules are, in the order they run by default.
DEFAULT_MODULES = ("protocol", "cookies", "payload", "replay", "exposure", "connection")

# A mutant's run may take this many times its tests' baseline time, plus
# the fixed cost of a pytest session, before it counts as hanging.
TIME_FACTOR = 4.0
TIME_FLOOR = 15.0


# --- the mutants ---------------------------------------------------------------


@dataclasses.dataclass
class Mutant:
    """One change to a module: the ``index``-th of the module's list."""

    index: int
    line: int
    end_line: int
    col: int
    description: str
    #: ``(name, first line)`` of the outermost function holding the change,
    #: or None for a change to module-level code.
    owner: tuple[str, int] | None
    #: The module-level names the change rebinds (module-level changes).
    names: tuple[str, ...] = ()
    #: The lines whose tests may see the change, if not its own: a default
    #: argument is seen by the tests that run its function's body.
    reach: tuple[int, int] | None = None
    status: str = "pending"
    #: The test that killed it, or why it was not run.
    detail: str = ""
    seconds: float = 0.0


_COMPARE_SWAPS: dict[type, tuple[type, ...]] = {
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.Lt: (ast.LtE,),
    ast.LtE: (ast.Lt,),
    ast.Gt: (ast.GtE,),
    ast.GtE: (ast.Gt,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_BINOP_SWAPS: dict[type, type] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.Mult: ast.FloorDiv,
    ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mult,
    ast.Mod: ast.FloorDiv,
    ast.Pow: ast.Mult,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
    ast.BitXor: ast.BitOr,
    ast.LShift: ast.RShift,
    ast.RShift: ast.LShift,
}
_SYMBOLS = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitOr: "|",
    ast.BitAnd: "&",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.And: "and",
    ast.Or: "or",
}
# Calls whose arguments are types, not values: changing them changes nothing.
_TYPE_CALLS = frozenset({"t.cast", "typing.cast", "cast", "t.TypeVar", "TypeVar"})
# Module-level names that only describe the module.
_SKIPPED_NAMES = frozenset({"__all__", "__slots__"})


def _short(node: ast.AST, limit: int = 40) -> str:
    text = ast.unparse(node).replace("\n", " ")
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _mutated_constant(value: t.Any) -> list[tuple[t.Any, str]]:
    if isinstance(value, bool):
        return [(not value, f"{value} -> {not value}")]
    if isinstance(value, int):
        return [(value + 1, f"{value} -> {value + 1}")]
    if isinstance(value, float):
        # Past 2**53, adding one changes nothing: double it instead.
        new = value + 1.0 if value + 1.0 != value else value * 2
        return [(new, f"{value!r} -> {new!r}")]
    if isinstance(value, str):
        new = f"XX{value}XX"
        return [(new, f"{_clip(value)!r} -> {_clip(new)!r}")]
    if isinstance(value, bytes):
        new = b"XX" + value + b"XX"
        return [(new, f"{_clip(value)!r} -> {_clip(new)!r}")]
    return []


def _clip(value: t.Any) -> t.Any:
    return value if len(value) <= 30 else value[:27] + value[:0].__class__("...")


class _Finder:
    """Walks a module's tree in a fixed order and lists the mutation points.

    Each point is ``(node, replacement, description, scope)``: the node is
    replaced by ``replacement`` in its parent. Run twice on two parses of
    the same source, it lists the same points in the same order, so a
    mutant is named by its index.
    """

    def __init__(self, tree: ast.Module) -> None:
        self.points: list[tuple[ast.AST, ast.AST, str, tuple[t.Any, ...]]] = []
        # (name, first line) of the outermost function, None at module level
        self._owner: tuple[str, int] | None = None
        self._names: tuple[str, ...] = ()
        self._reach: tuple[int, int] | None = None
        self._visit_body(tree.body, docstring=True)

    # -- statements

    def _visit_body(self, body: list[ast.stmt], docstring: bool = False) -> None:
        for position, stmt in enumerate(body):
            if (
                docstring
                and position == 0
                and isinstance(stmt, ast.Expr)
                and isinstance(stmt.value, ast.Constant)
                and isinstance(stmt.value.value, str)
            ):
                continue
            self._visit_stmt(stmt)

    def _visit_stmt(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom, ast.Global, ast.Nonlocal)):
            return
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
            self._visit_function(stmt)
            return
        if isinstance(stmt, ast.ClassDef):
            # Only the methods: a class body's other statements (NamedTuple
            # fields, __slots__) cannot be changed in a live class.
            for inner in stmt.body:
                if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self._visit_function(inner)
                elif isinstance(inner, ast.ClassDef):
                    self._visit_stmt(inner)
            return
        if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
            self._visit_body(stmt.orelse)
            return
        if self._owner is None:
            names = _assigned_names(stmt)
            if any(name in _SKIPPED_NAMES for name in names):
                return
            self._names = names
        if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):
            return  # a string used as a comment
        self._statement_points(stmt)
        for field, value in ast.iter_fields(stmt):
            if field in ("annotation", "returns", "type_comment"):
                continue
            if isinstance(value, list) and value and isinstance(value[0], ast.stmt):
                self._visit_body(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.excepthandler):
                        self._visit_body(item.body)
                    elif isinstance(item, ast.match_case):
                        self._visit_body(item.body)
                    elif isinstance(item, ast.AST):
                        self._visit_expr(item)
            elif isinstance(value, ast.AST):
                self._visit_expr(value)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        outermost = self._owner is None
        if outermost:
            first = min([d.lineno for d in node.decorator_list] + [node.lineno])
            self._owner = (node.name, first)
            self._names = ()
        try:
            # Defaults are values of the function object; decorators and
            # annotations are left alone.
            body = (node.body[0].lineno, node.end_lineno or node.body[0].lineno)
            saved, self._reach = self._reach, body
            try:
                for default in [*node.args.defaults, *node.args.kw_defaults]:
                    if default is not None:
                        self._visit_expr(default)
            finally:
                self._reach = saved
            self._visit_body(node.body, docstring=True)
        finally:
            if outermost:
                self._owner = None

    def _statement_points(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, ast.Return) and stmt.value is not None:
            if not (isinstance(stmt.value, ast.Constant) and stmt.value.value is None):
                self._add(stmt, ast.Return(value=ast.Constant(None)), "return None")
        elif isinstance(stmt, ast.Assign) and self._owner is not None:
            if not (isinstance(stmt.value, ast.Constant) and stmt.value.value is None):
                new = ast.Assign(targets=stmt.targets, value=ast.Constant(None))
                self._add(stmt, new, f"{_short(stmt.targets[0])} = None")
        elif isinstance(stmt, ast.AugAssign):
            swap = _BINOP_SWAPS.get(type(stmt.op))
            if swap is not None:
                new = ast.AugAssign(target=stmt.target, op=swap(), value=stmt.value)
                self._add(
                    stmt,
                    new,
                    f"`{_SYMBOLS[type(stmt.op)]}=` -> `{_SYMBOLS[swap]}=`",
                )
        elif isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
            self._add(stmt, ast.Pass(), f"drop `{_short(stmt.value)}`")
        elif isinstance(stmt, ast.Break):
            self._add(stmt, ast.Continue(), "break -> continue")
        elif isinstance(stmt, ast.Continue):
            self._add(stmt, ast.Break(), "continue -> break")
        if isinstance(stmt, (ast.If, ast.While)):
            self._negate_condition(stmt.test)

    # -- expressions

    def _visit_expr(self, node: ast.AST) -> None:
        if isinstance(node, ast.JoinedStr):
            # The text of an f-string is left alone, its values are not.
            for value in node.values:
                if isinstance(value, ast.FormattedValue):
                    self._visit_expr(value.value)
            return
        if isinstance(node, ast.Call) and _dotted(node.func) in _TYPE_CALLS:
            if _dotted(node.func).endswith("cast") and len(node.args) == 2:
                self._visit_expr(node.args[1])
            return
        if isinstance(node, (ast.Lambda,)):
            self._visit_expr(node.body)
            return
        self._expression_points(node)
        for _, value in ast.iter_fields(node):
            if isinstance(value, list):
                for item in value:
                    if isinstance(item, ast.comprehension):
                        self._visit_expr(item.iter)
                        for condition in item.ifs:
                            self._visit_expr(condition)
                    elif isinstance(item, ast.AST):
                        self._visit_expr(item)
            elif isinstance(value, ast.AST):
                self._visit_expr(value)

    def _expression_points(self, node: ast.AST) -> None:
        if isinstance(node, ast.Compare):
            for position, op in enumerate(node.ops):
                for swap in _COMPARE_SWAPS.get(type(op), ()):
                    ops = list(node.ops)
                    ops[position] = swap()
                    new = ast.Compare(
                        left=node.left, ops=ops, comparators=node.comparators
                    )
                    self._add(
                        node, new, f"`{_SYMBOLS[type(op)]}` -> `{_SYMBOLS[swap]}`"
                    )
        elif isinstance(node, ast.BoolOp):
            swap = ast.Or if isinstance(node.op, ast.And) else ast.And
            new = ast.BoolOp(op=swap(), values=node.values)
            self._add(node, new, f"`{_SYMBOLS[type(node.op)]}` -> `{_SYMBOLS[swap]}`")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            self._add(node, node.operand, f"`not {_short(node.operand, 30)}` -> `...`")
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            self._add(node, node.operand, "drop unary `-`")
        elif isinstance(node, ast.BinOp):
            swap = _BINOP_SWAPS.get(type(node.op))
            is_format = isinstance(node.op, ast.Mod) and isinstance(
                node.left, (ast.Constant, ast.JoinedStr)
            )
            if swap is not None and not is_format:
                new = ast.BinOp(left=node.left, op=swap(), right=node.right)
                self._add(
                    node, new, f"`{_SYMBOLS[type(node.op)]}` -> `{_SYMBOLS[swap]}`"
                )
        elif isinstance(node, ast.IfExp):
            self._negate_condition(node.test)
        elif isinstance(node, ast.Constant):
            for value, text in _mutated_constant(node.value):
                self._add(node, ast.Constant(value), text)
        elif isinstance(node, ast.Call):
            for position, keyword in enumerate(node.keywords):
                if keyword.arg is None:
                    continue
                keywords = node.keywords[:position] + node.keywords[position + 1 :]
                new = ast.Call(func=node.func, args=node.args, keywords=keywords)
                self._add(
                    node, new, f"drop `{keyword.arg}=` from `{_short(node.func)}(...)`"
                )

    def _negate_condition(self, test: ast.expr) -> None:
        if isinstance(test, (ast.Compare, ast.BoolOp)) or (
            isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
        ):
            return  # their own mutants negate them
        self._add(
            test,
            ast.UnaryOp(op=ast.Not(), operand=test),
            f"`if {_short(test, 30)}` -> `if not ...`",
        )

    def _add(self, node: ast.AST, new: ast.AST, description: str) -> None:
        self.points.append(
            (node, new, description, (self._owner, self._names, self._reach))
        )


def _is_type_checking(test: ast.expr) -> bool:
    return _dotted(test) in ("TYPE_CHECKING", "t.TYPE_CHECKING", "typing.TYPE_CHECKING")


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _assigned_names(stmt: ast.stmt) -> tuple[str, ...]:
    targets: list[ast.expr] = []
    if isinstance(stmt, ast.Assign):
        targets = stmt.targets
    elif isinstance(stmt, (ast.AnnAssign, ast.AugAssign)):
        targets = [stmt.target]
    names: list[str] = []
    for target in targets:
        for node in ast.walk(target):
            if isinstance(node, ast.Name):
                names.append(node.id)
    if isinstance(stmt, ast.Try):
        for node in ast.walk(stmt):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names.extend((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Assign):
                names.extend(_assigned_names(node))
    return tuple(names)


class _Replace(ast.NodeTransformer):
    def __init__(self, old: ast.AST, new: ast.AST) -> None:
        self.old = old
        self.new = new

    def visit(self, node: ast.AST) -> t.Any:
        if node is self.old:
            return self.new
        return self.generic_visit(node)


def list_mutants(source: str) -> list[Mutant]:
    """The module's mutants, in a fixed order."""
    finder = _Finder(ast.parse(source))
    mutants = []
    for index, (node, _, description, (owner, names, reach)) in enumerate(
        finder.points
    ):
        mutants.append(
            Mutant(
                index=index,
                line=node.lineno,  # type: ignore[attr-defined]
                end_line=node.end_lineno or node.lineno,  # type: ignore[attr-defined]
                col=node.col_offset,  # type: ignore[attr-defined]
                description=description,
                owner=owner,
                names=names if owner is None else (),
                reach=reach,
            )
        )
    return mutants


def mutated_tree(source: str, index: int) -> ast.Module:
    """The module's tree with mutant ``index`` applied."""
    tree = ast.parse(source)
    node, new, _, _ = _Finder(tree).points[index]
    new = copy.deepcopy(new)  # never share nodes between two places
    if isinstance(node, ast.stmt) and not isinstance(new, ast.stmt):
        raise AssertionError("a statement can only become a statement")
    tree = _Replace(node, new).visit(tree)
    return ast.fix_missing_locations(tree)


# --- putting a mutant into the live module ------------------------------------


def _functions_of(
    namespace: dict[str, t.Any], module_name: str
) -> dict[tuple[str, int], types.FunctionType]:
    """The functions defined by a module, by ``(name, first line)``: its
    functions, the methods of its classes (properties, static and class
    methods too) and what decorators wrapped."""
    found: dict[tuple[str, int], types.FunctionType] = {}
    seen: set[int] = set()

    def add(obj: t.Any) -> None:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        if isinstance(obj, (staticmethod, classmethod)):
            add(obj.__func__)
        elif isinstance(obj, property):
            for part in (obj.fget, obj.fset, obj.fdel):
                if part is not None:
                    add(part)
        elif isinstance(obj, types.FunctionType):
            if obj.__module__ == module_name:
                code = obj.__code__
                found.setdefault((code.co_name, code.co_firstlineno), obj)
            wrapped = getattr(obj, "__wrapped__", None)
            if wrapped is not None:
                add(wrapped)
        elif isinstance(obj, type) and obj.__module__ == module_name:
            for value in vars(obj).values():
                add(value)

    for value in list(namespace.values()):
        add(value)
    return found


def install_mutant(module: types.ModuleType, source: str, mutant: Mutant) -> None:
    """Make the live ``module`` behave as mutant ``mutant`` of ``source``."""
    tree = mutated_tree(source, mutant.index)
    code = compile(tree, module.__file__ or "<mutant>", "exec")
    namespace: dict[str, t.Any] = {
        "__name__": module.__name__,
        "__package__": module.__package__,
        "__file__": module.__file__,
        "__spec__": module.__spec__,
    }
    exec(code, namespace)
    if mutant.owner is not None:
        old = _functions_of(vars(module), module.__name__).get(mutant.owner)
        new = _functions_of(namespace, module.__name__).get(mutant.owner)
        if old is None or new is None:
            raise LookupError(f"no function {mutant.owner} to change")
        old.__code__ = new.__code__
        old.__defaults__ = new.__defaults__
        old.__kwdefaults__ = new.__kwdefaults__
        return
    for name in changed_names(module, namespace):
        _rebind(vars(module)[name], namespace[name], name)


def changed_names(module: types.ModuleType, namespace: dict[str, t.Any]) -> list[str]:
    """The module-level values that a fresh run of the module body gave
    other values: those the mutant changed, and those computed from them.

    The module's own functions and classes are not values (a fresh run makes
    new ones of the same code); a name that refers to one of them under
    another name (``CODEC = OrJSON``) is, and :func:`settle_aliases` turns
    the fresh object it names back into the live one.
    """
    settle_aliases(module, namespace)
    names = []
    for name, old in vars(module).items():
        if name.startswith("__") or name not in namespace:
            continue
        new = namespace[name]
        if _is_definition(module, name, old):
            continue
        if isinstance(old, types.ModuleType):
            continue
        try:
            same = new is old or (type(old) is type(new) and bool(old == new))
        except Exception:
            same = False
        if not same:
            names.append(name)
    return names


def _is_definition(module: types.ModuleType, name: str, value: t.Any) -> bool:
    return (
        isinstance(value, (types.FunctionType, type))
        and getattr(value, "__name__", None) == name
    )


def settle_aliases(module: types.ModuleType, namespace: dict[str, t.Any]) -> None:
    """In ``namespace``, a fresh run of ``module``'s body, put the live
    function or class wherever a name refers to one defined by the module
    under another name."""
    for name, new in list(namespace.items()):
        if name.startswith("__") or _is_definition(module, name, new):
            continue
        if isinstance(new, (types.FunctionType, type)) and (
            getattr(new, "__module__", None) == module.__name__
        ):
            live = vars(module).get(new.__name__)
            if live is not None:
                namespace[name] = live


def _rebind(old: t.Any, new: t.Any, name: str) -> None:
    """Put ``new`` wherever the package or the tests hold ``old`` under
    ``name``, and in the defaults of their functions."""
    for module_name, other in list(sys.modules.items()):
        if other is None or not module_name.startswith(("flask_sockreq", "tests")):
            continue
        namespace = vars(other)
        if namespace.get(name, new) is old:
            namespace[name] = new
        for function in _functions_of(namespace, module_name).values():
            defaults = function.__defaults__
            if defaults and any(value is old for value in defaults):
                function.__defaults__ = tuple(
                    new if value is old else value for value in defaults
                )
            kwdefaults = function.__kwdefaults__
            if kwdefaults and any(value is old for value in kwdefaults.values()):
                function.__kwdefaults__ = {
                    key: new if value is old else value
                    for key, value in kwdefaults.items()
                }


# --- running tests in forked children -----------------------------------------


class _LineTracer:
    """A pytest plugin that records which lines of one file each test runs."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.current: set[int] | None = None
        self.lines: dict[str, list[int]] = {}
        self.seconds: dict[str, float] = {}
        self._started = 0.0
        self.outcomes: dict[str, str] = {}

    def _local(self, frame: types.FrameType, event: str, arg: t.Any) -> t.Any:
        if event == "line" and self.current is not None:
            self.current.add(frame.f_lineno)
        return self._local

    def _global(self, frame: types.FrameType, event: str, arg: t.Any) -> t.Any:
        if frame.f_code.co_filename == self.filename:
            if self.current is not None:
                self.current.add(frame.f_lineno)
            return self._local
        return None

    def pytest_runtest_logstart(self, nodeid: str, location: t.Any) -> None:
        import threading

        self.current = set()
        self._started = time.perf_counter()
        threading.settrace(self._global)
        sys.settrace(self._global)

    def pytest_runtest_logfinish(self, nodeid: str, location: t.Any) -> None:
        import threading

        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type]
        self.seconds[nodeid] = time.perf_counter() - self._started
        self.lines[nodeid] = sorted(self.current or ())
        self.current = None

    def pytest_runtest_logreport(self, report: t.Any) -> None:
        if report.failed:
            self.outcomes[report.nodeid] = "failed"


class _FirstFailure:
    """A pytest plugin that notes the first failing test."""

    def __init__(self) -> None:
        self.failed: str | None = None

    def pytest_runtest_logreport(self, report: t.Any) -> None:
        if report.failed and self.failed is None:
            self.failed = report.nodeid


_PYTEST_OPTIONS = [
    "-q",
    "-x",
    "-p",
    "no:cacheprovider",
    "--tb=no",
    "--no-header",
    # The package is imported before pytest loads it as a plugin.
    "-W",
    "ignore::pytest.PytestAssertRewriteWarning",
    "-o",
    "addopts=",
    "--rootdir",
    ROOT,
]


def _fork(
    job: t.Callable[[], int], deadline: float, verbose: bool
) -> tuple[str, float, int | None]:
    """Run ``job`` in a forked child, whose exit code it returns; kill the
    child by its PID at ``deadline`` seconds. Returns ``("exit", seconds,
    code)`` or ``("timeout", seconds, None)``."""
    started = time.perf_counter()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child
        code = 3
        try:
            if not verbose:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, 1)
                os.dup2(devnull, 2)
            code = job()
        except BaseException:  # noqa: B036 - the child must always exit
            import traceback

            traceback.print_exc()
            code = 3
        finally:
            os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return (
                "exit",
                time.perf_counter() - started,
                os.waitstatus_to_exitcode(status),
            )
        if time.perf_counter() - started > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return "timeout", time.perf_counter() - started, None
        time.sleep(0.01)


def _run_pytest(args: list[str], plugins: list[t.Any]) -> int:
    import pytest

    os.chdir(ROOT)
    return int(pytest.main([*_PYTEST_OPTIONS, *args], plugins=plugins))


def collect(selection: list[str]) -> list[str]:
    """The node ids the selection holds. Run in this process: collecting
    imports the test modules, which the children then share. Test files
    that do not exist (yet) are left out."""
    import pytest

    selection = [
        arg
        for arg in selection
        if not arg.startswith("tests/")
        or os.path.exists(os.path.join(ROOT, arg.split("::")[0]))
    ]
    for nodeid in KNOWN_FAILURES:
        selection += ["--deselect", nodeid]

    class Collector:
        def __init__(self) -> None:
            self.ids: list[str] = []

        def pytest_collection_finish(self, session: t.Any) -> None:
            # After every plugin's selection (-k, --deselect).
            self.ids = [item.nodeid for item in session.items]

    collector = Collector()
    buffer = io.StringIO()
    saved = sys.stdout
    sys.stdout = buffer
    try:
        os.chdir(ROOT)
        code = pytest.main(
            [*_PYTEST_OPTIONS, "--collect-only", *selection], plugins=[collector]
        )
    finally:
        sys.stdout = saved
    if code not in (0, 5):
        raise SystemExit(f"Collecting {selection} failed:\n{buffer.getvalue()}")
    return collector.ids


def baseline(
    module: types.ModuleType, node_ids: list[str], verbose: bool
) -> tuple[dict[str, list[int]], dict[str, float]]:
    """Run the tests once, unmutated, recording the module's lines each runs.

    :raise SystemExit: If a test fails: mutants are only judged against a
        passing suite.
    """
    filename = module.__file__ or ""
    with tempfile.NamedTemporaryFile("r", suffix=".json") as result:

        def job() -> int:
            tracer = _LineTracer(filename)
            args = [arg for arg in node_ids]
            code = _run_pytest([*args, "-p", "no:randomly"], [tracer])
            with open(result.name, "w") as file:
                json.dump(
                    {
                        "lines": tracer.lines,
                        "seconds": tracer.seconds,
                        "failed": tracer.outcomes,
                    },
                    file,
                )
            return code

        how, seconds, code = _fork(job, 900, verbose)
        data = json.load(result) if os.path.getsize(result.name) else {}
    if how != "exit" or code != 0:
        failed = ", ".join(data.get("failed", {})) or "?"
        raise SystemExit(
            f"The baseline run of {module.__name__}'s tests failed ({how}, exit"
            f" code {code}; failed: {failed}); fix the tests first (-v shows"
            " their output)."
        )
    return data["lines"], data["seconds"]


def _tests_for_module_level(
    module: types.ModuleType,
    source: str,
    mutant: Mutant,
    lines: dict[str, list[int]],
) -> list[str]:
    """The tests that may see a change to module-level code: those running
    a line that reads a changed name, or all of them if another module
    imported one (its tests need not run a line of this module)."""
    namespace: dict[str, t.Any] = {
        "__name__": module.__name__,
        "__package__": module.__package__,
        "__file__": module.__file__,
    }
    try:
        exec(compile(mutated_tree(source, mutant.index), "<mutant>", "exec"), namespace)
    except Exception:
        return list(lines)  # the module does not load: any test will do
    names = set(changed_names(module, namespace))
    for module_name, other in list(sys.modules.items()):
        if other is None or other is module:
            continue
        if not module_name.startswith(("flask_sockreq", "tests")):
            continue
        for name in names:
            if vars(other).get(name, None) is vars(module)[name]:
                return list(lines)
    readers = {
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Name)
        and node.id in names
        and not isinstance(node.ctx, ast.Store)
    }
    if names and not readers:
        # Read elsewhere only, say by an import inside a function: any test.
        return list(lines)
    return [nodeid for nodeid, hit in lines.items() if readers.intersection(hit)]


def run_mutant(
    module: types.ModuleType,
    source: str,
    mutant: Mutant,
    lines: dict[str, list[int]],
    seconds: dict[str, float],
    verbose: bool,
) -> None:
    """Run one mutant against the tests that reach it; set its status."""
    if mutant.owner is None:
        tests = _tests_for_module_level(module, source, mutant, lines)
    else:
        first, last = mutant.reach or (mutant.line, mutant.end_line)
        span = set(range(first, last + 1))
        tests = [nodeid for nodeid, hit in lines.items() if span.intersection(hit)]
    if not tests:
        mutant.status = "survived"
        mutant.detail = (
            "no test runs this line"
            if mutant.owner is not None
            else "no test reads what it changes"
        )
        return
    tests.sort(key=lambda nodeid: seconds.get(nodeid, 0.0))
    failure = _FirstFailure()
    with tempfile.NamedTemporaryFile("r", suffix=".txt") as result:

        def job() -> int:
            try:
                install_mutant(module, source, mutant)
            except Exception as exc:  # the mutated module does not load
                with open(result.name, "w") as file:
                    file.write(f"load: {type(exc).__name__}: {exc}")
                return 1
            code = _run_pytest(tests, [failure])
            with open(result.name, "w") as file:
                file.write(failure.failed or "")
            return code

        deadline = TIME_FLOOR + TIME_FACTOR * sum(seconds.get(n, 0) for n in tests)
        how, elapsed, code = _fork(job, deadline, verbose)
        detail = result.read()
    mutant.seconds = elapsed
    if how == "timeout":
        mutant.status, mutant.detail = "killed", f"timeout after {elapsed:.0f}s"
    elif code == 0:
        mutant.status, mutant.detail = "survived", f"{len(tests)} tests pass"
    elif code == 1:
        mutant.status, mutant.detail = "killed", detail
    else:
        mutant.status, mutant.detail = "error", f"pytest exit code {code}"


# --- the command --------------------------------------------------------------


def _parse_lines(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    first, _, last = text.partition("-")
    return int(first), int(last or first)


def run_module(
    name: str, args: argparse.Namespace, source_lines: dict[str, list[str]]
) -> dict[str, t.Any]:
    module = importlib.import_module(f"flask_sockreq.{name}")
    with open(module.__file__ or "", encoding="utf-8") as file:
        source = file.read()
    source_lines[name] = source.splitlines()
    mutants = list_mutants(source)
    span = _parse_lines(args.lines)
    if span is not None:
        mutants = [m for m in mutants if span[0] <= m.line <= span[1]]
    if args.index is not None:
        mutants = [m for m in mutants if m.index in args.index]
    if args.list:
        for mutant in mutants:
            print(f"{name}:{mutant.line}  #{mutant.index}  {mutant.description}")
        return {"module": name, "mutants": len(mutants)}
    if args.show is not None:
        tree = mutated_tree(source, args.show)
        mutant = list_mutants(source)[args.show]
        print(f"#{mutant.index} line {mutant.line}: {mutant.description}")
        for node in tree.body:
            first = getattr(node, "lineno", 0)
            if first <= mutant.line <= getattr(node, "end_lineno", 0):
                print(ast.unparse(node))
        return {"module": name}
    selection = TARGETS[name]
    started = time.perf_counter()
    node_ids = collect(selection)
    print(f"{name}: {len(mutants)} mutants, {len(node_ids)} tests", flush=True)
    lines, seconds = baseline(module, node_ids, args.verbose)
    print(
        f"{name}: baseline {sum(seconds.values()):.1f}s of tests,"
        f" {sum(1 for hit in lines.values() if hit)} reach the module",
        flush=True,
    )
    budget_end = started + args.budget
    for position, mutant in enumerate(mutants, 1):
        if time.perf_counter() > budget_end:
            mutant.status, mutant.detail = "skipped", "over the time budget"
            continue
        run_mutant(module, source, mutant, lines, seconds, args.verbose)
        if position % 50 == 0:
            print(f"  ... {position}/{len(mutants)}", flush=True)
        if args.verbose or mutant.status != "killed":
            print(
                f"  [{position}/{len(mutants)}] {mutant.status:8} line"
                f" {mutant.line}: {mutant.description}  ({mutant.detail})",
                flush=True,
            )
    return report(name, mutants, source_lines[name], time.perf_counter() - started)


def report(
    name: str, mutants: list[Mutant], source: list[str], seconds: float
) -> dict[str, t.Any]:
    counts = {
        status: sum(1 for m in mutants if m.status == status)
        for status in ("killed", "survived", "error", "skipped")
    }
    judged = counts["killed"] + counts["survived"]
    score = 100.0 * counts["killed"] / judged if judged else 100.0
    print(
        f"\n== {name}: {len(mutants)} mutants, {counts['killed']} killed,"
        f" {counts['survived']} survived, {counts['error']} errors,"
        f" {counts['skipped']} skipped; score {score:.1f}%"
        f" ({100 - score:.1f}% survive) in {seconds:.0f}s"
    )
    for mutant in mutants:
        if mutant.status in ("survived", "error"):
            text = source[mutant.line - 1].strip()
            print(
                f"   {mutant.status} #{mutant.index} line {mutant.line}:"
                f" {mutant.description}  [{mutant.detail}]\n        {text}"
            )
    return {
        "module": name,
        "mutants": len(mutants),
        **counts,
        "score": round(score, 1),
        "seconds": round(seconds, 1),
        "survivors": [
            dataclasses.asdict(m) for m in mutants if m.status in ("survived", "error")
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "modules",
        nargs="*",
        help=f"of {', '.join(TARGETS)} (default: {', '.join(DEFAULT_MODULES)})",
    )
    parser.add_argument("--all", action="store_true", help="codec and streams too")
    parser.add_argument("--list", action="store_true", help="list the mutants only")
    parser.add_argument("--show", type=int, help="print the code of one mutant")
    parser.add_argument("--lines", help="only the mutants on these lines: 10-20")
    parser.add_argument(
        "--index", type=int, action="append", help="only this mutant (repeatable)"
    )
    parser.add_argument(
        "--budget", type=float, default=1800.0, help="seconds per module (1800)"
    )
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="show pytest output"
    )
    args = parser.parse_args(argv)
    names = args.modules or list(TARGETS if args.all else DEFAULT_MODULES)
    unknown = [name for name in names if name not in TARGETS]
    if unknown:
        parser.error(
            f"unknown module(s) {', '.join(unknown)}; pick from {', '.join(TARGETS)}"
        )
    source_lines: dict[str, list[str]] = {}
    results = [run_module(name, args, source_lines) for name in names]
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)
    if len(results) > 1 and not (args.list or args.show is not None):
        print("\nmodule        mutants  killed  survived  score")
        for result in results:
            print(
                f"{result['module']:<13} {result['mutants']:>7} {result['killed']:>7}"
                f" {result['survived']:>9} {result['score']:>5.1f}%"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
