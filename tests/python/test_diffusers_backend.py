"""Tests of backends/diffusers/batch_text_to_image.py and make_tiny_pipeline.py.

Two kinds:

* Pure tests (always run, standard library only): argument parsing, flag
  validation, the cache-config mapping and the usage errors, by importing the
  script's plain functions (the module imports no torch) or by running it as a
  child process that stops before importing torch.
* Real runs (skipped unless diffusers imports): a tiny random-weight Qwen-Image
  pipeline is built with make_tiny_pipeline.py and the script is run on it on
  the CPU. The interpreter is $COMPAT_DIFFUSERS_PYTHON if set (e.g. a venv made
  from backends/diffusers/requirements.txt), else the one running the tests.

Run from the repository root:
    python3 -m unittest discover -s tests/python -v
    COMPAT_DIFFUSERS_PYTHON=/path/to/venv/bin/python python3 -m unittest tests/python/test_diffusers_backend.py -v
"""

from __future__ import annotations

import argparse
import io
import contextlib
import functools
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BACKEND = REPO / "backends" / "diffusers"
SCRIPT = BACKEND / "batch_text_to_image.py"
MAKE_TINY = BACKEND / "make_tiny_pipeline.py"
PYTHON = os.environ.get("COMPAT_DIFFUSERS_PYTHON") or sys.executable


def load_module(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


bt = load_module(SCRIPT, "diffusers_batch_text_to_image")


@functools.lru_cache(maxsize=None)
def diffusers_importable(python: str) -> bool:
    try:
        r = subprocess.run(
            [python, "-c", "import torch, diffusers, transformers"],
            capture_output=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return r.returncode == 0


def base_args(*extra: str) -> argparse.Namespace:
    return bt.parse_args(["--model", "m", "--prompt-file", "p.txt", "--output", "o", *extra])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONIOENCODING"] = "utf-8"
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


class ParsingTests(unittest.TestCase):
    def test_module_imports_no_torch(self) -> None:
        code = (
            "import importlib.util, sys\n"
            f"spec = importlib.util.spec_from_file_location('m', {str(SCRIPT)!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            f"spec = importlib.util.spec_from_file_location('t', {str(MAKE_TINY)!r})\n"
            "t = importlib.util.module_from_spec(spec); spec.loader.exec_module(t)\n"
            "print(sorted(n for n in ('torch', 'diffusers', 'transformers') if n in sys.modules))\n"
        )
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        self.assertEqual(r.stdout.strip(), "[]")

    def test_defaults(self) -> None:
        a = base_args()
        self.assertEqual(a.num_inference_steps, 50)
        self.assertEqual(a.warmup, 1)
        self.assertIsNone(a.threads)
        self.assertIsNone(a.cache)
        self.assertFalse(a.compile)
        self.assertIsNone(a.group_offload)
        self.assertEqual((a.ulysses_degree, a.ring_degree, a.tp_degree), (1, 1, 1))
        self.assertEqual(a.negative_prompt, "")

    def test_group_offload_optional_value(self) -> None:
        self.assertEqual(base_args("--group-offload").group_offload, "block_level")
        self.assertEqual(base_args("--group-offload", "leaf_level").group_offload, "leaf_level")
        self.assertEqual(base_args("--group-offload", "--compile").group_offload, "block_level")

    def test_distilled_guidance_is_its_own_setting(self) -> None:
        # compat's {guidance_scale}: empty is the --cfg-scale value, a number is
        # FLUX.1-dev's distilled guidance beside a true-CFG scale of 1.
        class Flux:
            def __call__(self, prompt, height=0, width=0, num_inference_steps=0, negative_prompt=None,
                         true_cfg_scale=1.0, guidance_scale=3.5, output_type="pil"):
                pass

        kw = bt.call_kwargs(Flux(), base_args("--cfg-scale", "4", "--guidance-scale="))
        self.assertEqual((kw["true_cfg_scale"], kw["guidance_scale"]), (4.0, 4.0))
        kw = bt.call_kwargs(Flux(), base_args("--cfg-scale", "1", "--guidance-scale=3.5"))
        self.assertEqual((kw["true_cfg_scale"], kw["guidance_scale"]), (1.0, 3.5))
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
            base_args("--guidance-scale=nan")

    def test_negative_prompt_starting_with_dash(self) -> None:
        a = base_args("--negative-prompt", "-blurry --seed 9")
        self.assertEqual(a.negative_prompt, "-blurry --seed 9")
        self.assertEqual(a.seed, 42)

    def test_sent_negative_prompt_never_empty(self) -> None:
        self.assertEqual(bt.sent_negative_prompt(""), " ")
        self.assertEqual(bt.sent_negative_prompt("  "), " ")
        self.assertEqual(bt.sent_negative_prompt("blurry"), "blurry")

    def test_error_line(self) -> None:
        # one line, every line of the message kept (backends/protocol.py error_text)
        self.assertEqual(bt.error_line(TypeError("\n\n  bad thing  \nmore\n")), "TypeError: bad thing more")
        self.assertEqual(bt.error_line(RuntimeError()), "RuntimeError")

    def test_read_prompts(self) -> None:
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "p.txt"
            p.write_bytes("\ufeffa cat\r\nb\x0cdog\n\n".encode("utf-8"))
            self.assertEqual(bt.read_prompts(str(p)), ["a cat", "b\x0cdog", ""])


class ValidationTests(unittest.TestCase):
    def check_usage(self, *extra: str, env: dict[str, str] | None = None, contains: str = "") -> None:
        with self.assertRaises(bt.UsageError) as cm:
            bt.validate(base_args(*extra), env or {})
        self.assertIn(contains, str(cm.exception))

    def test_cache_knobs_need_a_cache(self) -> None:
        self.check_usage("--cache-threshold", "0.1", contains="needs --cache")
        self.check_usage("--cache-interval", "2", contains="needs --cache")
        self.check_usage("--mag-ratios", "1,1", contains="needs --cache")

    def test_cache_knobs_must_fit_the_cache(self) -> None:
        self.check_usage("--cache", "taylorseer", "--cache-threshold", "0.1", contains="does not apply")
        self.check_usage("--cache", "first_block_cache", "--cache-interval", "2", contains="does not apply")
        self.check_usage("--cache", "taylorseer", "--mag-ratios", "1", contains="needs --cache magcache")
        self.check_usage("--cache", "magcache", "--mag-ratios", "a,b", contains="comma-separated")

    def test_cache_spec(self) -> None:
        self.assertIsNone(bt.cache_spec(base_args()))
        self.assertEqual(
            bt.cache_spec(base_args("--cache", "first_block_cache", "--cache-threshold", "0.3")),
            ("FirstBlockCacheConfig", {"threshold": 0.3}),
        )
        self.assertEqual(bt.cache_spec(base_args("--cache", "first_block_cache")), ("FirstBlockCacheConfig", {}))
        self.assertEqual(
            bt.cache_spec(base_args("--cache", "taylorseer", "--cache-interval", "3")),
            ("TaylorSeerCacheConfig", {"cache_interval": 3}),
        )
        cls, kw = bt.cache_spec(base_args("--cache", "magcache", "--num-inference-steps", "10"))
        self.assertEqual((cls, kw), ("MagCacheConfig", {"num_inference_steps": 10}))
        cls, kw = bt.cache_spec(base_args("--cache", "pyramid_attention_broadcast"))
        self.assertEqual(cls, "PyramidAttentionBroadcastConfig")
        self.assertEqual(kw["spatial_attention_block_skip_range"], 2)
        cls, kw = bt.cache_spec(base_args("--cache", "faster_cache"))
        self.assertEqual(cls, "FasterCacheConfig")
        self.assertNotIn("is_guidance_distilled", kw)  # read from the model: make_cache_config
        self.assertEqual(bt.cache_spec(base_args("--cache", "seacache")), ("SeaCacheConfig", {}))

    def test_mag_ratios(self) -> None:
        plan = bt.validate(base_args("--cache", "magcache", "--mag-ratios", "1.0, 0.9,0.8"), {})
        self.assertEqual(plan["mag_ratios"], [1.0, 0.9, 0.8])
        plan = bt.validate(base_args("--cache", "magcache", "--mag-ratios", "FLUX"), {})
        self.assertEqual(plan["mag_ratios"], "flux")

    def test_context_and_tensor_parallel_do_not_combine(self) -> None:
        self.check_usage("--ulysses-degree", "2", "--tp-degree", "2", contains="cannot be combined")
        self.check_usage("--ring-degree", "2", "--tp-degree", "2", contains="cannot be combined")

    def test_parallel_needs_torchrun(self) -> None:
        self.check_usage("--ulysses-degree", "2", contains="torchrun --nproc_per_node 2")
        self.check_usage("--tp-degree", "2", contains="torchrun --nproc_per_node 2")
        self.check_usage(
            "--ulysses-degree", "2", "--ring-degree", "2",
            env={"WORLD_SIZE": "2", "RANK": "0", "LOCAL_RANK": "0"},
            contains="WORLD_SIZE=4",
        )
        self.check_usage(env={"WORLD_SIZE": "2"}, contains="no --ulysses-degree")

    def test_parallel_plan(self) -> None:
        env = {"WORLD_SIZE": "2", "RANK": "1", "LOCAL_RANK": "1"}
        plan = bt.validate(base_args("--ulysses-degree", "2"), env)
        self.assertEqual(plan["parallel"]["kind"], "context")
        self.assertTrue(plan["parallel"]["ulysses_anything"])
        self.assertFalse(plan["parallel"]["ring_anything"])
        self.assertEqual((plan["world_size"], plan["rank"], plan["local_rank"]), (2, 1, 1))
        plan = bt.validate(base_args("--ring-degree", "2", "--no-cp-anything"), env)
        self.assertFalse(plan["parallel"]["ring_anything"])
        plan = bt.validate(base_args("--ring-degree", "2"), env)
        self.assertTrue(plan["parallel"]["ring_anything"])
        plan = bt.validate(base_args("--tp-degree", "2"), env)
        self.assertEqual(plan["parallel"], {"kind": "tensor", "world_size": 2, "tp_degree": 2})
        # torchrun with one process and no degree: a plain run.
        plan = bt.validate(base_args(), {"WORLD_SIZE": "1", "RANK": "0", "LOCAL_RANK": "0"})
        self.assertIsNone(plan["parallel"])


class TorchrunTests(unittest.TestCase):
    def test_relaunch_command(self) -> None:
        raw = ["--model", "m", "--prompt-file", "p.txt", "--output", "o", "--ulysses-degree", "2", "--ring-degree", "2"]
        argv = bt.torchrun_argv(bt.parse_args(raw), raw, {})
        self.assertEqual(argv[1:6], ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "4"])
        self.assertEqual(Path(argv[6]).name, "batch_text_to_image.py")
        self.assertEqual(argv[7:], raw)

    def test_no_relaunch(self) -> None:
        for extra, env in (
            ([], {}),  # no parallelism
            (["--tp-degree", "2"], {"WORLD_SIZE": "2"}),  # already under torchrun
            (["--tp-degree", "2", "--no-torchrun"], {}),
            (["--tp-degree", "2", "--ulysses-degree", "2"], {}),  # unusable: validate() reports it
        ):
            raw = ["--model", "m", "--prompt-file", "p", "--output", "o", *extra]
            self.assertIsNone(bt.torchrun_argv(bt.parse_args(raw), raw, env), extra)


class UsageExitTests(unittest.TestCase):
    """The script as a child process; all of these stop before torch is imported."""

    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-diffusers-"))
        self.prompts = self.tmp / "prompts.txt"
        self.prompts.write_text("a cat\n", encoding="utf-8")

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_script(self, *extra: str, prompts: Path | None = None) -> subprocess.CompletedProcess:
        argv = [
            sys.executable, str(SCRIPT), "--model", "m", "--prompt-file", str(prompts or self.prompts),
            "--output", str(self.tmp / "out"), *extra,
        ]
        return subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=60)

    def test_help_without_torch(self) -> None:
        r = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, check=True)
        for flag in ("--cache", "--compile", "--group-offload", "--ulysses-degree", "--tp-degree", "--threads"):
            self.assertIn(flag, r.stdout)
        r = subprocess.run([sys.executable, str(MAKE_TINY), "--help"], capture_output=True, text=True, check=True)
        self.assertIn("outdir", r.stdout)

    def test_foreign_flags_exit_2_with_reason(self) -> None:
        r = self.run_script("--cfg-parallel-size", "2")
        self.assertEqual(r.returncode, 2)
        self.assertIn("diffusers has no CFG-parallel API", r.stderr)
        r = self.run_script("--cache-backend", "tea_cache")
        self.assertEqual(r.returncode, 2)
        self.assertIn("no TeaCache", r.stderr)
        # The same words inside a negative prompt are text, not a flag.
        r = self.run_script("--negative-prompt", "--cfg-parallel-size", "--ulysses-degree", "2", "--no-torchrun")
        self.assertEqual(r.returncode, 2)
        self.assertIn("torchrun", r.stderr)

    def test_unknown_cache_exit_2(self) -> None:
        r = self.run_script("--cache", "teacache")
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid choice", r.stderr)

    def test_usage_errors_exit_2(self) -> None:
        for extra, words in (
            (("--ulysses-degree", "2", "--tp-degree", "2"), "cannot be combined"),
            (("--ring-degree", "2", "--no-torchrun"), "torchrun --nproc_per_node 2"),
            (("--ring-degree", "2", "--device", "cpu"), "context parallelism needs one CUDA device per rank"),
            (("--cache-threshold", "0.2"), "needs --cache"),
        ):
            r = self.run_script(*extra)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn(words, r.stderr)
            self.assertFalse((self.tmp / "out" / "results.jsonl").exists())

    def test_empty_prompt_file_exit_2(self) -> None:
        empty = self.tmp / "empty.txt"
        empty.write_bytes(b"")
        r = self.run_script(prompts=empty)
        self.assertEqual(r.returncode, 2)
        self.assertIn("no prompts", r.stderr)

    def test_unreadable_prompt_file_exit_1(self) -> None:
        r = self.run_script(prompts=self.tmp / "missing.txt")
        self.assertEqual(r.returncode, 1)

    @unittest.skipIf(diffusers_importable(sys.executable), "this interpreter has torch and diffusers")
    def test_missing_diffusers_is_a_setup_failure(self) -> None:
        r = self.run_script()
        self.assertEqual(r.returncode, 1)
        lines = [json.loads(x) for x in (self.tmp / "out" / "results.jsonl").read_text().splitlines()]
        self.assertEqual(lines[0]["event"], "load")
        self.assertFalse(lines[0]["ok"])
        self.assertIn("ModuleNotFoundError", lines[0]["error"])


@unittest.skipUnless(
    diffusers_importable(PYTHON),
    f"torch/diffusers/transformers not importable by {PYTHON} (set COMPAT_DIFFUSERS_PYTHON to a venv's python)",
)
class RealRunTests(unittest.TestCase):
    """The script on a tiny random-weight Qwen-Image pipeline, on the CPU."""

    tmp: Path
    model: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="compat-diffusers-real-"))
        cls.model = cls.tmp / "tiny-qwen-image"
        r = subprocess.run(
            [PYTHON, str(MAKE_TINY), str(cls.model)], capture_output=True, text=True, env=clean_env(), timeout=600
        )
        if r.returncode != 0:
            raise RuntimeError(f"make_tiny_pipeline.py failed:\n{r.stdout}\n{r.stderr}")
        cls.prompts = cls.tmp / "prompts.txt"
        cls.prompts.write_text("a red cat on a chair\na castle at sunset, watercolor\n", encoding="utf-8")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_script(self, name: str, *extra: str) -> tuple[subprocess.CompletedProcess, Path, list[dict]]:
        out = self.tmp / name
        argv = [
            PYTHON, str(SCRIPT), "--model", str(self.model), "--prompt-file", str(self.prompts),
            "--output", str(out), "--num-inference-steps", "4", "--height", "64", "--width", "64",
            "--cfg-scale", "4", "--seed", "7", "--negative-prompt", "", "--warmup", "1", *extra,
        ]
        r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=600)
        path = out / "results.jsonl"
        lines = [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []
        return r, out, lines

    def test_tiny_pipeline_is_deterministic(self) -> None:
        again = self.tmp / "tiny-again"
        r = subprocess.run([PYTHON, str(MAKE_TINY), str(again)], capture_output=True, text=True, env=clean_env())
        self.assertEqual(r.returncode, 0, r.stderr)
        for f in sorted(p for p in self.model.rglob("*") if p.is_file()):
            self.assertEqual(f.read_bytes(), (again / f.relative_to(self.model)).read_bytes(), str(f))

    def test_baseline(self) -> None:
        r, out, lines = self.run_script("baseline")
        self.assertEqual(r.returncode, 0, r.stderr)
        settings = next(x for x in lines if x.get("event") == "settings")
        self.assertEqual(settings["threads"], 1)
        self.assertEqual(settings["device"], "cpu")
        self.assertEqual(settings["call_kwargs"]["negative_prompt"], " ")
        self.assertEqual(settings["call_kwargs"]["true_cfg_scale"], 4.0)
        self.assertEqual(settings["pipeline"], "QwenImagePipeline")
        events = [x["event"] for x in lines if "event" in x]
        self.assertEqual(events, ["settings", "load", "warmup", "work"])  # no memory lines on CPU
        # The timed prompts' work only (not the warm-up): 2 prompts x 4 steps x
        # 2 guidance branches x 4 blocks, each with one attention module.
        work = next(x for x in lines if x.get("event") == "work")
        self.assertEqual(work["counts"], {"transformer_block": 64, "attention": 64})
        prompts = [x for x in lines if "prompt" in x]
        self.assertEqual([p["prompt"] for p in prompts], [0, 1])
        for p in prompts:
            self.assertTrue(p["ok"])
            self.assertGreater(p["seconds"], 0)
            self.assertTrue((out / p["image"]).read_bytes().startswith(b"\x89PNG"))
        self.assertIn("  Prompt 2: ", r.stdout)

        # Same seeds, same bytes.
        r2, out2, _ = self.run_script("baseline-again")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        for name in ("prompt_00.png", "prompt_01.png"):
            self.assertEqual((out / name).read_bytes(), (out2 / name).read_bytes())

    def test_taylorseer_runs(self) -> None:
        r, out, lines = self.run_script("taylorseer", "--cache", "taylorseer", "--cache-interval", "2")
        self.assertEqual(r.returncode, 0, r.stderr)
        settings = next(x for x in lines if x.get("event") == "settings")
        self.assertEqual(settings["features"]["cache"]["config"], "TaylorSeerCacheConfig")
        self.assertEqual(settings["features"]["cache"]["cache_interval"], 2)
        self.assertTrue(all(x["ok"] for x in lines if "prompt" in x))
        # TaylorSeer predicts attention between full steps: the skipped calls
        # are not counted (the counter sits under diffusers' cache hooks).
        work = next(x for x in lines if x.get("event") == "work")
        self.assertEqual(work["counts"]["transformer_block"], 64)
        self.assertLess(work["counts"]["attention"], 64)

    def test_magcache_calibrates_first(self) -> None:
        r, out, lines = self.run_script("magcache", "--cache", "magcache")
        self.assertEqual(r.returncode, 0, r.stderr)
        calibration = next(x for x in lines if x.get("event") == "calibration")
        self.assertEqual(len(calibration["mag_ratios"]), 4)  # one per step
        settings = next(x for x in lines if x.get("event") == "settings")
        self.assertFalse(settings["features"]["cache"]["calibrate"])
        self.assertEqual(len(settings["features"]["cache"]["mag_ratios"]), 4)

    def test_failing_prompts_are_recorded_and_the_batch_goes_on(self) -> None:
        # PyramidAttentionBroadcast reuses the conditional branch's attention for the
        # unconditional one, whose text length differs: every generation raises.
        r, out, lines = self.run_script("pab", "--cache", "pyramid_attention_broadcast")
        self.assertEqual(r.returncode, 1)
        warmup = next(x for x in lines if x.get("event") == "warmup")
        self.assertFalse(warmup["ok"])
        prompts = [x for x in lines if "prompt" in x]
        self.assertEqual([p["prompt"] for p in prompts], [0, 1])
        for p in prompts:
            self.assertFalse(p["ok"])
            self.assertIsNone(p["image"])
            self.assertRegex(p["error"], r"^RuntimeError: The size of tensor a \(\d+\) must match")
            self.assertNotIn("\n", p["error"])
        self.assertIn("Traceback", r.stderr)
        # Blocks ran before each prompt failed; no work line without a saved image.
        self.assertNotIn("work", [x.get("event") for x in lines])
        last = r.stdout.strip().splitlines()[-1]
        self.assertRegex(last, r"^Done: 0/2 prompts produced an image; first error: RuntimeError: The size of tensor")

    def test_work_counts_only_prompts_whose_image_was_saved(self) -> None:
        # prompt_01.png is a directory: prompt 1 generates (its blocks run) but its
        # image cannot be saved, so its work is not counted.
        out = self.tmp / "unsaved"
        (out / "prompt_01.png").mkdir(parents=True)
        (out / "prompt_01.png" / "keep").write_text("x", encoding="utf-8")
        r, out, lines = self.run_script("unsaved", "--warmup", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual([p["ok"] for p in lines if "prompt" in p], [True, False])
        work = next(x for x in lines if x.get("event") == "work")
        # one prompt x 4 steps x 2 guidance branches x 4 blocks
        self.assertEqual(work["counts"], {"transformer_block": 32, "attention": 32})

    def test_faster_cache_reads_guidance_distillation_from_the_model(self) -> None:
        # A tiny guidance-distilled FLUX.1 transformer (guidance_embeds=True, as
        # FLUX.1-dev): with is_guidance_distilled=False, FasterCache's hooks split
        # its batch of one into unconditional and conditional halves (IndexError).
        code = (
            "import importlib.util, json, sys, types, torch\n"
            f"spec = importlib.util.spec_from_file_location('bt', {str(SCRIPT)!r})\n"
            "bt = importlib.util.module_from_spec(spec); spec.loader.exec_module(bt)\n"
            "from diffusers import FluxTransformer2DModel\n"
            "torch.manual_seed(0)\n"
            "tr = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,\n"
            "    attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,\n"
            "    axes_dims_rope=[4, 4, 8], guidance_embeds=True)\n"
            "pipe = types.SimpleNamespace(transformer=tr, current_timestep=1000)\n"
            "args = bt.parse_args(['--model', 'm', '--prompt-file', 'p', '--output', 'o', '--cache', 'faster_cache'])\n"
            "config = bt.make_cache_config(bt.cache_spec(args), pipe, None)\n"
            "tr.enable_cache(config)\n"
            "with torch.no_grad():\n"
            "    for t in (900, 600, 500, 400):\n"
            "        pipe.current_timestep = t\n"
            "        tr(hidden_states=torch.randn(1, 16, 4), encoder_hidden_states=torch.randn(1, 8, 32),\n"
            "           pooled_projections=torch.randn(1, 32), timestep=torch.tensor([t / 1000]),\n"
            "           guidance=torch.tensor([3.5]), img_ids=torch.zeros(16, 3), txt_ids=torch.zeros(8, 3))\n"
            "print(json.dumps(bt.config_summary(config)['is_guidance_distilled']))\n"
        )
        r = subprocess.run([PYTHON, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        self.assertEqual(r.stdout.strip().splitlines()[-1], "true")  # what the settings event records

    def test_work_is_counted_per_branch_and_cross_branch_reuse_is_seen(self) -> None:
        # A tiny FLUX.1 transformer called as a true-CFG pipeline calls it: per
        # step once in cache_context("cond"), once in "uncond". PyramidAttention-
        # Broadcast keeps one state for both contexts, so the uncond call it skips
        # gets the cond output of the same step; FirstBlockCache's state follows
        # the context (StateManager), so its skips never cross.
        code = (
            "import importlib.util, json, sys, types, torch\n"
            f"spec = importlib.util.spec_from_file_location('bt', {str(SCRIPT)!r})\n"
            "bt = importlib.util.module_from_spec(spec); spec.loader.exec_module(bt)\n"
            "from diffusers import FluxTransformer2DModel\n"
            "out = {}\n"
            "for cache in sys.argv[1:]:\n"
            "    torch.manual_seed(0)\n"
            "    tr = FluxTransformer2DModel(patch_size=1, in_channels=4, num_layers=1, num_single_layers=1,\n"
            "        attention_head_dim=16, num_attention_heads=2, joint_attention_dim=32, pooled_projection_dim=32,\n"
            "        axes_dims_rope=[4, 4, 8])\n"
            "    pipe = types.SimpleNamespace(transformer=tr, current_timestep=1000)\n"
            "    counter = bt.WorkCounter(tr)\n"
            "    args = bt.parse_args(['--model', 'm', '--prompt-file', 'p', '--output', 'o', '--cache', cache])\n"
            "    tr.enable_cache(bt.make_cache_config(bt.cache_spec(args), pipe, None))\n"
            "    counter.observe()\n"
            "    counter.reset()\n"
            "    torch.manual_seed(1)\n"
            "    x = {b: (torch.randn(1, 16, 4), torch.randn(1, 8, 32), torch.randn(1, 32)) for b in ('cond', 'uncond')}\n"
            "    with torch.no_grad():\n"
            "        for t in (900, 700, 600, 500, 400, 300):\n"
            "            pipe.current_timestep = t\n"
            "            for branch in ('cond', 'uncond'):\n"
            "                with tr.cache_context(branch):\n"
            "                    tr(hidden_states=x[branch][0], encoder_hidden_states=x[branch][1],\n"
            "                       pooled_projections=x[branch][2], timestep=torch.tensor([0.5]),\n"
            "                       img_ids=torch.zeros(16, 3), txt_ids=torch.zeros(8, 3))\n"
            "    counter.keep()\n"
            "    out[cache] = counter.event()\n"
            "print(json.dumps(out))\n"
        )
        r = subprocess.run(
            [PYTHON, "-c", code, "pyramid_attention_broadcast", "first_block_cache"],
            capture_output=True, text=True, env=clean_env(), timeout=300,
        )
        self.assertEqual(r.returncode, 0, r.stderr[-2000:])
        events = json.loads(r.stdout.strip().splitlines()[-1])
        pab, fbc = events["pyramid_attention_broadcast"], events["first_block_cache"]
        self.assertEqual(set(pab["branches"]), {"cond", "uncond"}, pab)
        # Every attention call PAB skipped was an uncond call answered with cond's output.
        skipped = 2 * 6 * 2 - pab["counts"]["attention"]  # 2 attention modules x 6 steps x 2 branches
        self.assertGreater(skipped, 0, pab)
        self.assertEqual(pab["cross_branch"]["attention"], skipped, pab)
        self.assertEqual(pab["branches"]["cond"]["attention"], 12, pab)
        self.assertLess(pab["branches"]["uncond"]["attention"], 12, pab)
        # FirstBlockCache skipped blocks too, but only within each branch.
        self.assertLess(fbc["counts"]["transformer_block"], 2 * 6 * 2, fbc)
        self.assertEqual(fbc["cross_branch"], {"transformer_block": 0, "attention": 0}, fbc)

    def test_faster_cache_settings_record_guidance_distillation(self) -> None:
        r, out, lines = self.run_script("faster", "--cache", "faster_cache", "--warmup", "0")
        settings = next(x for x in lines if x.get("event") == "settings")
        self.assertEqual(settings["features"]["cache"]["config"], "FasterCacheConfig")
        self.assertIs(settings["features"]["cache"]["is_guidance_distilled"], False)  # Qwen-Image: true CFG

    def test_parallel_without_cuda_exit_2(self) -> None:
        out = self.tmp / "ulysses"
        argv = [
            PYTHON, str(SCRIPT), "--model", str(self.model), "--prompt-file", str(self.prompts),
            "--output", str(out), "--ulysses-degree", "2", "--device", "cpu",
        ]
        env = clean_env(WORLD_SIZE="2", RANK="0", LOCAL_RANK="0")
        r = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("needs one CUDA device per rank", r.stderr)

    def test_parallel_outside_torchrun_without_cuda_exit_2(self) -> None:
        # Without CUDA the script says so itself (exit 2) instead of re-launching
        # under torchrun, whose workers would each fail and turn 2 into 1.
        argv = [
            PYTHON, str(SCRIPT), "--model", str(self.model), "--prompt-file", str(self.prompts),
            "--output", str(self.tmp / "tp"), "--tp-degree", "2",
        ]
        r = subprocess.run(argv, capture_output=True, text=True, env=clean_env(), timeout=300)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("tensor parallelism needs one CUDA device per rank", r.stderr)
        self.assertNotIn("launching:", r.stdout)


if __name__ == "__main__":
    unittest.main()
