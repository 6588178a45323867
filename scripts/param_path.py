"""Follow a flow's parameters through the code: which modules they cross, how often they climb.

Usage: `python scripts/param_path.py [--object] [ROOT] [MODULE:FUNCTION]` (default: this
checkout and `cnnlstm.flows.daily_timing:daily_timing_flow`). `--object` follows only the
parameters object itself (held directly, or in a field named `params`), not its values: which
modules must know the flow's parameter class.

A static, approximate trace over the source (nothing is imported): starting at the flow with
its `params` argument tainted, every call that receives a parameter (the parameters object, one
of its fields, a value one of its methods returns, or a project model built from them) and
resolves to a function of this project is followed, with the callee's matching parameters
tainted; a name assigned such a value carries it on. What a computation makes from a parameter
(a frame, a stage's result) is data, not the parameter, and is not followed.
A stage called through a runner (`run(stage, ...)`, `run.submit(stage, ...)`) counts as a call
of the stage. A *climb* is a call from a module to one on a higher floor (the floors and the
inner layers of `pyproject.toml`'s import contracts: cli > flows > infra > tasks > models |
schemas > core). Calls into other packages, dynamic dispatch and callbacks passed as values are
not followed, so the counts are a lower bound, comparable between two checkouts.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

FOLDERS = {"flows": "flows", "tasks": "tasks", "models": "models", "schemas": "schemas"}
OUTER = ["core", "models", "schemas", "tasks", "infra", "flows", "cli"]
INNER = {
    "flows": ["params", "export", "lineage", "stages", "live", "book", "*", "sweep"],
    "tasks": ["data", "backtest", "features", "strategy", "training", "live", "report"],
}
HELPERS = {"live", "sweep_grid", "runners", "ops", "automations", "checks"}


def module_file(root: Path, module: str) -> Path | None:
    """The source file of a `cnnlstm.*` module in the checkout at `root`."""
    parts = module.split(".")[1:]
    if not parts:
        return None
    base = root / FOLDERS[parts[0]] if parts[0] in FOLDERS else root / "cnnlstm" / parts[0]
    path = base.joinpath(*parts[1:])
    for candidate in (path.with_suffix(".py"), path / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def floor(module: str) -> tuple[int, int]:
    """(floor, inner layer) of a module; higher is further up."""
    parts = module.split(".")[1:] + ["", ""]
    outer = OUTER.index(parts[0]) if parts[0] in OUTER else 0
    layers = INNER.get(parts[0])
    if not layers:
        return outer, 0
    name = "live" if parts[0] == "flows" and parts[1] in HELPERS else parts[1]
    if parts[0] == "flows" and name not in layers:
        name = "*"  # the flows' own modules
    return outer, layers.index(name) if name in layers else 0


class Module:
    """One parsed module: its imports, functions and classes."""

    def __init__(self, name: str, path: Path) -> None:
        self.name = name
        tree = ast.parse(path.read_text())
        self.imports: dict[str, tuple[str, str | None]] = {}
        self.functions: dict[str, ast.FunctionDef] = {}
        self.classes: dict[str, ast.ClassDef] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cnnlstm"):
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (node.module, alias.name)
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                self.functions[node.name] = node
            elif isinstance(node, ast.ClassDef):
                self.classes[node.name] = node


class Tracer:
    """The trace from one function: visited functions and the call edges between modules."""

    def __init__(self, root: Path, *, object_only: bool = False) -> None:
        self.root = root
        self.object_only = object_only
        self.modules: dict[str, Module | None] = {}
        self.seen: set[tuple[str, str, frozenset[str]]] = set()
        self.edges: set[tuple[str, str]] = set()
        self.visited: set[str] = set()

    def module(self, name: str) -> Module | None:
        """The parsed module `name` (None: not a file of this checkout)."""
        if name not in self.modules:
            path = module_file(self.root, name)
            self.modules[name] = Module(name, path) if path else None
        return self.modules[name]

    def resolve(self, mod: Module, name: str) -> tuple[Module, ast.AST] | None:
        """A name of `mod` as (module, function or class node), through its imports."""
        for _ in range(5):
            if name in mod.functions:
                return mod, mod.functions[name]
            if name in mod.classes:
                return mod, mod.classes[name]
            if name not in mod.imports:
                return None
            source, attr = mod.imports[name]
            sub = self.module(f"{source}.{attr}")
            if sub is not None and attr not in (self.module(source) or sub).functions:
                return (sub, None) if sub else None  # a module imported by name
            nxt = self.module(source)
            if nxt is None:
                return None
            mod, name = nxt, attr
        return None

    def method(self, mod: Module, cls: ast.ClassDef, name: str) -> tuple[Module, ast.AST] | None:
        """A method of `cls` or of its project bases."""
        for node in cls.body:
            if isinstance(node, ast.FunctionDef) and node.name == name:
                return mod, node
        for base in cls.bases:
            found = self.resolve(mod, base.id) if isinstance(base, ast.Name) else None
            if found and isinstance(found[1], ast.ClassDef):
                hit = self.method(found[0], found[1], name)
                if hit:
                    return hit
        return None

    def trace(self, mod: Module, fn: ast.FunctionDef, tainted: set[str], types: dict) -> None:
        """Follow the tainted names of `fn` into every project function they are passed to."""
        key = (mod.name, fn.name, frozenset(tainted))
        if key in self.seen:
            return
        self.seen.add(key)
        self.visited.add(mod.name)
        for node in ast.walk(fn):
            assigned = isinstance(node, (ast.Assign, ast.AnnAssign, ast.NamedExpr))
            if assigned and node.value and self.carries(mod, node.value, tainted):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    tainted |= {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}
        for node in ast.walk(fn):
            if isinstance(node, ast.Call):
                self.call(mod, node, tainted, types)

    def carries(self, mod: Module, expr: ast.AST, tainted: set[str]) -> bool:
        """Whether `expr` is a parameter value (see the module docstring)."""
        if isinstance(expr, ast.Name):
            return expr.id in tainted
        if self.object_only and isinstance(expr, ast.Attribute):
            return expr.attr == "params" and self.carries(mod, expr.value, tainted)
        if self.object_only and isinstance(expr, ast.Subscript):
            return False
        if isinstance(expr, (ast.Attribute, ast.Subscript)):
            return self.carries(mod, expr.value, tainted)
        if isinstance(expr, (ast.Tuple, ast.List, ast.Set)):
            return any(self.carries(mod, e, tainted) for e in expr.elts)
        if isinstance(expr, ast.IfExp):
            return self.carries(mod, expr.body, tainted) or self.carries(mod, expr.orelse, tainted)
        if isinstance(expr, ast.BoolOp):
            return any(self.carries(mod, e, tainted) for e in expr.values)
        if isinstance(expr, ast.Call):
            method_of = isinstance(expr.func, ast.Attribute) and not self.object_only
            if method_of and self.carries(mod, expr.func.value, tainted):
                return True  # a method of the parameters: a value derived from them
            found = self.resolve(mod, expr.func.id) if isinstance(expr.func, ast.Name) else None
            if found and isinstance(found[1], ast.ClassDef):  # a model built from parameters
                values = [*expr.args, *(k.value for k in expr.keywords)]
                return any(self.carries(mod, v, tainted) for v in values)
        return False

    def call(self, mod: Module, node: ast.Call, tainted: set[str], types: dict) -> None:
        """Follow one call of `mod` if it passes a parameter value to a project function."""
        func, args = node.func, list(node.args)
        target = None
        runner = isinstance(func, ast.Name) and func.id == "run"
        if args and (runner or isinstance(func, ast.Attribute) and func.attr == "submit"):
            func, args = args[0], args[1:]  # a stage called through a runner
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            owner = func.value.id
            if owner in tainted and owner in types:  # a method of a tainted object
                target = self.method(*types[owner], func.attr)
                if target:
                    bound = self.bound(mod, target[1], args, node, tainted)
                    self.enter(mod, target, {"self"} | bound)
                return
            found = self.resolve(mod, owner)
            if found and found[1] is None:  # module.function
                target = self.resolve(found[0], func.attr)
        elif isinstance(func, ast.Name):
            target = self.resolve(mod, func.id)
        if target is None or not isinstance(target[1], ast.FunctionDef):
            return
        if isinstance(target[1], ast.FunctionDef):
            bound = self.bound(mod, target[1], args, node, tainted)
        else:
            bound = set()
        if bound:
            self.enter(mod, target, bound)

    def bound(
        self, mod: Module, fn: ast.FunctionDef, args: list, call: ast.Call, tainted: set[str]
    ) -> set[str]:
        """The callee's parameters that receive a parameter value."""
        names = [a.arg for a in fn.args.args if a.arg != "self"]
        carried = [i for i, a in enumerate(args) if self.carries(mod, a, tainted)]
        bound = {names[i] for i in carried if i < len(names)}
        return bound | {
            k.arg for k in call.keywords if k.arg and self.carries(mod, k.value, tainted)
        }

    def enter(self, caller: Module, target: tuple[Module, ast.FunctionDef], bound: set) -> None:
        """Record the call edge and trace the callee with its `bound` parameters tainted."""
        callee, fn = target
        if callee.name != caller.name:
            self.edges.add((caller.name, callee.name))
        types = {}
        for arg in fn.args.args:
            ann = arg.annotation
            if arg.arg == "self":
                cls = _owner_class(callee, fn)
                if cls is not None:
                    types["self"] = (callee, cls)
            elif isinstance(ann, ast.Name):
                found = self.resolve(callee, ann.id)
                if found and isinstance(found[1], ast.ClassDef):
                    types[arg.arg] = found
        self.trace(callee, fn, set(bound), types)


def _owner_class(mod: Module, fn: ast.FunctionDef) -> ast.ClassDef | None:
    for cls in mod.classes.values():
        if fn in cls.body:
            return cls
    return None


def main(argv: list[str]) -> int:
    """Print the trace's module count, climbs, modules and climbing calls."""
    object_only = "--object" in argv
    argv = [a for a in argv if a != "--object"]
    root = Path(argv[1]) if len(argv) > 1 else Path(__file__).resolve().parents[1]
    spec = argv[2] if len(argv) > 2 else "cnnlstm.flows.daily_timing:daily_timing_flow"
    module, function = spec.split(":")
    tracer = Tracer(root, object_only=object_only)
    start = tracer.module(module)
    fn = start.functions[function]
    param = fn.args.args[0]
    types = {}
    if isinstance(param.annotation, ast.Name):
        found = tracer.resolve(start, param.annotation.id)
        if found and isinstance(found[1], ast.ClassDef):
            types[param.arg] = found
    tracer.trace(start, fn, {param.arg}, types)
    climbs = sorted((a, b) for a, b in tracer.edges if floor(b) > floor(a))
    print(f"{spec}: {len(tracer.visited)} modules, {len(climbs)} climbs")
    for name in sorted(tracer.visited):
        print(f"  {name}")
    for a, b in climbs:
        print(f"  climb: {a} -> {b}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
