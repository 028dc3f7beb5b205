"""SGLang-diffusion's own command-line parsers, from the released wheel, without importing sglang.

``import sglang.multimodal_gen.runtime.server_args`` does not work on a CPU test
machine: the package imports sglang/srt/utils/common.py, which needs orjson
(then zmq, psutil, torch, ...) -- checked with the diffusers venv (CPU torch)
and with plain python3. So, as tests/python/wheel_source.py does for xfuser, the
parsers are EXTRACTED from the wheel's source with ast and executed:

* ``FlexibleArgumentParser`` and ``StoreBoolean``
  (sglang/multimodal_gen/runtime/utils/argparse.py), verbatim;
* ``ServerArgs.add_cli_args`` (runtime/server_args/server_args.py:2245-3366) and
  ``DisaggServerArgsMixin.add_disagg_cli_args`` (server_args/disagg.py:100-),
  verbatim, with ``ServerArgs`` standing for a holder of the dataclass fields'
  defaults (read from the syntax tree; the parser only reads them as defaults);
* ``SamplingParams.add_cli_args`` (configs/sample/sampling_params.py:1122-),
  verbatim;
* ``PipelineConfig.add_cli_args`` and ``NunchakuSVDQuantArgs.add_cli_args`` are
  NOT run (they need torch-bound config classes): their flags (the
  ``--pipeline-config.*`` / nunchaku options) are absent, so a flag compat
  passes from them would be refused here -- stricter than the engine, never
  looser. ``LEFT_OUT`` names them.

The same way ``sglang generate`` builds its parser
(runtime/entrypoints/cli/generate.py:61-96): ServerArgs' flags, then
SamplingParams'.
"""

from __future__ import annotations

import argparse
import ast
import logging
from pathlib import Path
from typing import Any

import wheel_source

SERVER_ARGS = "sglang.multimodal_gen.runtime.server_args.server_args"
DISAGG = "sglang.multimodal_gen.runtime.server_args.disagg"
SAMPLING = "sglang.multimodal_gen.configs.sample.sampling_params"
ARGPARSE = "sglang.multimodal_gen.runtime.utils.argparse"
LEFT_OUT = ("PipelineConfig.add_cli_args", "NunchakuSVDQuantArgs.add_cli_args")


def version(root: Path) -> str:
    text = (root / "sglang" / "_version.py").read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "__version__" for t in node.targets):
            value = node.value
            while isinstance(value, ast.Assign):  # __version__ = version = '0.5.23'
                value = value.value
            return str(ast.literal_eval(value))
    raise ValueError(f"no __version__ in {root}/sglang/_version.py")


def field_defaults(root: Path, module: str, cls: str) -> dict[str, Any]:
    """Every field of a dataclass with its default: a literal as is, an
    expression of the module's own names (``Backend.AUTO``) evaluated with
    those names extracted from the wheel; None for a default_factory or an
    expression that cannot be evaluated here."""
    _, node = wheel_source.class_node(root, module, cls)
    out: dict[str, Any] = {}
    for stmt in node.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            if "ClassVar" in ast.unparse(stmt.annotation):
                continue
            value = None
            if stmt.value is not None and not (isinstance(stmt.value, ast.Call)
                                               and ast.unparse(stmt.value.func) == "field"):
                try:
                    value = ast.literal_eval(stmt.value)
                except ValueError:
                    names = sorted({n.id for n in ast.walk(stmt.value) if isinstance(n, ast.Name)})
                    try:
                        ns = wheel_source.extract(root, module, names)
                        value = eval(compile(ast.Expression(stmt.value), "<default>", "eval"), ns)  # noqa: S307
                    except Exception:  # noqa: BLE001 - not evaluable without the engine
                        value = None
            out[stmt.target.id] = value
    return out


def _argparse_ns(root: Path) -> dict[str, Any]:
    return wheel_source.extract(
        root, ARGPARSE, ["FlexibleArgumentParser", "StoreBoolean"],
        provided={"init_logger": logging.getLogger},
    )


def parsers(root: Path) -> tuple[Any, Any, Any]:
    """(FlexibleArgumentParser class, add_server_args(parser), add_sampling_args(parser))."""
    base = _argparse_ns(root)
    flexible, store_boolean = base["FlexibleArgumentParser"], base["StoreBoolean"]
    common = {"FlexibleArgumentParser": flexible, "StoreBoolean": store_boolean,
              "init_logger": logging.getLogger}

    class _Skipped:
        @staticmethod
        def add_cli_args(parser: Any, *args: Any, **kwargs: Any) -> Any:
            return parser

    disagg = wheel_source.extract(root, DISAGG, ["DisaggServerArgsMixin.add_disagg_cli_args"], provided=dict(common))
    holder = type("ServerArgsDefaults", (), field_defaults(root, SERVER_ARGS, "ServerArgs"))
    holder.add_disagg_cli_args = classmethod(disagg["add_disagg_cli_args"])  # type: ignore[attr-defined]
    server = wheel_source.extract(
        root, SERVER_ARGS, ["ServerArgs.add_cli_args"],
        provided=dict(common, ServerArgs=holder, PipelineConfig=_Skipped, NunchakuSVDQuantArgs=_Skipped),
    )
    sampling = wheel_source.extract(root, SAMPLING, ["SamplingParams.add_cli_args"], provided=dict(common))
    return flexible, server["add_cli_args"], sampling["add_cli_args"]


def generate_parser(root: Path) -> Any:
    """The wheel's parser as `sglang generate` builds it (server, then sampling flags)."""
    flexible, add_server, add_sampling = parsers(root)
    parser = flexible(prog="sglang-0.5.23-extracted")
    add_server(parser)
    add_sampling(parser)
    return parser


PLAIN = (str, int, float, bool, type(None))


def plain(value: Any) -> Any:
    """A value as plain data: an enum member (even a str one) or any other
    object by its repr, lists and tuples element-wise."""
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value if type(value) in PLAIN else repr(value)


def describe(parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """Every action as plain data: what the stand-in's parser is rebuilt from."""
    out = []
    for a in parser._actions:
        if isinstance(a, argparse._HelpAction):
            continue
        default = a.default
        if default is argparse.SUPPRESS:
            default = "==SUPPRESS=="
        out.append({
            "options": list(a.option_strings),
            "dest": a.dest,
            "action": type(a).__name__,
            "nargs": a.nargs,
            "const": plain(a.const),
            "default": plain(default),
            "type": getattr(a.type, "__name__", None) if a.type is not None else None,
            "choices": [plain(c) for c in a.choices] if a.choices else None,
            "required": a.required,
        })
    return out
