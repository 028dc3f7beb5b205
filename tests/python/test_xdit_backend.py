"""Tests of backends/xdit/batch_text_to_image.py against a STAND-IN xfuser and torch.

The stand-ins (tests/python/standin/xfuser, tests/python/standin_torch/torch)
are not xDiT or PyTorch: they mimic the runner API, parser, registry and
capability checks of xDiT commit 175e0bf, record every call with the rank that
made it, and keep the ranks' collectives across real processes. The script runs
as one child process per rank with RANK / WORLD_SIZE / LOCAL_RANK set, the way
torchrun starts it; a rank that skipped a collective would make the others time
out (STANDIN_TORCH_TIMEOUT) instead of finishing.

Run from the repository root (standard library only, no network):
    python3 -m unittest discover -s tests/python -v
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
from pathlib import Path

from png_check import png_ok  # tests/python, on sys.path under unittest discover

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "backends" / "xdit" / "batch_text_to_image.py"
STANDIN = HERE / "standin"
TORCH_SHIM = HERE / "standin_torch"

COLLECTIVE_TIMEOUT = 10.0  # seconds a stand-in collective waits for the other ranks
PROCESS_TIMEOUT = 60.0

PROMPTS = ["a red cube on a table", "a blue sphere in the sky", "a green cone at night"]


class Rank:
    def __init__(self, rank: int, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.rank = rank
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class XditCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-xdit-"))
        self.out = self.tmp / "out"
        self.record = self.tmp / "calls.jsonl"
        self.runs = 0

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_prompts(self, prompts: list[str] | bytes = PROMPTS) -> Path:
        path = self.tmp / "prompts.txt"
        if isinstance(prompts, bytes):
            path.write_bytes(prompts)
        else:
            path.write_bytes(("\n".join(prompts) + "\n").encode("utf-8"))
        return path

    def base_argv(self, prompt_file: Path, model: str, warmup: int = 1) -> list[str]:
        return [
            "--model", model,
            "--prompt-file", str(prompt_file),
            "--output", str(self.out),
            "--num-inference-steps", "7",
            "--height", "64",
            "--width", "48",
            "--cfg-scale", "3.5",
            "--seed", "42",
            "--negative-prompt", "",
            "--warmup", str(warmup),
        ]

    def launch(
        self,
        prompt_file: Path | None,
        *extra: str,
        world: int = 1,
        model: str = "Qwen/Qwen-Image",
        warmup: int = 1,
        env_extra: dict[str, str] | None = None,
        base: bool = True,
        pythonpath: list[Path] | None = None,
    ) -> list[Rank]:
        """Start the script once per rank, as torchrun does, and wait for all."""
        self.runs += 1
        store = self.tmp / f"store{self.runs}"
        store.mkdir()
        argv = [sys.executable, str(SCRIPT)]
        if base:
            argv += self.base_argv(prompt_file, model, warmup)
        argv += list(extra)
        paths = [TORCH_SHIM, STANDIN] if pythonpath is None else pythonpath
        procs = []
        for rank in range(world):
            env = {k: v for k, v in os.environ.items()
                   if not k.startswith(("XFUSER_STANDIN", "STANDIN_TORCH")) and k not in ("RANK", "WORLD_SIZE")}
            env["PYTHONPATH"] = os.pathsep.join(str(p) for p in paths)
            env["PYTHONIOENCODING"] = "utf-8"
            env.update({
                "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank),
                "LOCAL_WORLD_SIZE": str(world), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29599",
                "STANDIN_TORCH_STORE": str(store), "STANDIN_TORCH_TIMEOUT": str(COLLECTIVE_TIMEOUT),
                "XFUSER_STANDIN_RECORD": str(self.record),
            })
            env.update(env_extra or {})
            out = open(store / f"stdout{rank}", "wb")
            err = open(store / f"stderr{rank}", "wb")
            procs.append((subprocess.Popen(argv, env=env, stdout=out, stderr=err, cwd=str(REPO)), out, err))
        deadline = time.monotonic() + PROCESS_TIMEOUT
        ranks = []
        for rank, (proc, out, err) in enumerate(procs):
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                for p, _, _ in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                self.fail(f"rank {rank} did not finish in {PROCESS_TIMEOUT} s")
            out.close()
            err.close()
            ranks.append(Rank(rank, proc.returncode, (store / f"stdout{rank}").read_bytes(),
                              (store / f"stderr{rank}").read_bytes()))
        return ranks

    def assert_rc(self, ranks: list[Rank], code: int) -> None:
        for r in ranks:
            self.assertEqual(r.returncode, code, f"rank {r.rank}: {r.stderr.decode(errors='replace')[-3000:]}")

    def calls(self, kind: str | None = None, rank: int | None = None) -> list[dict]:
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text(encoding="utf-8").split("\n") if line]
        return [r for r in rows if (kind is None or r["call"] == kind) and (rank is None or r["rank"] == rank)]

    def results(self) -> list[dict]:
        text = (self.out / "results.jsonl").read_text(encoding="utf-8")
        self.assertTrue(text.endswith("\n"))
        return [json.loads(line) for line in text.split("\n") if line]

    def prompt_lines(self) -> list[dict]:
        return [r for r in self.results() if "prompt" in r]

    def events(self, name: str) -> list[dict]:
        return [r for r in self.results() if r.get("event") == name]


# ------------------------------------------------------------------ arguments


class TestArguments(XditCase):
    def test_help_works_without_xfuser_or_torch(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], env=env, capture_output=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        text = proc.stdout.decode()
        for flag in ("--model", "--prompt-file", "--output", "--num-inference-steps", "--height", "--width",
                     "--cfg-scale", "--seed", "--negative-prompt", "--warmup"):
            self.assertIn(flag, text)
        self.assertIn("0.7.0", text)

    def test_unknown_flag_is_rejected_by_xdits_own_parser(self) -> None:
        pf = self.write_prompts()
        for flags, expect in ((["--cache_method", "magcache"], b"invalid choice: 'magcache'"),
                              (["--cache-backend", "tea_cache"], b"unrecognized arguments: --cache_backend tea_cache"),
                              (["--cfg-parallel-size", "2"], b"unrecognized arguments")):
            with self.subTest(flags=flags):
                ranks = self.launch(pf, *flags)
                self.assert_rc(ranks, 2)
                self.assertIn(b"xDiT's runner parser", ranks[0].stderr)
                self.assertIn(expect, ranks[0].stderr)
        self.assertEqual(self.calls(), [])

    def test_typo_gets_a_suggestion(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulyses_degree", "2")
        self.assert_rc(ranks, 2)
        self.assertIn(b"did you mean --ulysses_degree?", ranks[0].stderr)

    def test_dash_spelling_is_normalised_as_xdit_does(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses-degree", "2", world=2)
        self.assert_rc(ranks, 0)
        for load in self.calls("load"):
            self.assertEqual(load["config"]["ulysses_degree"], 2)

    def test_feature_flags_anywhere_on_the_line_keep_their_order(self) -> None:
        argv = self.base_argv(self.write_prompts(), "Qwen/Qwen-Image")
        argv[2:2] = ["--ulysses_degree", "2"]  # between --model and --prompt-file
        argv += ["--ring_degree=2", "--use_torch_compile"]
        ranks = self.launch(None, *argv, base=False, world=4)
        self.assert_rc(ranks, 0)
        config = self.calls("load")[0]["config"]
        self.assertEqual((config["ulysses_degree"], config["ring_degree"], config["use_torch_compile"]), (2, 2, True))

    def test_bad_value_is_usage_error(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "x")
        self.assert_rc(ranks, 2)
        self.assertIn(b"invalid int value", ranks[0].stderr)

    def test_flags_the_adapter_sets_cannot_come_from_features(self) -> None:
        pf = self.write_prompts()
        for flags in (["--num_inference_steps", "3"], ["--warmup_calls", "2"], ["--dataset_path", "p.csv"],
                      ["--batch_size", "2"], ["--prompt", "hi"], ["--negative_prompt", "ugly"],
                      ["--guidance_scale", "1.5"], ["--num_iterations", "3"], ["--output_directory", "/tmp"],
                      ["--input_images", "x.png"], ["--profile"]):
            with self.subTest(flags=flags):
                ranks = self.launch(pf, *flags)
                self.assert_rc(ranks, 2)
                self.assertIn(b"the adapter sets it itself", ranks[0].stderr)
        for flags in (["--seed", "7"], ["--model", "FLUX.1-dev"], ["--height", "32"]):
            with self.subTest(flags=flags):
                ranks = self.launch(pf, *flags)
                self.assert_rc(ranks, 2)
                self.assertIn(b"given twice", ranks[0].stderr)
        self.assertEqual(self.calls(), [])

    def test_data_parallel_is_usage_error(self) -> None:
        ranks = self.launch(self.write_prompts(), "--data_parallel_degree", "2", world=2)
        self.assert_rc(ranks, 2)
        self.assertIn(b"one prompt per call", ranks[1].stderr)

    def test_model_outside_the_registry(self) -> None:
        ranks = self.launch(self.write_prompts(), model="stand-in/model")
        self.assert_rc(ranks, 2)
        self.assertIn(b"not in xDiT's model registry", ranks[0].stderr)
        self.assertIn(b"Qwen/Qwen-Image-2512", ranks[0].stderr)
        self.assertNotIn(b"Wan2.1-T2V", ranks[0].stderr)  # only text-to-image keys are listed

    def test_video_model_is_usage_error(self) -> None:
        ranks = self.launch(self.write_prompts(), model="Wan-AI/Wan2.1-T2V-14B-Diffusers")
        self.assert_rc(ranks, 2)
        self.assertIn(b"'video' output", ranks[0].stderr)

    def test_prompt_file_errors(self) -> None:
        self.assert_rc(self.launch(self.tmp / "missing.txt"), 1)
        self.assert_rc(self.launch(self.write_prompts(b"")), 2)
        self.assert_rc(self.launch(self.write_prompts(b"\xff\xfe bad\n")), 1)
        self.assert_rc(self.launch(None, "--model", "Qwen/Qwen-Image", base=False), 2)

    def test_missing_xfuser_is_setup_failure(self) -> None:
        ranks = self.launch(self.write_prompts(), pythonpath=[TORCH_SHIM])
        self.assert_rc(ranks, 1)
        self.assertIn(b"cannot import xfuser", ranks[0].stderr)


# ----------------------------------------------------------- model capabilities


class TestCapabilities(XditCase):
    def test_cfg_parallel_on_qwen_image_is_rejected(self) -> None:
        pf = self.write_prompts()
        for model in ("Qwen/Qwen-Image", "Qwen/Qwen-Image-2512"):
            with self.subTest(model=model):
                ranks = self.launch(pf, "--use_cfg_parallel", world=2, model=model)
                self.assert_rc(ranks, 2)
                self.assertIn(b"does not support use_cfg_parallel.", ranks[1].stderr)
                self.assertIn(b"xFuserQwenImageModel", ranks[1].stderr)
                self.assertIn(model.encode(), ranks[1].stderr)
        self.assertEqual(self.calls("load"), [])
        self.assertEqual(self.calls("initialize"), [])

    def test_tensor_parallel_is_rejected(self) -> None:
        ranks = self.launch(self.write_prompts(), "--tensor_parallel_degree", "2", world=2)
        self.assert_rc(ranks, 2)
        self.assertIn(b"does not support tensor_parallel_degree.", ranks[1].stderr)

    def test_step_cache_only_where_the_model_declares_the_method(self) -> None:
        # xfuser 0.7.0: supports_step_caching + step_cache_config (base_model.py:521-531),
        # refused before the load instead of failing inside it.
        pf = self.write_prompts()
        refused = (
            ("Qwen/Qwen-Image", ["--cache_method", "teacache"],
             b"does not support --cache_method teacache. Supported: dbcache"),
            ("Qwen/Qwen-Image", ["--cache_method", "fbcache"],
             b"does not support --cache_method fbcache. Supported: dbcache"),
            # the deprecated alias is resolved first (args.py:324-338), then refused alike
            ("Qwen/Qwen-Image", ["--use_fbcache"], b"does not support --cache_method fbcache"),
            ("black-forest-labs/FLUX.2-klein-4B", ["--cache_method", "dbcache"],
             b"does not support --cache_method dbcache. Supported: fbcache"),
            ("Tongyi-MAI/Z-Image-Turbo", ["--cache_method", "dbcache"], b"does not support step caching."),
        )
        for model, flags, expect in refused:
            with self.subTest(model=model, flags=flags):
                ranks = self.launch(pf, *flags, model=model)
                self.assert_rc(ranks, 2)
                self.assertIn(expect, ranks[0].stderr)
        self.assertEqual(self.calls("load"), [])
        accepted = (
            ("Qwen/Qwen-Image", ["--cache_method", "dbcache"], "dbcache"),
            ("black-forest-labs/FLUX.1-dev", ["--cache_method", "teacache"], "teacache"),
            ("black-forest-labs/FLUX.2-dev", ["--use_fbcache"], "fbcache"),
            ("black-forest-labs/FLUX.2-klein-9B", ["--cache_method", "fbcache"], "fbcache"),
        )
        for model, flags, method in accepted:
            with self.subTest(model=model, flags=flags):
                before = len(self.calls("step_cache"))
                ranks = self.launch(pf, *flags, model=model)
                self.assert_rc(ranks, 0)
                self.assertEqual(self.calls("step_cache")[before:], [{"call": "step_cache", "rank": 0,
                                                                      "method": method}])

    def test_fp8_through_gemm_quantization(self) -> None:
        pf = self.write_prompts()
        ranks = self.launch(pf, "--gemm_quantization", "fp8")
        self.assert_rc(ranks, 0)
        self.assertTrue(self.calls("load")[0]["config"]["use_fp8_gemms"])
        ranks = self.launch(pf, "--gemm_quantization", "fp8", model="Alpha-VLLM/Lumina-Image-2.0")
        self.assert_rc(ranks, 2)
        self.assertIn(b"does not support use_fp8_gemms.", ranks[0].stderr)

    def test_xfuser_older_than_0_6_is_refused_before_loading(self) -> None:
        ranks = self.launch(self.write_prompts(), env_extra={"XFUSER_STANDIN_VERSION": "0.5.0"})
        self.assert_rc(ranks, 1)
        self.assertIn(b"xfuser 0.5.0 is not supported", ranks[0].stderr)
        self.assertIn(b">= 0.6.0", ranks[0].stderr)
        self.assertEqual(self.calls("load"), [])

    def test_cfg_parallel_where_declared(self) -> None:
        ranks = self.launch(self.write_prompts(), "--use_cfg_parallel", world=2, model="SD3.5")
        self.assert_rc(ranks, 0)
        self.assertEqual([c["config"]["use_cfg_parallel"] for c in self.calls("load")], [True, True])

    def test_torch_compile_warms_up_inside_the_load_on_one_prompt(self) -> None:
        ranks = self.launch(self.write_prompts(), "--use_torch_compile")
        self.assert_rc(ranks, 0)
        compiles = self.calls("compile_warmup")
        self.assertEqual(len(compiles), 1)
        self.assertEqual(compiles[0]["prompt"], [PROMPTS[0]])

    def test_degrees_must_match_the_world_size(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=1)
        self.assert_rc(ranks, 1)
        load = self.events("load")
        self.assertEqual(len(load), 1)
        self.assertFalse(load[0]["ok"])
        self.assertIn("parallel_world_size 2", load[0]["error"])
        self.assertEqual(self.prompt_lines(), [])


# --------------------------------------------------------------------- a batch


class TestBatch(XditCase):
    def test_output_files_and_results_jsonl(self) -> None:
        ranks = self.launch(self.write_prompts())
        self.assert_rc(ranks, 0)
        lines = self.prompt_lines()
        self.assertEqual([r["prompt"] for r in lines], [0, 1, 2])
        for i, r in enumerate(lines):
            self.assertTrue(r["ok"])
            self.assertEqual(r["image"], f"prompt_{i:02d}.png")
            self.assertIsInstance(r["seconds"], float)
            self.assertGreaterEqual(r["seconds"], 0.0)
            self.assertIn("xdit_seconds", r)
            self.assertTrue(png_ok(self.out / r["image"]))
        self.assertEqual(len(self.events("load")), 1)
        self.assertIsInstance(self.events("load")[0]["seconds"], float)
        self.assertEqual(len(self.events("warmup")), 1)
        self.assertEqual(self.events("memory"), [{"event": "memory", "device": 0, "peak_bytes": 1000000}])
        self.assertIn(b"  Prompt 1: ", ranks[0].stdout)
        self.assertIn(b"  Prompt 3: ", ranks[0].stdout)

    def test_one_prompt_per_call_with_seed_plus_i(self) -> None:
        self.assert_rc(self.launch(self.write_prompts(), warmup=0), 0)
        runs = self.calls("run_pipe")
        self.assertEqual([r["prompt"] for r in runs], [[p] for p in PROMPTS])
        self.assertEqual([r["seed"] for r in runs], [42, 43, 44])
        for r in runs:
            self.assertEqual((r["height"], r["width"], r["num_inference_steps"], r["guidance_scale"]),
                             (64, 48, 7, 3.5))
            self.assertEqual(r["negative_prompt"], "")
        # seed + i reaches the images: three seeds, three colours
        saves = self.calls("save")
        self.assertEqual(len({tuple(s["rgb"]) for s in saves}), 3)

    def test_model_loaded_once(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2)
        self.assert_rc(ranks, 0)
        for rank in (0, 1):
            self.assertEqual(len(self.calls("initialize", rank)), 1)
            self.assertEqual(len(self.calls("load", rank)), 1)

    def test_runner_config_never_warms_up_batches_or_repeats_itself(self) -> None:
        self.assert_rc(self.launch(self.write_prompts()), 0)
        config = self.calls("load")[0]["config"]
        self.assertEqual(config["warmup_calls"], 0)
        self.assertEqual(config["num_iterations"], 1)
        self.assertIsNone(config["batch_size"])
        self.assertIsNone(config["dataset_path"])
        self.assertEqual(self.calls("runner_internal_warmup"), [])
        self.assertEqual(len(self.calls("run_pipe")), 1 + len(PROMPTS))  # one warm-up, one per prompt

    def test_warmup_runs_first_prompt_untimed(self) -> None:
        slow = {"XFUSER_STANDIN_FIRST_SLEEP": "1.0"}
        self.assert_rc(self.launch(self.write_prompts(), warmup=2, env_extra=slow), 0)
        runs = self.calls("run_pipe")
        self.assertEqual([r["prompt"] for r in runs[:2]], [[PROMPTS[0]], [PROMPTS[0]]])
        self.assertEqual([r["seed"] for r in runs[:2]], [42, 42])
        warmup = self.events("warmup")
        self.assertEqual(len(warmup), 1)
        self.assertGreaterEqual(warmup[0]["seconds"], 1.0)
        for line in self.prompt_lines():
            self.assertLess(line["seconds"], 0.6, line)  # margin for a loaded machine

    def test_no_warmup(self) -> None:
        slow = {"XFUSER_STANDIN_FIRST_SLEEP": "1.0"}
        self.assert_rc(self.launch(self.write_prompts(), warmup=0, env_extra=slow), 0)
        self.assertEqual(self.events("warmup"), [])
        self.assertGreaterEqual(self.prompt_lines()[0]["seconds"], 1.0)  # the slow first call is prompt 0's

    def test_load_is_timed_and_apart(self) -> None:
        self.assert_rc(self.launch(self.write_prompts(), env_extra={"XFUSER_STANDIN_LOAD_SLEEP": "1.0"}), 0)
        self.assertGreaterEqual(self.events("load")[0]["seconds"], 1.0)
        for line in self.prompt_lines():
            self.assertLess(line["seconds"], 0.6)

    def test_prompts_pass_through_byte_for_byte(self) -> None:
        prompts = ["  leading and trailing  ", "ünïcödé 🐉 \u2028 inside", "--seed 9 -x", "\tTabbed"]
        self.assert_rc(self.launch(self.write_prompts(prompts), warmup=0), 0)
        self.assertEqual([r["prompt"] for r in self.calls("run_pipe")], [[p] for p in prompts])

    def test_negative_prompt_starting_with_a_dash(self) -> None:
        argv = self.base_argv(self.write_prompts(), "Qwen/Qwen-Image")
        argv[argv.index("--negative-prompt") + 1] = "-blurry, --seed 9"
        self.assert_rc(self.launch(None, *argv, base=False), 0)
        self.assertEqual({r["negative_prompt"] for r in self.calls("run_pipe")}, {"-blurry, --seed 9"})
        self.assertEqual([r["seed"] for r in self.calls("run_pipe")][1:], [42, 43, 44])

    def test_two_digit_names_beyond_ten(self) -> None:
        prompts = [f"prompt number {i}" for i in range(12)]
        self.assert_rc(self.launch(self.write_prompts(prompts), warmup=0), 0)
        self.assertTrue((self.out / "prompt_11.png").is_file())
        self.assertEqual(len(self.prompt_lines()), 12)


# ------------------------------------------------------------------- the ranks


class TestRanks(XditCase):
    def test_last_rank_writes_every_rank_runs(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2)
        self.assert_rc(ranks, 0)
        self.assertEqual([r["prompt"] for r in self.prompt_lines()], [0, 1, 2])
        self.assertEqual(len(self.events("load")), 1)
        self.assertEqual(len(self.events("warmup")), 1)
        self.assertEqual({s["rank"] for s in self.calls("save")}, {1})
        self.assertEqual(len(self.calls("save")), 3)
        for rank in (0, 1):
            self.assertEqual(len(self.calls("run_pipe", rank)), 4)
        self.assertNotIn(b"Prompt 1:", ranks[0].stdout)
        self.assertIn(b"Prompt 1:", ranks[1].stdout)
        self.assertEqual(self.events("memory"), [
            {"event": "memory", "device": 0, "peak_bytes": 1000000},
            {"event": "memory", "device": 1, "peak_bytes": 2000000},
        ])

    def test_four_ranks_ulysses_times_ring(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", "--ring_degree", "2", world=4)
        self.assert_rc(ranks, 0)
        self.assertEqual({s["rank"] for s in self.calls("save")}, {3})
        self.assertEqual([m["device"] for m in self.events("memory")], [0, 1, 2, 3])
        self.assertEqual(len(self.prompt_lines()), 3)

    def test_failing_prompt_is_recorded_and_the_batch_goes_on(self) -> None:
        env = {"XFUSER_STANDIN_FAIL_ON": "blue"}
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2, env_extra=env)
        self.assert_rc(ranks, 0)
        lines = self.prompt_lines()
        self.assertEqual([r["ok"] for r in lines], [True, False, True])
        failed = lines[1]
        self.assertIsNone(failed["image"])
        self.assertIsNone(failed["seconds"])
        self.assertTrue(failed["error"].startswith("rank 0: RuntimeError: CUDA out of memory."), failed)
        self.assertIn("(and 1 more rank)", failed["error"])
        self.assertNotIn("\n", failed["error"])
        self.assertFalse((self.out / "prompt_01.png").exists())
        self.assertTrue((self.out / "prompt_02.png").is_file())
        self.assertEqual([r["seed"] for r in self.calls("run_pipe", 1)][1:], [42, 43, 44])

    def test_failure_on_one_rank_only_never_hangs_the_others(self) -> None:
        for failing in (0, 1):
            with self.subTest(failing_rank=failing):
                shutil.rmtree(self.out, ignore_errors=True)
                env = {"XFUSER_STANDIN_FAIL_ON": "blue", "XFUSER_STANDIN_FAIL_RANK": str(failing)}
                t0 = time.monotonic()
                ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2, env_extra=env)
                self.assertLess(time.monotonic() - t0, COLLECTIVE_TIMEOUT)
                self.assert_rc(ranks, 0)
                lines = self.prompt_lines()
                self.assertEqual([r["ok"] for r in lines], [True, False, True])
                self.assertTrue(lines[1]["error"].startswith(f"rank {failing}: RuntimeError"), lines[1])
                self.assertFalse((self.out / "prompt_01.png").exists())

    def test_every_prompt_failing_exits_1_on_every_rank(self) -> None:
        env = {"XFUSER_STANDIN_FAIL_ON": " "}
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2, env_extra=env)
        self.assert_rc(ranks, 1)
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [False, False, False])

    def test_ok_only_once_the_image_is_on_disk(self) -> None:
        # backends/protocol.py save_image: an empty save is a failed prompt, and
        # no prompt_NN.png (nor a partial file) is left behind
        ranks = self.launch(self.write_prompts(), env_extra={"XFUSER_STANDIN_SAVE_NOTHING": "1"})
        self.assert_rc(ranks, 1)
        for line in self.prompt_lines():
            self.assertFalse(line["ok"])
            self.assertIn("saving the image: OSError: saving prompt_", line["error"])
        self.assertEqual(sorted(p.name for p in self.out.iterdir()), ["results.jsonl"])

    def test_failing_warmup_does_not_stop_the_batch(self) -> None:
        env = {"XFUSER_STANDIN_FAIL_ON": "red", "XFUSER_STANDIN_FAIL_RANK": "0"}
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", warmup=3, world=2, env_extra=env)
        self.assert_rc(ranks, 0)
        warmup = self.events("warmup")
        self.assertEqual(len(warmup), 1)
        self.assertFalse(warmup[0]["ok"])
        self.assertIsNone(warmup[0]["seconds"])
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [False, True, True])
        self.assertEqual(len(self.calls("run_pipe", 1)), 1 + 3)  # warm-up stopped after the failed one

    def test_load_failure_exits_1_without_prompt_lines(self) -> None:
        ranks = self.launch(self.write_prompts(), "--ulysses_degree", "2", world=2,
                            env_extra={"XFUSER_STANDIN_FAIL_INIT": "1"})
        self.assert_rc(ranks, 1)
        load = self.events("load")
        self.assertEqual(len(load), 1)
        self.assertFalse(load[0]["ok"])
        self.assertIn("model load failed", load[0]["error"])
        self.assertEqual(self.prompt_lines(), [])

    def test_pipefusion_only_the_last_stage_has_the_image(self) -> None:
        ranks = self.launch(self.write_prompts(), "--pipefusion_parallel_degree", "2", world=2,
                            model="black-forest-labs/FLUX.1-dev")
        self.assert_rc(ranks, 0)
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [True, True, True])
        self.assertEqual({s["rank"] for s in self.calls("save")}, {1})


if __name__ == "__main__":
    unittest.main()
