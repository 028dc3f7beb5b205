#!/usr/bin/env python3
"""Regenerate the stand-in xfuser's model table from a released xfuser wheel.

    python3 tests/python/gen_xfuser_standin.py "$(scripts/engine-wheels.sh --path)/xfuser-0.7.0" \
        > tests/python/standin/xfuser/model_executor/models/runner_models/released_models.py

Reads xfuser/model_executor/models/runner_models/*.py with ast (nothing is
imported): every @register_model class, its ModelCapabilities, DefaultInputValues,
ModelSettings (names, output type, the step_cache_config methods) -- following
class inheritance inside the package -- and where each is declared.
tests/python/test_released_engines.py runs this against the pinned wheel and
compares the result with the committed table, so the stand-in cannot drift from
the release it claims to be.
"""

from __future__ import annotations

import ast
import pprint
import sys
from pathlib import Path

RUNNER_MODELS = "xfuser/model_executor/models/runner_models"


def _kwargs(call: ast.Call) -> dict:
    out = {}
    for kw in call.keywords:
        try:
            out[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            out[kw.arg] = ast.unparse(kw.value)
    return out


def _cache_methods(node: ast.AST) -> list[str] | None:
    if isinstance(node, ast.Dict):
        return [k.value for k in node.keys if isinstance(k, ast.Constant)]
    if isinstance(node, ast.Constant) and node.value is None:
        return None
    return None


def read_classes(root: Path) -> dict[str, dict]:
    classes: dict[str, dict] = {}
    for path in sorted((root / RUNNER_MODELS).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                     and isinstance(n.value, ast.Constant) for t in n.targets if isinstance(t, ast.Name)}
        for node in tree.body:
            if not isinstance(node, ast.ClassDef):
                continue
            info: dict = {"file": path.name, "line": node.lineno, "bases": [ast.unparse(b) for b in node.bases],
                          "keys": [], "attrs": {}}
            for dec in node.decorator_list:
                if isinstance(dec, ast.Call) and getattr(dec.func, "id", "") == "register_model":
                    arg = dec.args[0]
                    info["keys"].append(arg.value if isinstance(arg, ast.Constant) else constants[arg.id])
            for stmt in node.body:
                if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
                    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else stmt.target
                    value = stmt.value
                    if not isinstance(target, ast.Name) or value is None:
                        continue
                    if isinstance(value, ast.Call) and getattr(value.func, "id", "") in (
                            "ModelCapabilities", "DefaultInputValues", "ModelSettings"):
                        kw = _kwargs(value)
                        if value.func.id == "ModelSettings":
                            scc = next((k.value for k in value.keywords if k.arg == "step_cache_config"), None)
                            kw = {k: v for k, v in kw.items() if k in ("model_name", "output_name", "model_output_type")}
                            if scc is not None:
                                kw["step_cache_config"] = _cache_methods(scc)
                        info["attrs"][target.id] = kw
                    elif target.id in ("model_output_type",) and isinstance(value, ast.Constant):
                        info["attrs"]["model_output_type"] = value.value
            # self.settings.step_cache_config = {...} in a method (wan.py)
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assign) and ast.unparse(sub.targets[0]) == "self.settings.step_cache_config":
                    info["attrs"]["customized_step_cache_config"] = _cache_methods(sub.value)
            classes[node.name] = info
    return classes


def resolve(classes: dict[str, dict], name: str, attr: str):
    info = classes.get(name)
    if info is None:
        return None
    if attr in info["attrs"]:
        return info["attrs"][attr]
    for base in info["bases"]:
        found = resolve(classes, base, attr)
        if found is not None:
            return found
    return None


def table(root: Path) -> list[dict]:
    classes = read_classes(root)
    rows = []
    for name, info in classes.items():
        if not info["keys"]:
            continue
        settings = resolve(classes, name, "settings") or {}
        output_type = settings.get("model_output_type") or resolve(classes, name, "model_output_type")
        cache = resolve(classes, name, "customized_step_cache_config")
        if cache is None:
            cache = settings.get("step_cache_config")
        rows.append({
            "class": name,
            "file": info["file"],
            "line": info["line"],
            "keys": info["keys"],
            "model_name": settings.get("model_name"),
            "output_type": output_type,
            "capabilities": resolve(classes, name, "capabilities") or {},
            "defaults": resolve(classes, name, "default_input_values") or {},
            "step_cache_config": cache or [],
        })
    return rows


def main() -> int:
    root = Path(sys.argv[1])
    version = (root / "xfuser" / "__version__.py").read_text(encoding="utf-8").split("'")[1]
    print('"""GENERATED by tests/python/gen_xfuser_standin.py from the released xfuser wheel:')
    print(f"xfuser {version} (xfuser-{version}-py3-none-any.whl), {RUNNER_MODELS}/*.py.")
    print("Do not edit: regenerate (test_released_engines.py checks it matches the wheel).")
    print('"""')
    print()
    print(f"VERSION = {version!r}")
    print(f"WHEEL = {'xfuser-' + version + '-py3-none-any.whl'!r}")
    print()
    print("MODELS = " + pprint.pformat(table(root), width=110, sort_dicts=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())

