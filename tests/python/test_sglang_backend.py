"""Tests of backends/sglang/batch_text_to_image.py against a STAND-IN sglang.

The stand-in (tests/python/standin/sglang) is not SGLang, but its parsers are
rebuilt action by action from the released sglang 0.5.23's own
``ServerArgs.add_cli_args`` / ``SamplingParams.add_cli_args``, its ServerArgs,
SamplingParams and GenerationResult take exactly the release's fields (an
unknown keyword is a TypeError, as ``cls(**kwargs)`` is in the release), and it
resolves the automatic CFG-parallel / sequence-parallel layout the way
server_args.py:1660-1790 does. The tables come from the wheel
(tests/python/gen_sglang_standin.py) and tests/python/test_released_engines.py
keeps them equal to it. The script runs as a child process with the stand-in
first on PYTHONPATH, exactly as compat would start it, with the pins compat's
command (features.toml) passes.

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
import tomllib
import unittest
from pathlib import Path

from png_check import png_ok  # tests/python, on sys.path under unittest discover

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPT = REPO / "backends" / "sglang" / "batch_text_to_image.py"
STANDIN = HERE / "standin"
QWEN_2512_DEFAULT_NEGATIVE = "低分辨率，低画质，肢体畸形，手指畸形，画面过饱和，蜡像感，人脸无细节，过度光滑，画面具有AI感。构图混乱。文字模糊，扭曲。"


def command_pins() -> list[str]:
    """The pins compat's own command passes (features.toml [backends.sglang])."""
    command = tomllib.loads((REPO / "features.toml").read_text(encoding="utf-8"))["backends"]["sglang"]["command"]
    return command[command.index("{gpus}") + 1:]


class BackendCase(unittest.TestCase):
    def setUp(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="compat-sglang-"))
        self.out = self.tmp / "out"
        self.record = self.tmp / "calls.jsonl"

    def tearDown(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_prompts(self, prompts: list[str]) -> Path:
        path = self.tmp / "prompts.txt"
        path.write_bytes(("\n".join(prompts) + "\n").encode("utf-8"))
        return path

    def run_script(self, prompt_file: Path, *extra: str, model: str = "Qwen/Qwen-Image-2512", gpus: int = 1,
                   pins: bool = True, env_extra: dict[str, str] | None = None,
                   standin: bool = True) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("SGLANG_") and k not in ("PYTHONPATH", "CUDA_VISIBLE_DEVICES")}
        if standin:
            env["PYTHONPATH"] = str(STANDIN)
        env["PYTHONIOENCODING"] = "utf-8"
        env["SGLANG_STANDIN_RECORD"] = str(self.record)
        env.update(env_extra or {})
        argv = [sys.executable, str(SCRIPT), f"--model={model}", "--prompt-file", str(prompt_file),
                "--output", str(self.out), "--num-inference-steps", "5", "--height", "16", "--width", "24",
                "--cfg-scale", "4.0", "--seed", "7", "--negative-prompt=", "--warmup", "1",
                "--num-gpus", str(gpus)]
        if pins:
            argv += command_pins()
        argv += list(extra)
        return subprocess.run(argv, env=env, capture_output=True, timeout=120, cwd=str(REPO))

    def calls(self, kind: str | None = None) -> list[dict]:
        if not self.record.exists():
            return []
        rows = [json.loads(line) for line in self.record.read_text(encoding="utf-8").split("\n") if line]
        return [r for r in rows if kind is None or r["call"] == kind]

    def results(self) -> list[dict]:
        text = (self.out / "results.jsonl").read_text(encoding="utf-8")
        self.assertTrue(text.endswith("\n"))
        return [json.loads(line) for line in text.split("\n") if line]

    def event(self, name: str) -> dict:
        found = [r for r in self.results() if r.get("event") == name]
        self.assertEqual(len(found), 1, f"{name}: {found}")
        return found[0]

    def prompt_lines(self) -> list[dict]:
        return [r for r in self.results() if "prompt" in r]


class TestBatch(BackendCase):
    def test_a_batch_speaks_the_protocol(self) -> None:
        pf = self.write_prompts(["a red apple", "a blue sky", "-starts with a dash"])
        proc = self.run_script(pf)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = self.prompt_lines()
        self.assertEqual([r["prompt"] for r in lines], [0, 1, 2])
        for i, r in enumerate(lines):
            self.assertTrue(r["ok"])
            self.assertEqual(r["image"], f"prompt_{i:02d}.png")
            self.assertIsInstance(r["seconds"], float)
            self.assertTrue(png_ok(self.out / r["image"]), r["image"])
        self.assertIn("seconds", self.event("load"))
        self.assertIsInstance(self.event("warmup")["seconds"], float)
        # The engine's own peak (GenerationResult.peak_memory_mb), in bytes.
        self.assertEqual(self.event("memory"), {"event": "memory", "device": 0, "peak_bytes": 1536 * 1024 * 1024})
        # One load, a warm-up of prompt 0 at the base seed, then seed + i.
        self.assertEqual(len(self.calls("from_pretrained")), 1)
        gens = [c["effective"] for c in self.calls("generate")]
        self.assertEqual([(g["prompt"], g["seed"]) for g in gens],
                         [("a red apple", 7), ("a red apple", 7), ("a blue sky", 8), ("-starts with a dash", 9)])
        self.assertEqual({(g["height"], g["width"], g["steps"], g["guidance_scale"]) for g in gens}, {(16, 24, 5, 4.0)})
        self.assertEqual(len(self.calls("shutdown")), 1)
        self.assertIn(b"  Prompt 3: ", proc.stdout)

    def test_compats_negative_prompt_replaces_the_models_default(self) -> None:
        """Qwen-Image-2512's default negative prompt is a long Chinese string
        (configs/sample/qwenimage.py:20): compat's "" must reach the engine."""
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf).returncode, 0)
        negatives = {c["effective"]["negative_prompt"] for c in self.calls("generate")}
        self.assertEqual(negatives, {""})
        self.assertNotIn(QWEN_2512_DEFAULT_NEGATIVE, negatives)
        self.assertEqual(self.event("settings")["negative_prompt"], "")

    def test_the_pixels_come_back_not_a_file_path(self) -> None:
        """return_file_paths_only defaults to True (sampling_params.py:463): the
        adapter turns it off and save_output too, so frames[0] is the image."""
        pf = self.write_prompts(["a", "b"])
        self.assertEqual(self.run_script(pf).returncode, 0)
        for c in self.calls("generate"):
            self.assertIn("return_file_paths_only", c["effective"]["keywords"])
            self.assertIn("save_output", c["effective"]["keywords"])
        self.assertTrue(all(r["ok"] for r in self.prompt_lines()))
        self.assertFalse((REPO / "outputs").exists())

    def test_a_none_result_is_a_failed_prompt_not_a_gap(self) -> None:
        pf = self.write_prompts(["fine one", "BROKEN two", "fine three"])
        proc = self.run_script(pf, env_extra={"SGLANG_STANDIN_FAIL": "BROKEN"})
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        lines = self.prompt_lines()
        self.assertEqual([r["ok"] for r in lines], [True, False, True])
        self.assertIsNone(lines[1]["image"])
        self.assertIn("returned None", lines[1]["error"])
        self.assertFalse((self.out / "prompt_01.png").exists())
        self.assertTrue(png_ok(self.out / "prompt_02.png"))

    def test_every_prompt_failing_is_exit_1(self) -> None:
        pf = self.write_prompts(["BROKEN a", "BROKEN b"])
        proc = self.run_script(pf, env_extra={"SGLANG_STANDIN_FAIL": "BROKEN"})
        self.assertEqual(proc.returncode, 1)
        self.assertEqual([r["ok"] for r in self.prompt_lines()], [False, False])
        self.assertFalse(self.event("warmup")["ok"])

    def test_a_failed_load_is_exit_1_with_its_event(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, env_extra={"SGLANG_STANDIN_FAIL_LOAD": "1"})
        self.assertEqual(proc.returncode, 1)
        load = self.event("load")
        self.assertFalse(load["ok"])
        self.assertIn("failed to load", load["error"])

    def test_an_invalid_layout_fails_the_load_with_the_engines_words(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--ulysses-degree", "2", gpus=3)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("sp_degree", self.event("load")["error"])


class TestPins(BackendCase):
    def enabled(self) -> dict:
        return self.event("settings")["enabled"]

    def test_the_baseline_runs_without_the_engines_automatic_acceleration(self) -> None:
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf).returncode, 0)
        settings = self.event("settings")
        self.assertEqual(settings["engine"]["engine"], "sglang")
        self.assertEqual(settings["engine"]["version"], "0.5.23")
        self.assertEqual(settings["pinned"], {"performance_mode": "manual", "enable_cfg_parallel": False,
                                              "sp_degree": 1, "encoder_parallel": "replicate",
                                              "warmup_mode": "off"})
        self.assertEqual(self.enabled()["performance_mode"], "manual")
        self.assertFalse(self.enabled()["enable_cfg_parallel"])

    def test_spare_gpus_never_turn_into_cfg_or_sequence_parallelism(self) -> None:
        """Two GPUs and no parallel flag: unpinned, SGLang turns CFG-parallel on
        by itself (server_args.py:1684-1723) -- the adapter's own pins hold even
        without compat's command."""
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, gpus=2, pins=False)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        enabled = self.enabled()
        self.assertFalse(enabled["enable_cfg_parallel"])
        self.assertEqual((enabled["sp_degree"], enabled["kv_gather_degree"], enabled["ulysses_degree"]), (1, 1, 1))
        self.assertEqual(enabled["performance_mode"], "manual")
        self.assertEqual(enabled["encoder_parallel"], "replicate")
        self.assertEqual(enabled["warmup_mode"], "off")

    def test_cfg_parallel_when_asked_for(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--cfg-parallel-size", "2", gpus=2)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        enabled = self.enabled()
        self.assertTrue(enabled["enable_cfg_parallel"])
        self.assertEqual((enabled["cfg_parallel_degree"], enabled["sp_degree"]), (2, 1))
        self.assertNotIn("enable_cfg_parallel", self.event("settings")["pinned"])

    def test_ulysses_keeps_cfg_parallel_off_and_its_own_exchange(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--ulysses_degree", "2", gpus=2)  # underscores: SGLang's parser reads them
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        enabled = self.enabled()
        self.assertFalse(enabled["enable_cfg_parallel"])
        self.assertEqual((enabled["ulysses_degree"], enabled["sp_degree"], enabled["kv_gather_degree"]), (2, 2, 1))
        self.assertNotIn("sp_degree", self.event("settings")["pinned"])

    def test_a_feature_may_set_a_pinned_option(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--performance-mode", "auto")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(self.enabled()["performance_mode"], "auto")
        self.assertNotIn("performance_mode", self.event("settings")["pinned"])


class TestFeatures(BackendCase):
    def test_cache_dit_is_on_per_request_and_for_the_engine(self) -> None:
        pf = self.write_prompts(["a", "b"])
        proc = self.run_script(pf, "--enable-cache-dit")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual(self.calls("from_pretrained")[0]["env_cache_dit"], "true")
        self.assertEqual({c["effective"]["enable_cache_dit"] for c in self.calls("generate")}, {True})
        settings = self.event("settings")
        self.assertEqual(settings["request"], {"enable_cache_dit": True})
        self.assertEqual(settings["environment"], {"SGLANG_CACHE_DIT_ENABLED": "true"})

    def test_without_the_feature_cache_dit_stays_off(self) -> None:
        pf = self.write_prompts(["a"])
        self.assertEqual(self.run_script(pf).returncode, 0)
        self.assertIsNone(self.calls("from_pretrained")[0]["env_cache_dit"])
        self.assertEqual({c["effective"]["enable_cache_dit"] for c in self.calls("generate")}, {False})

    def test_teacache_where_it_would_be_a_silent_no_op_is_refused(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--enable-teacache")
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"teacache_params", proc.stderr)
        self.assertIn(b"teacache.py:272-276", proc.stderr)
        self.assertEqual(self.calls(), [], "refused before the load")

    def test_teacache_where_the_model_has_it(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--enable-teacache", model="stand-in/teacache-model")
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        self.assertEqual({c["effective"]["enable_teacache"] for c in self.calls("generate")}, {True})

    def test_server_flags_go_to_the_load(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--enable-torch-compile", "--dit-cpu-offload", "--quantization", "fp8",
                               "--tp-size", "2", gpus=2)
        self.assertEqual(proc.returncode, 0, proc.stderr.decode())
        kwargs = self.calls("from_pretrained")[0]["kwargs"]
        self.assertEqual((kwargs["enable_torch_compile"], kwargs["dit_cpu_offload"], kwargs["quantization"],
                          kwargs["tp_size"]), (True, True, "fp8", 2))
        # compat's command pins warm-up off: torch.compile does not add SGLang's own.
        self.assertEqual(self.event("settings")["enabled"]["warmup_mode"], "off")


class TestUsage(BackendCase):
    def test_a_flag_sglang_does_not_know_is_exit_2_with_a_hint(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--ulysess-degree", "2")
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"SGLang's parser", proc.stderr)
        self.assertIn(b"did you mean --ulysses-degree", proc.stderr)
        self.assertEqual(self.calls(), [])

    def test_a_bad_boolean_is_exit_2(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, "--enable-torch-compile", "maybe")
        self.assertEqual(proc.returncode, 2)
        self.assertIn(b"Invalid boolean value", proc.stderr)

    def test_a_feature_must_not_set_what_the_adapter_sets(self) -> None:
        pf = self.write_prompts(["a"])
        for flags in (["--num-outputs-per-prompt", "2"], ["--return-file-paths-only", "true"],
                      ["--prompt", "x"], ["--model-path", "other/model"], ["--negative_prompt", "x"]):
            with self.subTest(flags=flags):
                proc = self.run_script(pf, *flags)
                self.assertEqual(proc.returncode, 2, proc.stderr.decode())
                self.assertIn(b"the adapter sets it itself", proc.stderr)

    def test_an_empty_prompt_file_is_exit_2(self) -> None:
        pf = self.tmp / "empty.txt"
        pf.write_bytes(b"")
        self.assertEqual(self.run_script(pf).returncode, 2)

    def test_without_sglang_it_is_a_setup_failure(self) -> None:
        pf = self.write_prompts(["a"])
        proc = self.run_script(pf, standin=False)
        self.assertEqual(proc.returncode, 1)
        self.assertIn(b"cannot import sglang", proc.stderr)

    def test_help_works_without_sglang(self) -> None:
        proc = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, timeout=60,
                              env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
        self.assertEqual(proc.returncode, 0)
        self.assertIn(b"0.5.23", proc.stdout)


class TestProbe(BackendCase):
    def probe(self, features: dict, model: str = "Qwen/Qwen-Image-2512", standin: bool = True) -> tuple[int, dict | None]:
        request = self.tmp / "request.json"
        answer = self.tmp / "answer.json"
        request.write_text(json.dumps({"protocol": 1, "model": model, "features": features,
                                       "settings": {"steps": 5, "height": 16, "width": 24, "cfg_scale": 4.0,
                                                    "seed": 7}}), encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        if standin:
            env["PYTHONPATH"] = str(STANDIN)
        proc = subprocess.run([sys.executable, str(SCRIPT), "--probe", str(request), "--output", str(answer)],
                              env=env, capture_output=True, timeout=60)
        return proc.returncode, json.loads(answer.read_text(encoding="utf-8")) if answer.exists() else None

    def test_the_probe_answers_each_feature_with_sglangs_reasons(self) -> None:
        code, answer = self.probe({
            "ulysses": ["--ulysses-degree", "2"],
            "teacache": ["--enable-teacache"],
            "cache_dit": ["--enable-cache-dit"],
            "bogus": ["--bogus-flag"],
            "owned": ["--num-outputs-per-prompt", "3"],
        })
        self.assertEqual(code, 0)
        assert answer is not None
        self.assertEqual((answer["engine"], answer["version"], answer["protocol"]), ("sglang", "0.5.23", 1))
        f = answer["features"]
        self.assertEqual(f["ulysses"], {"supported": True})
        self.assertFalse(f["teacache"]["supported"])
        self.assertIn("teacache_params", f["teacache"]["reason"])
        self.assertTrue(f["teacache"]["reason"].startswith("Qwen/Qwen-Image-2512: "))  # compat adds "sglang 0.5.23: "
        # plain python3 has no cache_dit: SGLang's Cache-DiT could not run here
        self.assertFalse(f["cache_dit"]["supported"])
        self.assertIn("cache_dit package is not installed", f["cache_dit"]["reason"])
        self.assertFalse(f["bogus"]["supported"])
        self.assertIn("unrecognized arguments", f["bogus"]["reason"])
        self.assertFalse(f["owned"]["supported"])
        self.assertTrue(any("--performance-mode manual" in n for n in answer["notes"]))

    def test_teacache_on_a_model_that_has_it(self) -> None:
        code, answer = self.probe({"teacache": ["--enable-teacache"]}, model="stand-in/teacache-model")
        self.assertEqual(code, 0)
        assert answer is not None
        self.assertEqual(answer["features"]["teacache"], {"supported": True})

    def test_without_sglang_the_probe_exits_3(self) -> None:
        code, answer = self.probe({"ulysses": ["--ulysses-degree", "2"]}, standin=False)
        self.assertEqual(code, 3)
        self.assertIsNone(answer)


if __name__ == "__main__":
    unittest.main()
