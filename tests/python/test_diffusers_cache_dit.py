"""The diffusers backend's cache-dit mapping (--cache cache_dit), against the
real cache-dit 1.5.3 where it is installed.

* Pure tests (standard library only): what features.toml's diffusers flags for
  cache_dit, cache_dit_taylorseer and cache_dit_scm ask cache-dit for, the
  usage errors, and the probe's reasons with the package missing or the
  pipeline family unknown to it.
* Real tests (skipped unless cache_dit imports in $COMPAT_DIFFUSERS_PYTHON):
  the script on a tiny 10-block Qwen-Image pipeline with cache-dit's DBCache,
  its work line (cache-dit's own cached-step count beside the block counts),
  and the probe's answer.

    python3 -m unittest tests/python/test_diffusers_cache_dit.py -v
    COMPAT_DIFFUSERS_PYTHON=$(scripts/diffusers-venv.sh --path)/bin/python3 python3 -m unittest tests/python/test_diffusers_cache_dit.py -v
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
import types
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "backends" / "diffusers" / "batch_text_to_image.py"
MAKE_TINY = REPO / "backends" / "diffusers" / "make_tiny_pipeline.py"
PYTHON = os.environ.get("COMPAT_DIFFUSERS_PYTHON") or sys.executable


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


bt = load_module(SCRIPT, "diffusers_batch_text_to_image_cache_dit")


def registry_args(feature: str) -> list[str]:
    """features.toml's diffusers flags for a feature."""
    with open(REPO / "features.toml", "rb") as f:
        return list(tomllib.load(f)["features"][feature]["backend_args"]["diffusers"])


def parse(*extra: str, steps: int = 12):
    return bt.parse_args(
        ["--model", "m", "--prompt-file", "p.txt", "--output", "o", "--num-inference-steps", str(steps), *extra]
    )


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "PYTHONPATH")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


class MappingTests(unittest.TestCase):
    """features.toml's flags -> what cache-dit is asked for."""

    def test_cache_dit_is_dbcache_with_its_defaults(self) -> None:
        args = parse(*registry_args("cache_dit"))
        plan = bt.validate(args, env={})
        self.assertIsNone(plan["cache"])  # not a diffusers hook
        self.assertEqual(
            plan["cache_dit"], {"cache_config": ("DBCacheConfig", {}), "calibrator": None, "scm": None}
        )

    def test_taylorseer_is_cache_dits_calibrator(self) -> None:
        args = parse(*registry_args("cache_dit_taylorseer"))
        spec = bt.validate(args, env={})["cache_dit"]
        self.assertEqual(spec["cache_config"], ("DBCacheConfig", {}))
        self.assertEqual(spec["calibrator"], ("TaylorSeerCalibratorConfig", {}))
        self.assertIsNone(spec["scm"])
        # diffusers' own TaylorSeer stays its own feature.
        self.assertEqual(registry_args("taylorseer"), ["--cache", "taylorseer"])

    def test_scm_is_a_static_mask_over_the_runs_steps(self) -> None:
        args = parse(*registry_args("cache_dit_scm"), steps=30)
        spec = bt.validate(args, env={})["cache_dit"]
        self.assertEqual(spec["cache_config"], ("DBCacheConfig", {"steps_computation_policy": "static"}))
        self.assertEqual(spec["scm"], {"mask_policy": "medium", "total_steps": 30})
        self.assertIsNone(spec["calibrator"])

    def test_threshold_is_the_residual_threshold(self) -> None:
        spec = bt.cache_dit_spec(parse("--cache", "cache_dit", "--cache-threshold", "0.2"))
        self.assertEqual(spec["cache_config"], ("DBCacheConfig", {"residual_diff_threshold": 0.2}))

    def test_usage_errors(self) -> None:
        for extra, needle in (
            (["--cache-dit-calibrator", "taylorseer"], "needs --cache cache_dit"),
            (["--cache", "taylorseer", "--cache-dit-scm", "medium"], "needs --cache cache_dit"),
            (["--cache", "cache_dit", "--cache-dit-scm-policy", "static"], "needs --cache-dit-scm"),
            (["--cache", "cache_dit", "--cache-interval", "2"], "does not apply to --cache cache_dit"),
        ):
            with self.subTest(extra=extra):
                with self.assertRaises(bt.UsageError) as ctx:
                    bt.validate(parse(*extra), env={})
                self.assertIn(needle, str(ctx.exception))

    def test_cache_backend_flag_points_at_cache_dit(self) -> None:
        self.assertIn("--cache cache_dit", bt.foreign_flag(["--cache-backend", "cache_dit"]))


class ProbeReasonTests(unittest.TestCase):
    """probe_cache_dit with the package missing or a stand-in registry (no torch)."""

    def with_module(self, module: object):
        saved = sys.modules.get("cache_dit", "absent")
        sys.modules["cache_dit"] = module  # type: ignore[assignment]

        def restore() -> None:
            if saved == "absent":
                sys.modules.pop("cache_dit", None)
            else:
                sys.modules["cache_dit"] = saved  # type: ignore[assignment]

        self.addCleanup(restore)

    def test_missing_package_names_the_pin(self) -> None:
        self.with_module(None)  # `import cache_dit` raises ImportError
        why = bt.probe_cache_dit(parse("--cache", "cache_dit"), "QwenImagePipeline")
        self.assertIn("install cache-dit==1.5.3", why)

    def test_pipeline_family(self) -> None:
        fake = types.SimpleNamespace(
            __version__="1.5.3", supported_pipelines=lambda: (2, ["QwenImage", "Flux"]), steps_mask=None
        )
        self.with_module(fake)
        args = parse("--cache", "cache_dit")
        self.assertIsNone(bt.probe_cache_dit(args, "QwenImagePipeline"))
        self.assertIsNone(bt.probe_cache_dit(args, "FluxPipeline"))
        self.assertEqual(
            bt.probe_cache_dit(args, "StableDiffusionPipeline"),
            "cache-dit 1.5.3 has no block adapter for StableDiffusionPipeline",
        )


@functools.lru_cache(maxsize=None)
def cache_dit_importable(python: str) -> bool:
    try:
        r = subprocess.run([python, "-c", "import torch, diffusers, cache_dit"], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


@unittest.skipUnless(
    cache_dit_importable(PYTHON),
    f"torch/diffusers/cache_dit not importable by {PYTHON} (set COMPAT_DIFFUSERS_PYTHON to the diffusers venv's python)",
)
class RealCacheDitTests(unittest.TestCase):
    """The script with cache-dit 1.5.3 on a tiny 10-block Qwen-Image pipeline, CPU."""

    tmp: Path
    model: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="compat-cache-dit-"))
        cls.model = cls.tmp / "tiny10"
        r = subprocess.run(
            [PYTHON, str(MAKE_TINY), str(cls.model), "--layers", "10"],
            capture_output=True, text=True, env=clean_env(), timeout=600,
        )
        if r.returncode != 0:
            raise RuntimeError(f"make_tiny_pipeline.py failed:\n{r.stdout}\n{r.stderr}")
        cls.prompts = cls.tmp / "prompts.txt"
        cls.prompts.write_text("a red cat on a chair\n", encoding="utf-8")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_script(self, name: str, *extra: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
        out = self.tmp / name
        argv = [
            PYTHON, str(SCRIPT), "--model", str(self.model), "--prompt-file", str(self.prompts),
            "--output", str(out), "--num-inference-steps", "12", "--height", "64", "--width", "64",
            "--cfg-scale", "4", "--seed", "7", "--negative-prompt", "", "--warmup", "0", *extra,
        ]
        r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=600)
        path = out / "results.jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return r, lines

    def test_static_mask_caches_the_masked_steps(self) -> None:
        r, lines = self.run_script("scm", *registry_args("cache_dit_scm"))
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        cache = next(x for x in lines if x.get("event") == "settings")["features"]["cache"]
        self.assertEqual((cache["name"], cache["package"], cache["version"]), ("cache_dit", "cache-dit", "1.5.3"))
        # steps_mask(12, "medium"): compute 1111 0 11 0 1 00 1 -> steps 4, 7, 9, 10 cached.
        self.assertEqual(cache["steps_computation_mask"], [1, 1, 1, 1, 0, 1, 1, 0, 1, 0, 0, 1])
        self.assertEqual(cache["steps_computation_policy"], "static")
        self.assertTrue(cache["enable_separate_cfg"])  # cache-dit's Qwen-Image adapter decided it
        work = next(x for x in lines if x.get("event") == "work")["counts"]
        # One prompt, 12 steps x 2 guidance branches x 10 blocks = 240 blocks; 4 cached
        # steps per branch each skip the 2 blocks after Fn_compute_blocks = 8.
        self.assertEqual(
            work,
            {"transformer_block": 240 - 8 * 2, "attention": 240 - 8 * 2,
             "cache_dit_cached_steps": 4, "cache_dit_cfg_cached_steps": 4},
        )

    def test_dbcache_defaults_and_the_calibrator(self) -> None:
        r, lines = self.run_script("dbcache-taylorseer", *registry_args("cache_dit_taylorseer"))
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        cache = next(x for x in lines if x.get("event") == "settings")["features"]["cache"]
        self.assertEqual(cache["strify"], "DBCache_F8B0_W8I1M0MC0_R0.08_CFG1")
        self.assertEqual(cache["calibrator"]["config"], "TaylorSeerCalibratorConfig")
        self.assertEqual(cache["calibrator"]["taylorseer_order"], 1)
        # Random weights: the residual moves far more than 0.08 between steps,
        # and cache-dit says it cached nothing.
        work = next(x for x in lines if x.get("event") == "work")["counts"]
        self.assertEqual(
            work,
            {"transformer_block": 240, "attention": 240, "cache_dit_cached_steps": 0, "cache_dit_cfg_cached_steps": 0},
        )

    def probe(self, model: Path, features: dict, steps: int = 12) -> dict:
        req = self.tmp / "request.json"
        req.write_text(json.dumps({"model": str(model), "features": features,
                                   "settings": {"steps": steps, "height": 64, "width": 64}}), encoding="utf-8")
        out = self.tmp / "answer.json"
        r = subprocess.run([PYTHON, str(SCRIPT), "--probe", str(req), "--output", str(out)],
                           capture_output=True, text=True, env=clean_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return json.loads(out.read_text(encoding="utf-8"))["features"]

    def test_probe(self) -> None:
        features = {name: registry_args(name) for name in ("cache_dit", "cache_dit_taylorseer", "cache_dit_scm")}
        answer = self.probe(self.model, features)
        self.assertEqual(answer, {name: {"supported": True} for name in features})
        # steps_mask's own refusal (5 steps) before any load.
        answer = self.probe(self.model, {"cache_dit_scm": registry_args("cache_dit_scm")}, steps=5)
        self.assertFalse(answer["cache_dit_scm"]["supported"])
        self.assertIn("steps_mask refuses it", answer["cache_dit_scm"]["reason"])
        # A pipeline family cache-dit has no adapter for (the probe reads model_index.json only).
        other = self.tmp / "other"
        other.mkdir(exist_ok=True)
        index = json.loads((self.model / "model_index.json").read_text(encoding="utf-8"))
        index["_class_name"] = "StableDiffusionPipeline"
        (other / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
        answer = self.probe(other, {"cache_dit": registry_args("cache_dit")})
        self.assertEqual(
            answer["cache_dit"],
            {"supported": False,
             "reason": "diffusers 0.42.1: cache-dit 1.5.3 has no block adapter for StableDiffusionPipeline"},
        )


if __name__ == "__main__":
    unittest.main()
