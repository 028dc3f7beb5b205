"""The metric plugin protocol's plumbing (docs/metrics.md), standard library only.

compat starts a plugin once per ``compat analyze`` with the path of a JSON-lines
file of items and the path where it wants a JSON-lines file of values:

    {"index": 0, "config": "teacache", "prompt_index": 0, "prompt": "...",
     "image": "/abs/teacache/prompt_00.png", "reference": "/abs/baseline/prompt_00.png"}
 ->
    {"event": "settings", "plugin": "lpips", ...}        (optional, first)
    {"index": 0, "value": 0.0123}
    {"index": 1, "error": "image sizes differ: 64x64 vs 32x32"}

A plugin measures; compat judges. Each shipped plugin imports its network late,
in one place (``require``), and never waits on a network that is not there
(``offline``).
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import socket
import sys

# A plugin that cannot run at all (a package missing, weights missing) exits
# with this code and one line on stderr saying what to do; compat shows it.
CANNOT_RUN = 3


def fail(message: str) -> "NoReturn":  # noqa: F821
    """Stops the plugin with one clear line (compat quotes the last line)."""
    print(message, file=sys.stderr, flush=True)
    sys.exit(CANNOT_RUN)


def require(module: str, package: str):
    """Imports an optional package, or stops saying what to install."""
    try:
        return importlib.import_module(module)
    except ImportError as e:
        fail(
            f"cannot import {module} ({e}): install {package}, e.g. scripts/metrics-venv.sh "
            "(then the shipped [metrics.*] entries find it)"
        )


def offline(download: bool) -> None:
    """Without ``--download``, nothing is fetched: the Hugging Face libraries
    are told they are offline, so a missing file is an error at once, never a
    hang on a network that is not there. With it, a stalled connection times
    out instead of hanging."""
    if not download:
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
    socket.setdefaulttimeout(60)


def arguments(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--items", required=True, help="the items file compat wrote ({items})")
    p.add_argument("--values", required=True, help="where to write the values ({values})")
    p.add_argument("--device", default="auto", help="torch device: auto (CUDA when there is one), cpu, cuda:0")
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch missing weights (default: use the local caches only, fail at once when they are missing)",
    )
    return p


def read_items(path: str) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


class Values:
    """The answer file: one line per item, written as each item is measured."""

    def __init__(self, path: str):
        self._f = open(path, "w", encoding="utf-8")

    def settings(self, **fields) -> None:
        self._write({"event": "settings", **fields})

    def value(self, index: int, value: float) -> None:
        value = float(value)
        if not math.isfinite(value):
            self.error(index, f"the network gave {value}")
            return
        self._write({"index": index, "value": value})

    def error(self, index: int, message: str) -> None:
        self._write({"index": index, "error": message})

    def _write(self, obj: dict) -> None:
        self._f.write(json.dumps(obj, allow_nan=False) + "\n")
        self._f.flush()

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "Values":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def device(torch, name: str):
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def load_rgb(path: str):
    """The image as an RGB PIL image (decoded from the file compat named)."""
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")
