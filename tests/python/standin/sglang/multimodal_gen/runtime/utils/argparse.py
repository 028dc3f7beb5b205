"""STAND-IN of sglang/multimodal_gen/runtime/utils/argparse.py (0.5.23):
StoreBoolean and FlexibleArgumentParser behave as the release's (underscores
in an option name read as dashes; a StoreBoolean value other than true/false
is a ValueError), and the parsers are rebuilt action by action from the
release's own tables (released.py)."""

import argparse
import json

from sglang.multimodal_gen import released


class StoreBoolean(argparse.Action):
    def __init__(self, option_strings, dest, default=False, required=False, help=None):
        super().__init__(option_strings=option_strings, dest=dest, nargs="?", const=True,
                         default=default, required=required, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        if values is None:
            setattr(namespace, self.dest, True)
        elif isinstance(values, str):
            if values.lower() == "true":
                setattr(namespace, self.dest, True)
            elif values.lower() == "false":
                setattr(namespace, self.dest, False)
            else:
                raise ValueError(f"Invalid boolean value: {values}. Expected 'true' or 'false'.")
        else:
            setattr(namespace, self.dest, bool(values))


class FlexibleArgumentParser(argparse.ArgumentParser):
    """ArgumentParser that allows both underscore and dash in names."""

    def parse_args(self, args=None, namespace=None):  # type: ignore[override]
        import sys

        if args is None:
            args = sys.argv[1:]
        processed = []
        for arg in args:
            if arg.startswith("--"):
                if "=" in arg:
                    key, value = arg.split("=", 1)
                    processed.append("--" + key[2:].replace("_", "-") + "=" + value)
                else:
                    processed.append("--" + arg[2:].replace("_", "-"))
            else:
                processed.append(arg)
        return super().parse_args(processed, namespace)


TYPES = {"int": int, "float": float, "str": str, "loads": json.loads, None: None}


def add_released_actions(parser, table):
    """Every action of one of the release's add_cli_args, as the release adds it."""
    for a in table:
        default = argparse.SUPPRESS if a["default"] == "==SUPPRESS==" else a["default"]
        kind = a["action"]
        common = {"dest": a["dest"], "default": default, "required": a["required"]}
        if kind == "StoreBoolean":
            parser.add_argument(*a["options"], action=StoreBoolean, **common)
        elif kind == "_StoreTrueAction":
            parser.add_argument(*a["options"], action="store_true", **common)
        elif kind == "_StoreFalseAction":
            parser.add_argument(*a["options"], action="store_false", **common)
        elif kind == "_StoreAction":
            parser.add_argument(*a["options"], nargs=a["nargs"], const=a["const"], type=TYPES[a["type"]],
                                choices=a["choices"], **common)
        else:
            raise NotImplementedError(f"stand-in: action {kind} of {a['options']}")
    return parser


__all__ = ["FlexibleArgumentParser", "StoreBoolean", "add_released_actions", "released"]
