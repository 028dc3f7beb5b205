"""Read a released engine's own code from an unpacked wheel, without importing the package.

xfuser's and vLLM-Omni's packages import torch, vllm, yunchang, distvae... at module
level, so most of their code cannot be imported on a CPU machine. Two ways to use
their real code anyway, both standard library only:

* ``extract(root, module, names)``: the source of the named top-level functions and
  classes (or ``Class.method``) plus everything they reference, followed name by
  name through the module's own definitions and its imports from the same package,
  executed in a fresh namespace. Standard-library imports are kept; a name that
  leads anywhere else (torch, vllm, yaml...) is left out, so code that really
  uses it fails with NameError instead of running against a substitute.
* ``dataclass_fields`` / ``string_constants`` / ``registered_names``: facts read
  from the syntax tree (field names, string literals, decorator arguments).
"""

from __future__ import annotations

import ast
import builtins
import sys
import textwrap
import types
from pathlib import Path
from typing import Any

STDLIB = set(sys.stdlib_module_names)


class Module:
    """One module of the unpacked package: its syntax tree and top-level names."""

    def __init__(self, root: Path, dotted: str) -> None:
        self.dotted = dotted
        base = root.joinpath(*dotted.split("."))
        self.path = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
        self.text = self.path.read_text(encoding="utf-8")
        self.tree = ast.parse(self.text, filename=str(self.path))
        self.future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in self.tree.body)
        self.defs: dict[str, ast.stmt] = {}
        self.imports: dict[str, tuple[str, str | None]] = {}  # name -> (module, attribute or None)
        for node in self.tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.defs[node.name] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        self.defs[target.id] = node
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                self.defs[node.target.id] = node
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    self.imports[alias.asname or alias.name.split(".")[0]] = (alias.name, None)
            elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
                source = self.resolve(node.module, node.level)
                for alias in node.names:
                    self.imports[alias.asname or alias.name] = (source, alias.name)

    def resolve(self, module: str | None, level: int) -> str:
        if level == 0:
            return module or ""
        parts = self.dotted.split(".")
        if not self.path.name == "__init__.py":
            parts = parts[:-1]
        parts = parts[: len(parts) - (level - 1)]
        return ".".join(parts + ([module] if module else []))

    def line(self, name: str) -> int:
        return self.defs[name].lineno


def _used_names(node: ast.AST) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}


def _method(module: Module, cls: str, name: str) -> ast.FunctionDef:
    for node in module.defs[cls].body:  # type: ignore[attr-defined]
        if isinstance(node, ast.FunctionDef) and node.name == name:
            return node
    raise KeyError(f"{module.dotted}.{cls} has no method {name}")


def extract(root: Path, module: str, names: list[str], provided: dict[str, Any] | None = None) -> dict[str, Any]:
    """Execute the named definitions of `module` (and what they need) from the
    package under `root`; returns the namespace. "Class.method" takes one method
    out of its class as a plain function named "method". `provided` names are
    the caller's (not followed into the package): for a name whose definition
    cannot run here, e.g. a logger factory or a class holding only defaults."""
    provided = dict(provided or {})
    package = module.split(".")[0]
    modules: dict[str, Module] = {}

    def get(dotted: str) -> Module:
        if dotted not in modules:
            modules[dotted] = Module(root, dotted)
        return modules[dotted]

    stdlib_imports: set[str] = set()
    seen: set[tuple[str, str]] = set()
    order: list[tuple[str, int, str]] = []  # (module, line, source), dependencies first

    def visit(dotted: str, name: str) -> None:
        if (dotted, name) in seen or name in provided:
            return
        seen.add((dotted, name))
        mod = get(dotted)
        if "." in name:
            cls, meth = name.split(".", 1)
            node: ast.AST = _method(mod, cls, meth)
            source = textwrap.dedent(ast.get_source_segment(mod.text, node) or "")
        elif name in mod.defs:
            node = mod.defs[name]
            source = ast.get_source_segment(mod.text, node) or ""
            decorators = getattr(node, "decorator_list", [])
            if decorators:
                first = min(d.lineno for d in decorators)
                lines = mod.text.splitlines()[first - 1 : node.end_lineno]
                source = "\n".join(lines)
        elif name in mod.imports:
            source_module, attr = mod.imports[name]
            top = source_module.split(".")[0]
            if top in STDLIB:
                stdlib_imports.add(
                    f"import {source_module} as {name}" if attr is None
                    else f"from {source_module} import {attr} as {name}"
                )
            elif top == package and attr is not None:
                visit(source_module, attr)
                if attr != name:
                    order.append((dotted, 10**9, f"{name} = {attr}"))
            return  # anything else (torch, vllm, yaml, ...) is left out on purpose
        else:
            return
        for used in sorted(_used_names(node)):
            if used != name and not hasattr(builtins, used):
                visit(dotted, used)
        order.append((dotted, getattr(node, "lineno", 0), source))

    for name in names:
        visit(module, name)
    future = any(m.future for m in modules.values())
    header = ["from __future__ import annotations"] if future else []
    code = "\n".join(header + sorted(stdlib_imports) + [""] + [c[2] + "\n" for c in order])
    # A real module in sys.modules: dataclasses looks its string annotations up there.
    holder = types.ModuleType(f"_wheel_source_{len(sys.modules)}_{module.replace('.', '_')}")
    sys.modules[holder.__name__] = holder
    holder.__dict__.update(provided)
    exec(compile(code, f"<extracted from {module}>", "exec"), holder.__dict__)  # noqa: S102 - the wheel's own code
    return holder.__dict__


# ------------------------------------------------------------- syntax-tree facts


def class_node(root: Path, module: str, cls: str) -> tuple[Module, ast.ClassDef]:
    mod = Module(root, module)
    node = mod.defs.get(cls)
    if not isinstance(node, ast.ClassDef):
        raise KeyError(f"{module} has no class {cls}")
    return mod, node


def dataclass_fields(root: Path, module: str, cls: str) -> dict[str, int]:
    """Annotated class-level names of a dataclass (its fields), with their line
    numbers. ClassVar annotations are not fields and are left out."""
    _, node = class_node(root, module, cls)
    out: dict[str, int] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            out[stmt.target.id] = stmt.lineno
    return out


def string_constants(root: Path, module: str, function: str) -> set[str]:
    """Every string literal in one top-level function."""
    mod = Module(root, module)
    node = mod.defs[function]
    return {n.value for n in ast.walk(node) if isinstance(n, ast.Constant) and isinstance(n.value, str)}


def registered_names(root: Path, package_dir: str) -> dict[str, tuple[str, str, int]]:
    """``@register_model("key")`` decorators in every module of a folder:
    key -> (module file name, class name, line)."""
    out: dict[str, tuple[str, str, int]] = {}
    for path in sorted((root / package_dir).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            for dec in node.decorator_list:
                if (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Name) and dec.func.id == "register_model"
                        and dec.args and isinstance(dec.args[0], ast.Constant)):
                    out[str(dec.args[0].value)] = (path.name, node.name, dec.lineno)
    return out
