"""The stand-in xfuser behaves as the released xfuser 0.7.0 does where the xDiT adapter relies on it.

These pin down what the stand-in claims about the real code (file:line of the
wheel xfuser-0.7.0-py3-none-any.whl; test_released_engines.py compares the
stand-in with that wheel itself when it is downloaded), so a change to
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
    "bad_method": parse(["--model", "m", "--cache_method", "magcache"]),
    "cfg_on_qwen": build(model="Qwen/Qwen-Image", use_cfg_parallel=True),
    "fbcache_on_qwen": build(model="Qwen/Qwen-Image", use_fbcache=True),
    "dbcache_on_qwen": build(model="Qwen/Qwen-Image", cache_method="dbcache"),
    "dbcache_on_turbo": build(model="Tongyi-MAI/Z-Image-Turbo", cache_method="dbcache"),
    "fp8_on_qwen": build(model="Qwen/Qwen-Image", gemm_quantization="fp8"),
    "fp8_on_lumina": build(model="Alpha-VLLM/Lumina-Image-2.0", gemm_quantization="fp8"),
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
        # 93 add_argument calls (args.py:803-1354), 5 of them BooleanOptionalAction (each
        # adds a --no-... spelling), and --help
        self.assertEqual(len(flags), 93 + 5 + 1)
        for flag in ("--use_cfg_parallel", "--ulysses_degree", "--ring_degree", "--tensor_parallel_degree",
                     "--cache_method", "--cache_config", "--use_fbcache", "--use_teacache", "--gemm_quantization",
                     "--enable_model_cpu_offload", "--enable_group_cpu_offload", "--fully_shard_degree",
                     "--use_torch_compile", "--warmup_calls", "--dataset_path"):
            self.assertIn(flag, flags)

    def test_flexible_parser_maps_dashes(self) -> None:  # args.py:38-70
        self.assertTrue(self.probe["dash"]["use_cfg_parallel"])
        self.assertEqual(self.probe["dash"]["ulysses_degree"], 2)
        self.assertTrue(self.probe["teacache"]["use_teacache"])  # a deprecated alias, args.py:1327-1331
        self.assertEqual(self.probe["bad_method"], {"exit": 2})  # choices, args.py:1337-1343

    def test_boolean_capabilities_are_enforced(self) -> None:
        # base_model.py:514-519 (0.6.0 on): a boolean is checked as a boolean
        self.assertEqual(self.probe["cfg_on_qwen"],
                         {"ok": False, "error": "ValueError: Model Qwen/Qwen-Image does not support use_cfg_parallel."})

    def test_step_cache_methods(self) -> None:  # base_model.py:521-531, qwen.py:177-184
        self.assertEqual(self.probe["fbcache_on_qwen"]["error"],
                         "ValueError: Model Qwen/Qwen-Image does not support --cache_method fbcache. Supported: dbcache")
        self.assertTrue(self.probe["dbcache_on_qwen"]["ok"])
        self.assertEqual(self.probe["dbcache_on_turbo"]["error"],
                         "ValueError: Model Tongyi-MAI/Z-Image-Turbo does not support step caching.")

    def test_gemm_quantization_sets_the_fp8_capability(self) -> None:  # args.py:360-413, qwen.py:149
        self.assertTrue(self.probe["fp8_on_qwen"]["ok"])
        self.assertEqual(self.probe["fp8_on_lumina"]["error"],
                         "ValueError: Model Alpha-VLLM/Lumina-Image-2.0 does not support use_fp8_gemms.")

    def test_int_capabilities_are(self) -> None:  # base_model.py:514-516
        self.assertEqual(self.probe["tp_on_qwen"],
                         {"ok": False, "error": "ValueError: Model Qwen/Qwen-Image does not support tensor_parallel_degree."})

    def test_registry(self) -> None:
        keys = self.probe["keys"]
        for key in ("Qwen/Qwen-Image", "Qwen/Qwen-Image-2512", "Qwen-Image", "black-forest-labs/FLUX.1-dev",
                    "black-forest-labs/FLUX.2-dev", "black-forest-labs/FLUX.2-klein-9B", "SD3.5",
                    "Tongyi-MAI/Z-Image"):
            self.assertIn(key, keys)
        self.assertNotIn("Qwen/Qwen-Image-Lightning", keys)
        self.assertEqual(self.probe["qwen_2512"]["model_name"], "Qwen/Qwen-Image-2512")  # qwen.py:187-191


if __name__ == "__main__":
    unittest.main()
