"""Tests of backends/vllm_omni/batch_text_to_image.py against a STAND-IN vllm_omni.

The stand-in (tests/python/standin/vllm_omni) is not vLLM-Omni: it records the
calls the script makes (Omni kwargs, parallel config, cache config, sampling
params, seeds) and returns tiny PNG-writing images. The script runs as a child
process with the stand-in first on PYTHONPATH, exactly as compat would start it.

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
import unittest
import zlib
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "backends" / "vllm_omni" / "batch_text_to_image.py"
STANDIN = HERE / "standin"

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_ok(path: Path) -> bool:
    """A PNG with a valid signature and CRC-correct chunks up to IEND."""
    data = path.read_bytes()
    if not data.startswith(PNG_MAGIC):
        return False
    pos = len(PNG_MAGIC)
    while pos < len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        crc = int.from_bytes(data[pos + 8 + length : pos + 12 + length], "big")
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            return False
        pos += 12 + length
        if kind == b"IEND":
            return pos == len(data)
    return False


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
        env = {k: v for k, v in os.environ.items() if not k.startswith("VLLM_OMNI_STANDIN")}
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
        self.assertEqual(init["kwargs"]["model"], "stand-in/model")
        self.assertIsNone(init["kwargs"]["cache_backend"])
        self.assertIsNone(init["kwargs"]["cache_config"])
        pc = init["parallel_config"]
        self.assertEqual(
            (pc["ulysses_degree"], pc["ring_degree"], pc["cfg_parallel_size"], pc["tensor_parallel_size"]),
            (1, 1, 1, 1),
        )
        self.assertEqual(init["parallel_config_type"], "vllm_omni.diffusion.data.DiffusionParallelConfig")

    def test_sampling_params(self) -> None:
        pf = self.write_prompts(["a cat"])
        self.assertEqual(self.run_script(pf, "--warmup", "0").returncode, 0)
        (gen,) = self.calls("generate")
        self.assertEqual(gen["sampling_params_type"], "vllm_omni.inputs.data.OmniDiffusionSamplingParams")
        sp = gen["sampling_params"]
        self.assertEqual(sp["num_inference_steps"], 7)
        self.assertEqual((sp["height"], sp["width"]), (64, 48))
        self.assertEqual(sp["true_cfg_scale"], 3.5)
        self.assertEqual(sp["num_outputs_per_prompt"], 1)
        # no negative prompt given: the request carries none
        self.assertEqual(gen["prompt"], {"prompt": "a cat"})

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
    def test_each_degree_reaches_parallel_config(self) -> None:
        cases = {
            "--cfg-parallel-size": "cfg_parallel_size",
            "--ulysses-degree": "ulysses_degree",
            "--ring-degree": "ring_degree",
            "--tensor-parallel-size": "tensor_parallel_size",
        }
        pf = self.write_prompts(["a"])
        for flag, key in cases.items():
            with self.subTest(flag=flag):
                self.record.unlink(missing_ok=True)
                self.assertEqual(self.run_script(pf, flag, "2", "--warmup", "0").returncode, 0)
                (init,) = self.calls("init")
                pc = init["parallel_config"]
                self.assertEqual(pc[key], 2)
                for other in cases.values():
                    if other != key:
                        self.assertEqual(pc[other], 1, other)
                # degrees go through the parallel config, not as loose kwargs
                self.assertNotIn(key, init["kwargs"])

    def test_combined_degrees(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(
            pf, "--cfg-parallel-size", "2", "--ulysses-degree", "2", "--ring-degree", "2",
            "--tensor-parallel-size", "2", "--cache-backend", "tea_cache",
        )
        self.assertEqual(proc.returncode, 0, proc.stderr)
        pc = self.calls("init")[0]["parallel_config"]
        self.assertEqual(pc["sequence_parallel_size"], 4)
        self.assertEqual(
            (pc["ulysses_degree"], pc["ring_degree"], pc["cfg_parallel_size"], pc["tensor_parallel_size"]),
            (2, 2, 2, 2),
        )


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
        self.assertEqual(events[:2], ["load", "warmup"])
        self.assertEqual(rows[0]["event"], "load")
        self.assertIsInstance(rows[0]["seconds"], float)
        self.assertIsInstance(rows[1]["seconds"], float)
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
        # no torch here: no memory events, and nothing else unexpected
        self.assertEqual(set(events), {"load", "warmup"})

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
        # the failing prompt kept its seed: seeds never shift
        self.assertEqual([g["sampling_params"]["seed"] for g in self.calls("generate")][1:], [42, 43, 44])
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
                self.assertEqual(self.calls("init")[0]["kwargs"]["model"], "stand-in/model")

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
