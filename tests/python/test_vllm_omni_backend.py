"""Tests of backends/vllm_omni/batch_text_to_image.py against a STAND-IN vllm_omni.

The stand-in (tests/python/standin/vllm_omni) is not vLLM-Omni, but it has the
real names and signatures of vLLM-Omni main bd4f9acf (2026-08-22): Omni(model,
**kwargs) accepting only the keywords the real engine reads, the exact fields
of OmniDiffusionSamplingParams and DiffusionParallelConfig, OmniRequestOutput
with images in every place a release puts them (NumPy-like arrays whose truth
value raises), Qwen-Image's rule for turning guidance on, and generate()
closing the engine after a failure. It records the calls the script makes and
what the engine would do with them (effective parallel config, guidance). The
script runs as a child process with the stand-in first on PYTHONPATH, exactly
as compat would start it.

Run from the repository root (standard library only, no network):
    python3 -m unittest discover -s tests/python -v
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import struct
import tempfile
import unittest
import zlib
from pathlib import Path

from png_check import png_ok  # tests/python, on sys.path under unittest discover

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "backends" / "vllm_omni" / "batch_text_to_image.py"
STANDIN = HERE / "standin"



class BackendCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-vllm-omni-"))
        self.out = self.tmp / "out"
        self.record = self.tmp / "calls.jsonl"

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_prompts(self, prompts: list[str] | bytes) -> Path:
        path = self.tmp / "prompts.txt"
        if isinstance(prompts, bytes):
            path.write_bytes(prompts)
        else:
            path.write_bytes(("\n".join(prompts) + "\n").encode("utf-8"))
        return path

    def run_script(
        self,
        prompt_file: Path,
        *extra: str,
        env_extra: dict[str, str] | None = None,
        base: bool = True,
    ) -> subprocess.CompletedProcess:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("VLLM_OMNI_STANDIN") and k not in ("CUDA_VISIBLE_DEVICES", "COMPAT_DEVICES")
        }
        env["PYTHONPATH"] = str(STANDIN) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        env["PYTHONIOENCODING"] = "utf-8"
        env["VLLM_OMNI_STANDIN_RECORD"] = str(self.record)
        env.update(env_extra or {})
        argv = [sys.executable, str(SCRIPT)]
        if base:
            argv += [
                "--model", "stand-in/model",
                "--prompt-file", str(prompt_file),
                "--output", str(self.out),
                "--num-inference-steps", "7",
                "--height", "64",
                "--width", "48",
                "--cfg-scale", "3.5",
                "--seed", "42",
                "--negative-prompt", "",
            ]
        argv += list(extra)
        return subprocess.run(argv, env=env, capture_output=True, timeout=120, cwd=str(REPO))

    def calls(self, kind: str | None = None) -> list[dict]:
        if not self.record.exists():
            return []
        # split on "\n" only: str.splitlines would also break at U+2028/U+0085 inside a JSON string
        rows = [json.loads(line) for line in self.record.read_text(encoding="utf-8").split("\n") if line]
        return [r for r in rows if kind is None or r["call"] == kind]

    def results(self) -> list[dict]:
        text = (self.out / "results.jsonl").read_text(encoding="utf-8")
        self.assertTrue(text.endswith("\n"))
        return [json.loads(line) for line in text.split("\n") if line]

    def prompt_lines(self) -> list[dict]:
        return [r for r in self.results() if "prompt" in r]


class TestArguments(BackendCase):
    def test_help_works_without_vllm_omni_or_torch(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--help"], env=env, capture_output=True, timeout=60
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        help_text = proc.stdout.decode()
        for flag in (
            "--model", "--prompt-file", "--output", "--num-inference-steps", "--height", "--width",
            "--cfg-scale", "--seed", "--negative-prompt", "--cfg-parallel-size", "--cache-backend",
            "--ulysses-degree", "--ring-degree", "--tensor-parallel-size", "--warmup",
            "--vae-patch-parallel-size", "--enable-cpu-offload", "--enable-layerwise-offload",
            "--quantization", "--enforce-eager", "--fa-deterministic",
        ):
            self.assertIn(flag, help_text)
        self.assertIn("0.18", help_text)

    def test_unknown_cache_backend_is_usage_error(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--cache-backend", "fb_cache")
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"invalid choice", proc.stderr)
        self.assertEqual(self.calls(), [])

    def test_bad_degrees_are_usage_errors(self) -> None:
        pf = self.write_prompts(["a"])
        for args in (["--cfg-parallel-size", "3"], ["--ulysses-degree", "0"], ["--ring-degree", "x"],
                     ["--tensor-parallel-size", "-1"], ["--warmup", "-1"]):
            with self.subTest(args=args):
                self.assertEqual(self.run_script(pf, *args).returncode, 2)

    def test_missing_required_flags(self) -> None:
        proc = self.run_script(self.tmp / "none.txt", base=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"--model", proc.stderr)

    def test_empty_prompt_file_is_usage_error(self) -> None:
        pf = self.write_prompts(b"")
        proc = self.run_script(pf)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(self.calls("init"), [])

    def test_missing_prompt_file_is_setup_failure(self) -> None:
        proc = self.run_script(self.tmp / "missing.txt")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"cannot read prompt file", proc.stderr)

    def test_defaults_no_cache_no_parallelism(self) -> None:
        pf = self.write_prompts(["a cat"])
        proc = self.run_script(pf, "--warmup", "0")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (init,) = self.calls("init")
        self.assertEqual(init["model"], "stand-in/model")
        self.assertIsNone(init["kwargs"]["cache_backend"])
        self.assertIsNone(init["kwargs"]["cache_config"])
        self.assertNotIn("parallel_config", init["kwargs"])
        pc = init["parallel_config"]
        self.assertEqual(
            (pc["ulysses_degree"], pc["ring_degree"], pc["cfg_parallel_size"], pc["tensor_parallel_size"]),
            (1, 1, 1, 1),
        )
        self.assertEqual(init["world_size"], 1)
        # no feature flag: the engine's defaults
        self.assertEqual(
            init["engine_args"],
            {"cache_backend": None, "cache_config": None, "enable_cpu_offload": False,
             "enable_layerwise_offload": False, "enforce_eager": False, "fa_deterministic": False,
             "quantization": None},
        )

    def test_sampling_params(self) -> None:
        pf = self.write_prompts(["a cat"])
        self.assertEqual(self.run_script(pf, "--warmup", "0").returncode, 0)
        (gen,) = self.calls("generate")
        self.assertEqual(gen["sampling_params_type"], "vllm_omni.inputs.data.OmniDiffusionSamplingParams")
        sp = gen["sampling_params"]
        self.assertEqual(sp["num_inference_steps"], 7)
        self.assertEqual((sp["height"], sp["width"]), (64, 48))
        # both scales: Qwen-Image reads true_cfg_scale, FLUX/SD3.5/Z-Image guidance_scale
        self.assertEqual(sp["true_cfg_scale"], 3.5)
        self.assertEqual(sp["guidance_scale"], 3.5)
        self.assertTrue(gen["guidance_scale_provided"])
        self.assertEqual(sp["num_outputs_per_prompt"], 1)
        # an empty negative prompt is still sent: it keeps Qwen-Image's guidance on
        self.assertEqual(gen["prompt"], {"prompt": "a cat", "negative_prompt": ""})

    def test_distilled_guidance_is_its_own_setting(self) -> None:
        # compat's {guidance_scale}: empty leaves guidance_scale = cfg scale;
        # a value (FLUX.1-dev: 3.5 with --cfg-scale 1) is sent on its own.
        pf = self.write_prompts(["a cat"])
        self.assertEqual(self.run_script(pf, "--warmup", "0", "--guidance-scale=").returncode, 0)
        (gen,) = self.calls("generate")
        self.assertEqual(gen["sampling_params"]["guidance_scale"], 3.5)
        pf = self.write_prompts(["a dog"])
        proc = self.run_script(pf, "--warmup", "0", "--cfg-scale", "1", "--guidance-scale=2.5")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        gen = self.calls("generate")[-1]
        self.assertEqual(gen["sampling_params"]["true_cfg_scale"], 1.0)
        self.assertEqual(gen["sampling_params"]["guidance_scale"], 2.5)
        proc = self.run_script(pf, "--warmup", "0", "--guidance-scale=inf")
        self.assertEqual(proc.returncode, 2, proc.stderr)

    def test_negative_prompt_reaches_request(self) -> None:
        pf = self.write_prompts(["a cat"])
        self.run_script(pf, "--warmup", "0", "--negative-prompt", "blurry, low quality")
        (gen,) = self.calls("generate")
        self.assertEqual(gen["prompt"], {"prompt": "a cat", "negative_prompt": "blurry, low quality"})


class TestCacheConfigs(BackendCase):
    def test_tea_cache(self) -> None:
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf, "--cache-backend", "tea_cache").returncode, 0)
        (init,) = self.calls("init")
        self.assertEqual(init["kwargs"]["cache_backend"], "tea_cache")
        self.assertEqual(init["kwargs"]["cache_config"], {"rel_l1_thresh": 0.2})

    def test_cache_dit(self) -> None:
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf, "--cache-backend", "cache_dit").returncode, 0)
        (init,) = self.calls("init")
        self.assertEqual(init["kwargs"]["cache_backend"], "cache_dit")
        cfg = init["kwargs"]["cache_config"]
        self.assertEqual(cfg["Fn_compute_blocks"], 1)
        self.assertEqual(cfg["Bn_compute_blocks"], 0)
        self.assertEqual(cfg["max_warmup_steps"], 4)
        self.assertEqual(cfg["residual_diff_threshold"], 0.24)
        self.assertEqual(cfg["max_continuous_cached_steps"], 3)
        self.assertFalse(cfg["enable_taylorseer"])
        self.assertIsNone(cfg["scm_steps_mask_policy"])


class TestParallelDegrees(BackendCase):
    """The degrees must reach the workers on every path the engine has: passed as
    plain Omni keywords. parallel_config=DiffusionParallelConfig(...) is dropped
    on the registry path (vllm-omni #6312/#5804) and silently runs on one GPU."""

    CASES = {
        "--cfg-parallel-size": "cfg_parallel_size",
        "--ulysses-degree": "ulysses_degree",
        "--ring-degree": "ring_degree",
        "--tensor-parallel-size": "tensor_parallel_size",
    }

    def test_each_degree_reaches_the_workers_on_both_stage_paths(self) -> None:
        pf = self.write_prompts(["a"])
        for path in ("default", "registry"):
            for flag, key in self.CASES.items():
                with self.subTest(path=path, flag=flag):
                    self.record.unlink(missing_ok=True)
                    proc = self.run_script(
                        pf, flag, "2", "--warmup", "0", env_extra={"VLLM_OMNI_STANDIN_STAGE_PATH": path}
                    )
                    self.assertEqual(proc.returncode, 0, proc.stderr)
                    (init,) = self.calls("init")
                    pc = init["parallel_config"]
                    self.assertEqual(pc[key], 2, f"{key} did not reach the workers on the {path} path")
                    self.assertEqual(init["world_size"], 2)
                    for other in self.CASES.values():
                        if other != key:
                            self.assertEqual(pc[other], 1, other)
                    # plain keywords, never the object the registry path drops
                    self.assertEqual(init["kwargs"][key], 2)
                    self.assertNotIn("parallel_config", init["kwargs"])

    def test_combined_degrees(self) -> None:
        pf = self.write_prompts(["a"])
        for path in ("default", "registry"):
            with self.subTest(path=path):
                self.record.unlink(missing_ok=True)
                proc = self.run_script(
                    pf, "--cfg-parallel-size", "2", "--ulysses-degree", "2", "--ring-degree", "2",
                    "--tensor-parallel-size", "2", "--cache-backend", "tea_cache",
                    env_extra={"VLLM_OMNI_STANDIN_STAGE_PATH": path},
                )
                self.assertEqual(proc.returncode, 0, proc.stderr)
                init = self.calls("init")[0]
                pc = init["parallel_config"]
                self.assertEqual(pc["sequence_parallel_size"], 4)
                self.assertEqual(
                    (pc["ulysses_degree"], pc["ring_degree"], pc["cfg_parallel_size"], pc["tensor_parallel_size"]),
                    (2, 2, 2, 2),
                )
                self.assertEqual(init["world_size"], 16)

    def test_vae_patch_parallel_rides_on_the_dit_group(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--ulysses-degree", "2", "--vae-patch-parallel-size", "2", "--warmup", "0")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (init,) = self.calls("init")
        self.assertEqual(init["parallel_config"]["vae_patch_parallel_size"], 2)
        self.assertEqual(init["world_size"], 2)  # reuses the DiT GPUs


class TestBatch(BackendCase):
    PROMPTS = ["a red fox", "a blue whale", "a green frog"]

    def test_model_loaded_once_and_seeds_are_seed_plus_i(self) -> None:
        pf = self.write_prompts(self.PROMPTS)
        proc = self.run_script(pf, "--warmup", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(len(self.calls("init")), 1)
        self.assertEqual(len(self.calls("close")), 1)
        gens = self.calls("generate")
        self.assertEqual(len(gens), 2 + 3)  # two warm-up calls, then one per prompt
        warm, batch = gens[:2], gens[2:]
        for g in warm:
            self.assertEqual(g["prompt"]["prompt"], self.PROMPTS[0])
            self.assertEqual(g["sampling_params"]["seed"], 42)
        self.assertEqual([g["prompt"]["prompt"] for g in batch], self.PROMPTS)
        self.assertEqual([g["sampling_params"]["seed"] for g in batch], [42, 43, 44])

    def test_output_files_and_results_jsonl(self) -> None:
        pf = self.write_prompts(self.PROMPTS)
        proc = self.run_script(pf)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = self.results()
        events = [r["event"] for r in rows if "event" in r]
        self.assertEqual(events[:3], ["load", "settings", "warmup"])
        self.assertEqual(rows[0]["event"], "load")
        self.assertIsInstance(rows[0]["seconds"], float)
        # The engine as it ran (the stand-in's version), for report.json.
        self.assertEqual(rows[1]["engine"]["engine"], "vllm-omni")
        self.assertIsInstance(rows[1]["engine"]["version"], str)
        self.assertIsInstance(rows[2]["seconds"], float)
        lines = self.prompt_lines()
        self.assertEqual([r["prompt"] for r in lines], [0, 1, 2])
        for i, r in enumerate(lines):
            self.assertEqual(set(r), {"prompt", "image", "seconds", "ok"})
            self.assertIs(r["ok"], True)
            self.assertEqual(r["image"], f"prompt_{i:02d}.png")
            self.assertIsInstance(r["seconds"], float)
            self.assertGreaterEqual(r["seconds"], 0.0)
            self.assertTrue(png_ok(self.out / r["image"]), r["image"])
        # different seeds, different images (the stand-in colours by seed)
        blobs = {(self.out / r["image"]).read_bytes() for r in lines}
        self.assertEqual(len(blobs), 3)
        # the engine's own peak (peak_memory_mb = 1000 + seed MiB in the stand-in):
        # warm-up seed 42, prompts 42..44 -> 1044 MiB on device 0, written once
        self.assertEqual(set(events), {"load", "settings", "warmup", "memory"})
        (mem,) = [r for r in rows if r.get("event") == "memory"]
        self.assertEqual(mem, {"event": "memory", "device": 0, "peak_bytes": 1044 * 1024 * 1024})

    def test_summary_log_lines(self) -> None:
        pf = self.write_prompts(self.PROMPTS)
        proc = self.run_script(pf)
        out = proc.stdout.decode("utf-8")
        lines = [l for l in out.splitlines() if l.startswith("  Prompt ")]
        self.assertEqual(len(lines), 3)
        for n, line in enumerate(lines, start=1):
            self.assertRegex(line, rf"^  Prompt {n}: \d+\.\d+ seconds$")

    def test_two_digit_names_beyond_ten(self) -> None:
        pf = self.write_prompts([f"p{i}" for i in range(12)])
        self.assertEqual(self.run_script(pf, "--warmup", "0").returncode, 0)
        names = sorted(p.name for p in self.out.glob("prompt_*.png"))
        self.assertEqual(names, [f"prompt_{i:02d}.png" for i in range(12)])
        self.assertEqual([g["sampling_params"]["seed"] for g in self.calls("generate")], list(range(42, 54)))


class TestFailures(BackendCase):
    def test_failing_prompt_is_recorded_and_batch_goes_on(self) -> None:
        pf = self.write_prompts(["fine one", "please FAIL_ME now", "fine three"])
        proc = self.run_script(pf, env_extra={"VLLM_OMNI_STANDIN_FAIL_ON": "FAIL_ME"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = self.prompt_lines()
        self.assertEqual([r["ok"] for r in lines], [True, False, True])
        bad = lines[1]
        self.assertEqual(bad["prompt"], 1)
        self.assertIsNone(bad["image"])
        self.assertIsNone(bad["seconds"])
        self.assertIn("CUDA out of memory", bad["error"])
        self.assertFalse((self.out / "prompt_01.png").exists())
        self.assertTrue(png_ok(self.out / "prompt_02.png"))
        # Omni.generate closes the engine on any exception (entrypoints/omni.py:91-94):
        # the script loads it again, warms it up, and never calls the closed one
        self.assertEqual(len(self.calls("init")), 2)
        self.assertEqual(self.calls("generate_after_close"), [])
        reload = [r for r in self.results() if r.get("event") == "reload"]
        self.assertEqual(len(reload), 1)
        self.assertEqual(reload[0]["after"], 1)
        self.assertIsInstance(reload[0]["seconds"], float)
        # the failing prompt kept its seed: seeds never shift
        # (warm-up 42, prompts 42 and 43, warm-up after the reload 42, prompt 44)
        self.assertEqual([g["sampling_params"]["seed"] for g in self.calls("generate")], [42, 42, 43, 42, 44])
        out = proc.stdout.decode()
        self.assertIn("  Prompt 1: ", out)
        self.assertIn("  Prompt 3: ", out)
        self.assertNotRegex(out, r"  Prompt 2: \d")

    def test_every_prompt_failing_exits_1(self) -> None:
        pf = self.write_prompts(["FAIL_ME a", "FAIL_ME b"])
        proc = self.run_script(pf, "--warmup", "0", env_extra={"VLLM_OMNI_STANDIN_FAIL_ON": "FAIL_ME"})
        self.assertEqual(proc.returncode, 1)
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [False, False])

    def test_failing_warmup_does_not_stop_the_batch(self) -> None:
        # the warm-up uses prompt 0, which fails; prompt 1 still runs
        pf = self.write_prompts(["FAIL_ME first", "second"])
        proc = self.run_script(pf, env_extra={"VLLM_OMNI_STANDIN_FAIL_ON": "FAIL_ME"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        warm = [r for r in self.results() if r.get("event") == "warmup"]
        self.assertEqual(len(warm), 1)
        self.assertIs(warm[0]["ok"], False)
        self.assertIsNone(warm[0]["seconds"])
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [False, True])

    def test_load_failure_exits_1_without_prompt_lines(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, env_extra={"VLLM_OMNI_STANDIN_FAIL_INIT": "1"})
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"model load failed", proc.stderr)
        rows = self.results()
        self.assertEqual(len(rows), 1)
        self.assertEqual(rows[0]["event"], "load")
        self.assertIs(rows[0]["ok"], False)
        self.assertIn("model load failed", rows[0]["error"])
        self.assertEqual(self.calls("generate"), [])

    def test_missing_vllm_omni_is_setup_failure(self) -> None:
        pf = self.write_prompts(["a"])
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run(
            [sys.executable, str(SCRIPT), "--model", "m", "--prompt-file", str(pf), "--output", str(self.out)],
            env=env, capture_output=True, timeout=60,
        )
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"vllm_omni", proc.stderr)


class TestNegativePrompt(BackendCase):
    """Qwen-Image runs guidance only when the request has a negative_prompt that is
    not None (pipeline_qwen_image.py:644-650, 706-709); compat's default negative
    prompt is empty, so an empty one must still be sent."""

    def test_empty_negative_prompt_keeps_guidance_on(self) -> None:
        pf = self.write_prompts(["a cat", "a dog"])
        proc = self.run_script(pf, "--cfg-parallel-size", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        gens = self.calls("generate")
        self.assertEqual(len(gens), 3)
        for g in gens:
            self.assertIn("negative_prompt", g["prompt"])
            self.assertEqual(g["prompt"]["negative_prompt"], "")
            self.assertTrue(g["do_true_cfg"], "guidance is off: the request has no negative_prompt")
            self.assertFalse(g["cfg_parallel_idle"], "CFG-Parallel has no negative branch to run")

    def test_missing_flag_means_empty_negative_prompt(self) -> None:
        pf = self.write_prompts(["a cat"])
        argv = ["--model", "m", "--prompt-file", str(pf), "--output", str(self.out), "--warmup", "0"]
        proc = self.run_script(pf, *argv, base=False)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (gen,) = self.calls("generate")
        self.assertEqual(gen["prompt"], {"prompt": "a cat", "negative_prompt": ""})
        self.assertTrue(gen["do_true_cfg"])


class TestFeatureKeywords(BackendCase):
    """Each feature flag becomes the Omni keyword vLLM-Omni reads
    (async_omni_engine.py:1027-1085); the stand-in rejects any keyword the
    engine does not read, as the newest vLLM-Omni does."""

    FLAGS = {
        "--enable-cpu-offload": ("enable_cpu_offload", True),
        "--enable-layerwise-offload": ("enable_layerwise_offload", True),
        "--enforce-eager": ("enforce_eager", True),
        "--fa-deterministic": ("fa_deterministic", True),
    }

    def test_each_flag_reaches_the_engine(self) -> None:
        pf = self.write_prompts(["a"])
        for flag, (key, value) in self.FLAGS.items():
            with self.subTest(flag=flag):
                self.record.unlink(missing_ok=True)
                proc = self.run_script(pf, flag, "--warmup", "0")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                (init,) = self.calls("init")
                self.assertEqual(init["kwargs"][key], value)
                self.assertEqual(init["engine_args"][key], value)

    def test_quantization(self) -> None:
        pf = self.write_prompts(["a"])
        for method in ("fp8", "int8"):
            with self.subTest(method=method):
                self.record.unlink(missing_ok=True)
                proc = self.run_script(pf, "--quantization", method, "--warmup", "0")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(self.calls("init")[0]["engine_args"]["quantization"], method)
        self.assertEqual(self.run_script(pf, "--quantization", "fp4").returncode, 2)

    def test_every_keyword_is_one_the_engine_reads(self) -> None:
        # everything at once (the combination rules aside): no keyword is unknown
        pf = self.write_prompts(["a"])
        proc = self.run_script(
            pf, "--ulysses-degree", "2", "--ring-degree", "2", "--cfg-parallel-size", "2",
            "--tensor-parallel-size", "2", "--vae-patch-parallel-size", "2",
            "--quantization", "fp8", "--enforce-eager", "--fa-deterministic", "--cache-backend", "cache_dit",
            "--warmup", "0",
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn(b"Unknown diffusion config field", proc.stderr)
        (init,) = self.calls("init")
        self.assertEqual(
            set(init["kwargs"]),
            {"cache_backend", "cache_config", "ulysses_degree", "ring_degree", "cfg_parallel_size",
             "tensor_parallel_size", "vae_patch_parallel_size", "enable_cpu_offload",
             "enable_layerwise_offload", "quantization", "enforce_eager", "fa_deterministic"},
        )

    def test_unset_flags_are_not_sent(self) -> None:
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf, "--warmup", "0").returncode, 0)
        kwargs = self.calls("init")[0]["kwargs"]
        for key in ("tensor_parallel_size", "quantization", "enforce_eager", "fa_deterministic"):
            self.assertNotIn(key, kwargs)


class TestCombinations(BackendCase):
    """Combinations vLLM-Omni silently drops or its compatibility table rules
    out are usage errors, not runs that look fine."""

    def test_rejected(self) -> None:
        pf = self.write_prompts(["a"])
        cases = {
            "vae larger than the DiT group (clamped)": ["--vae-patch-parallel-size", "2"],
            "vae larger than ulysses": ["--ulysses-degree", "2", "--vae-patch-parallel-size", "4"],
            "layerwise on two GPUs": ["--enable-layerwise-offload", "--ulysses-degree", "2"],
            "layerwise with tp": ["--enable-layerwise-offload", "--tensor-parallel-size", "2"],
            "layerwise with cfg": ["--enable-layerwise-offload", "--cfg-parallel-size", "2"],
            "layerwise plus model-level": ["--enable-layerwise-offload", "--enable-cpu-offload"],
            "vae with cpu offload": ["--ulysses-degree", "2", "--vae-patch-parallel-size", "2",
                                     "--enable-cpu-offload"],
        }
        for name, args in cases.items():
            with self.subTest(name=name):
                self.record.unlink(missing_ok=True)
                proc = self.run_script(pf, *args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertEqual(self.calls("init"), [])

    def test_accepted(self) -> None:
        pf = self.write_prompts(["a"])
        for args in (["--enable-layerwise-offload"], ["--enable-cpu-offload", "--ulysses-degree", "2"],
                     ["--quantization", "fp8", "--ring-degree", "2"]):
            with self.subTest(args=args):
                self.assertEqual(self.run_script(pf, *args, "--warmup", "0").returncode, 0)


class TestVersions(BackendCase):
    """The script reads the installed version and refuses one that would drop a keyword."""

    def run_version(self, version: str, *extra: str) -> subprocess.CompletedProcess:
        pf = self.write_prompts(["a"])
        return self.run_script(pf, "--warmup", "0", *extra, env_extra={"VLLM_OMNI_STANDIN_VERSION": version})

    def test_older_than_0_18_is_refused(self) -> None:
        for version in ("0.16.0", "0.17.1", "0.14.0rc1"):
            with self.subTest(version=version):
                self.record.unlink(missing_ok=True)
                proc = self.run_version(version)
                self.assertEqual(proc.returncode, 1)
                self.assertIn(b"not supported", proc.stderr)
                self.assertEqual(self.calls("init"), [])
                (load,) = self.results()
                self.assertEqual(load["event"], "load")
                self.assertIs(load["ok"], False)

    def test_supported_versions_run(self) -> None:
        for version in ("0.18.0", "0.22.1", "0.26.0", "0.27.0rc1", "0.28.1.dev12+gabcdef0", "1.0.0"):
            with self.subTest(version=version):
                self.record.unlink(missing_ok=True)
                proc = self.run_version(version)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertIn(version.encode(), proc.stdout)

    def test_fa_deterministic_needs_0_27(self) -> None:
        proc = self.run_version("0.26.0", "--fa-deterministic")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"--fa-deterministic needs vLLM-Omni >= 0.27", proc.stderr)
        self.assertEqual(self.calls("init"), [])
        self.assertEqual(self.run_version("0.27.0", "--fa-deterministic").returncode, 0)

    def test_untagged_checkout_is_checked_by_its_code(self) -> None:
        # setuptools_scm without tags gives 0.1.devN (vllm_omni/version.py falls back to "dev")
        for version in ("0.1.dev2142+g29dcdec66", "dev"):
            with self.subTest(version=version):
                self.record.unlink(missing_ok=True)
                self.assertEqual(self.run_version(version).returncode, 0)
        # the stand-in has no OmniDiffusionConfig to show the field: refused, not guessed
        proc = self.run_version("dev", "--fa-deterministic")
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"cannot tell whether", proc.stderr)


class TestImageShapes(BackendCase):
    """Images wherever current releases put them, as PIL images or NumPy arrays
    (whose truth value raises)."""

    KINDS = ("images", "array_images", "mm_image", "mm_images", "mm_model_outputs", "completion_mm",
             "request_output")

    def test_every_output_shape(self) -> None:
        pf = self.write_prompts(["a", "b", "c"])
        for kind in self.KINDS:
            with self.subTest(kind=kind):
                shutil.rmtree(self.out, ignore_errors=True)
                proc = self.run_script(pf, env_extra={"VLLM_OMNI_STANDIN_OUTPUT": kind})
                self.assertEqual(proc.returncode, 0, proc.stderr)
                lines = self.prompt_lines()
                self.assertEqual([r["ok"] for r in lines], [True, True, True], lines)
                for r in lines:
                    self.assertTrue(png_ok(self.out / r["image"]), r["image"])
                blobs = {(self.out / r["image"]).read_bytes() for r in lines}
                self.assertEqual(len(blobs), 3)
                self.assertNotIn(b"truth value of an array", proc.stderr)

    def test_array_pixels(self) -> None:
        # seed 42 -> rgb (42*37 % 256, 42*91 % 256, 42*13 % 256) = (18, 238, 34); 64x48 capped to 8x8
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--warmup", "0", env_extra={"VLLM_OMNI_STANDIN_OUTPUT": "mm_image"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        data = (self.out / "prompt_00.png").read_bytes()
        width, height, depth, color = struct.unpack(">IIBB", data[16:26])
        self.assertEqual((width, height, depth, color), (8, 8, 8, 2))
        idat_at = data.index(b"IDAT")
        length = int.from_bytes(data[idat_at - 4:idat_at], "big")
        raw = zlib.decompress(data[idat_at + 4:idat_at + 4 + length])
        self.assertEqual(raw[:4], bytes([0, 18, 238, 34]))

    def test_legacy_output_memory(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--warmup", "0", env_extra={"VLLM_OMNI_STANDIN_OUTPUT": "request_output"})
        self.assertEqual(proc.returncode, 0, proc.stderr)
        (mem,) = [r for r in self.results() if r.get("event") == "memory"]
        self.assertEqual(mem["peak_bytes"], 1042 * 1024 * 1024)


class TestStandinFidelity(unittest.TestCase):
    """The stand-in rejects what the real vLLM-Omni rejects (or, where the real one
    drops a keyword silently, what its newest version rejects)."""

    def setUp(self) -> None:
        sys.path.insert(0, str(STANDIN))
        for name in [m for m in sys.modules if m == "vllm_omni" or m.startswith("vllm_omni.")]:
            del sys.modules[name]

    def tearDown(self) -> None:
        sys.path.remove(str(STANDIN))
        for name in [m for m in sys.modules if m == "vllm_omni" or m.startswith("vllm_omni.")]:
            del sys.modules[name]

    def test_sampling_params_fields(self) -> None:
        import dataclasses

        from vllm_omni.inputs.data import OmniDiffusionSamplingParams

        names = [f.name for f in dataclasses.fields(OmniDiffusionSamplingParams)]
        self.assertEqual(len(names), 83)  # vllm_omni/inputs/data.py:204-419 of the 0.30.0 wheel
        self.assertIn("emit_request_lifecycle", names)  # data.py:355, new since bd4f9acf
        for name in ("height", "width", "num_inference_steps", "true_cfg_scale", "guidance_scale", "seed",
                     "generator", "num_outputs_per_prompt", "extra_args"):
            self.assertIn(name, names)
        with self.assertRaisesRegex(TypeError, "unexpected keyword argument 'cfg_scale'"):
            OmniDiffusionSamplingParams(cfg_scale=4.0)
        with self.assertRaisesRegex(ValueError, "quality must be one of"):
            OmniDiffusionSamplingParams(quality="best")

    def test_parallel_config_fields(self) -> None:
        import dataclasses

        from vllm_omni.diffusion.data import DiffusionParallelConfig

        names = [f.name for f in dataclasses.fields(DiffusionParallelConfig)]
        self.assertEqual(len(names), 18)  # vllm_omni/diffusion/data.py:253-524 of the 0.30.0 wheel
        self.assertIn("ulysses_a2a_permute", names)  # data.py:296, new since bd4f9acf
        self.assertEqual(DiffusionParallelConfig(ulysses_degree=2, cfg_parallel_size=2).world_size, 4)
        with self.assertRaises(TypeError):
            DiffusionParallelConfig(usp=2)

    def test_omni_keywords(self) -> None:
        from vllm_omni.entrypoints.omni import Omni

        with self.assertRaisesRegex(ValueError, r"Unknown diffusion config field\(s\) for stage 0: 'enable_cpu_offloading'"):
            Omni(model="m", enable_cpu_offloading=True)
        with self.assertRaisesRegex(TypeError, "log_requests"):
            Omni(model="m", log_requests=True)
        with self.assertRaisesRegex(ValueError, "no longer supported"):
            Omni(model="m", stage_configs_path="x.yaml")
        with self.assertRaises(TypeError):
            Omni(ulysses_degree=2)  # model is required

    def test_array_truth_value_raises(self) -> None:
        from vllm_omni.standin_arrays import solid_hwc

        with self.assertRaisesRegex(ValueError, "truth value of an array"):
            bool(solid_hwc(2, 2, (0.0, 0.0, 0.0)))


class TestHostilePrompts(BackendCase):
    HOSTILE = [
        'she said "hi" and \'bye\'',
        "$(rm -rf /) `uname -a` ${HOME} %s %(x)s {0} {prompt}",
        "<script>alert('x')</script> & &amp; \\n \\\\",
        "naïve café — 東京 🦊 Ωμέγα عربى",
        "  leading and trailing spaces  ",
        "tab\there\x0bvertical\x0cform\x1cfs\u2028ls\u2029ps\x85nel",
        "-- --seed 9 --model evil",
        "",
    ]

    def test_prompts_pass_through_byte_for_byte(self) -> None:
        pf = self.write_prompts(self.HOSTILE)
        proc = self.run_script(pf, "--warmup", "0")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = [g["prompt"]["prompt"] for g in self.calls("generate")]
        self.assertEqual(len(got), len(self.HOSTILE))
        for want, have in zip(self.HOSTILE, got):
            self.assertEqual(have.encode("utf-8"), want.encode("utf-8"))
        self.assertEqual([r["prompt"] for r in self.prompt_lines()], list(range(len(self.HOSTILE))))

    def test_crlf_and_no_final_newline(self) -> None:
        pf = self.write_prompts("first \"q\"\r\nsecond $(x)".encode("utf-8"))
        self.assertEqual(self.run_script(pf, "--warmup", "0").returncode, 0)
        got = [g["prompt"]["prompt"] for g in self.calls("generate")]
        self.assertEqual(got, ['first "q"', "second $(x)"])

    def test_invalid_utf8_is_setup_failure(self) -> None:
        pf = self.write_prompts(b"ok\n\xff\xfe bad\n")
        proc = self.run_script(pf)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(self.calls("init"), [])

    def test_negative_prompt_starting_with_dashes(self) -> None:
        pf = self.write_prompts(["a"])
        for neg in ("-blurry", "-- --seed 9 --model evil", "--help"):
            with self.subTest(neg=neg):
                self.record.unlink(missing_ok=True)
                proc = self.run_script(pf, "--warmup", "0", "--negative-prompt", neg)
                self.assertEqual(proc.returncode, 0, proc.stderr)
                (gen,) = self.calls("generate")
                self.assertEqual(gen["prompt"]["negative_prompt"], neg)
                self.assertEqual(gen["sampling_params"]["seed"], 42)
                self.assertEqual(self.calls("init")[0]["model"], "stand-in/model")

    def test_hostile_negative_prompt_untouched(self) -> None:
        neg = "$(whoami) \"quoted\" <b>ü</b>"
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf, "--warmup", "0", "--negative-prompt", neg).returncode, 0)
        self.assertEqual(self.calls("generate")[0]["prompt"]["negative_prompt"], neg)


class TestStandinPng(unittest.TestCase):
    def test_standin_png_is_valid(self) -> None:
        sys.path.insert(0, str(STANDIN))
        try:
            from vllm_omni.entrypoints.omni import png_bytes  # the stand-in's writer
        finally:
            sys.path.remove(str(STANDIN))
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "x.png"
            p.write_bytes(png_bytes(3, 2, (1, 2, 3)))
            self.assertTrue(png_ok(p))


if __name__ == "__main__":
    unittest.main()
