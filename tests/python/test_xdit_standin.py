"""The stand-in xfuser behaves as xDiT 175e0bf does where the xDiT adapter relies on it.

These pin down what the stand-in claims about the real code (file:line of
xdit-project/xDiT at 175e0bfec974d0b44a0be9fa511df2f9f5ead080), so a change to
the stand-in that drifts from xDiT shows up here rather than as a test of the
adapter passing for the wrong reason. They run in a child process: the stand-in
imports the stand-in torch, which must not leak into this interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
PATHS = [HERE / "standin_torch", HERE / "standin"]

PROBE = r"""
import json, os
os.environ.update(RANK="0", WORLD_SIZE="1", LOCAL_RANK="0")
from xfuser import xFuserArgs
from xfuser.config import FlexibleArgumentParser
from xfuser.model_executor.models.runner_models.base_model import MODEL_REGISTRY

def build(**kw):
    try:
        m = MODEL_REGISTRY[kw["model"]](xFuserArgs(**kw))
        return {"ok": True, "model_name": m.settings.model_name}
    except Exception as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}

parser = xFuserArgs.add_runner_args(FlexibleArgumentParser())
flags = sorted(s for s in parser._option_string_actions if s.startswith("--"))
def parse(argv):
    try:
        return vars(parser.parse_args(argv))
    except SystemExit as e:
        return {"exit": e.code}

print(json.dumps({
    "flags": flags,
    "dash": parse(["--model", "m", "--use-cfg-parallel", "--ulysses-degree", "2"]),
    "teacache": parse(["--model", "m", "--use_teacache"]),
    "cfg_on_qwen": build(model="Qwen/Qwen-Image", use_cfg_parallel=True),
    "fbcache_on_qwen": build(model="Qwen/Qwen-Image", use_fbcache=True),
    "tp_on_qwen": build(model="Qwen/Qwen-Image", tensor_parallel_degree=2),
    "qwen_2512": build(model="Qwen/Qwen-Image-2512"),
    "keys": sorted(MODEL_REGISTRY),
}))
"""


class TestStandinFidelity(unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("XFUSER_STANDIN")}
        env["PYTHONPATH"] = os.pathsep.join(str(p) for p in PATHS)
        proc = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise AssertionError(proc.stderr.decode(errors="replace"))
        cls.probe = json.loads(proc.stdout.decode().strip().splitlines()[-1])

    def test_runner_parser_flags(self) -> None:
        flags = self.probe["flags"]
        # 63 add_argument calls (args.py:457-819), 2 of them BooleanOptionalAction (each
        # adds a --no-... spelling), and --help
        self.assertEqual(len(flags), 63 + 2 + 1)
        for flag in ("--use_cfg_parallel", "--ulysses_degree", "--ring_degree", "--tensor_parallel_degree",
                     "--use_fbcache", "--use_torch_compile", "--warmup_calls", "--dataset_path"):
            self.assertIn(flag, flags)
        self.assertNotIn("--use_teacache", flags)  # only in add_cli_args (args.py:225-229)

    def test_flexible_parser_maps_dashes(self) -> None:  # args.py:30-62
        self.assertTrue(self.probe["dash"]["use_cfg_parallel"])
        self.assertEqual(self.probe["dash"]["ulysses_degree"], 2)
        self.assertEqual(self.probe["teacache"], {"exit": 2})

    def test_boolean_capabilities_are_not_enforced(self) -> None:
        # base_model.py:303-305: isinstance(True, int) and True > 1 is False
        self.assertTrue(self.probe["cfg_on_qwen"]["ok"])
        self.assertTrue(self.probe["fbcache_on_qwen"]["ok"])

    def test_int_capabilities_are(self) -> None:  # base_model.py:305
        self.assertEqual(self.probe["tp_on_qwen"],
                         {"ok": False, "error": "ValueError: Model Qwen/Qwen-Image does not support tensor_parallel_degree."})

    def test_registry(self) -> None:
        keys = self.probe["keys"]
        for key in ("Qwen/Qwen-Image", "Qwen/Qwen-Image-2512", "Qwen-Image", "black-forest-labs/FLUX.1-dev",
                    "black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-klein-9B", "SD3.5",
                    "Tongyi-MAI/Z-Image"):
            self.assertIn(key, keys)
        self.assertNotIn("Qwen/Qwen-Image-Lightning", keys)
        self.assertEqual(self.probe["qwen_2512"]["model_name"], "Qwen/Qwen-Image-2512")  # qwen.py:129-133


if __name__ == "__main__":
    unittest.main()
