"""The diffusers backend's session mode (--session FILE, docs/sessions.md).

Pure tests (always run): the session file's checks and which flags an entry
may set. Real runs (skipped unless diffusers imports, see
test_diffusers_backend.py): a session of the baseline and a cache on the tiny
pipeline gives the same images as separate processes, its check entry equals
its first baseline byte for byte, and a cache hook deliberately left attached
makes the check entry differ: what the runner's contamination check (not built
yet) will turn into ERROR "state leaked between configurations".

    COMPAT_DIFFUSERS_PYTHON=$(scripts/diffusers-venv.sh --path)/bin/python3 \\
        python3 -m unittest tests/python/test_diffusers_session.py -v
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from the repository root too (.ci/run)

from test_diffusers_backend import MAKE_TINY, PYTHON, SCRIPT, base_args, bt, clean_env, diffusers_importable

PNGS = ("prompt_00.png", "prompt_01.png")


def entry(name: str, output: Path, prompts: Path, *args: str, check: bool = False) -> dict:
    return {"name": name, "output": str(output), "args": list(args), "warmup": 1,
            "prompt_file": str(prompts), "check": check}


def leaked(first: Path, last: Path) -> list[str]:
    """The contamination check without --repeat-baseline: images of the base's
    first and last runs that are not byte-identical."""
    return [n for n in PNGS if (first / n).read_bytes() != (last / n).read_bytes()]


class SessionFileTests(unittest.TestCase):
    def write(self, data) -> str:
        d = Path(tempfile.mkdtemp(prefix="compat-session-"))
        self.addCleanup(shutil.rmtree, d, True)
        p = d / "s.json"
        p.write_text(json.dumps(data), encoding="utf-8")
        return str(p)

    def test_bad_files_are_usage_errors_naming_the_entry(self) -> None:
        good = entry("baseline", Path("o"), Path("p"))
        for data, needle in (
            ({"version": 2, "entries": [good]}, "version 1"),
            ({"version": 1, "entries": []}, "non-empty"),
            ({"version": 1, "entries": [{**good, "warmup": "1"}]}, "entry 0 needs 'warmup'"),
            ({"version": 1, "entries": [good, {**good, "args": [1]}]}, "entry 1 ('baseline'): args"),
        ):
            with self.assertRaises(bt.UsageError) as cm:
                bt.read_session(self.write(data))
            self.assertIn(needle, str(cm.exception))
        with self.assertRaises(bt.UsageError):
            bt.read_session("/nonexistent/session.json")
        self.assertEqual(bt.read_session(self.write({"version": 1, "entries": [good]})), [good])

    def test_an_entry_sets_only_switchable_flags(self) -> None:
        args = base_args("--num-inference-steps", "4")
        ns = bt.entry_namespace(args, entry("ts", Path("out/ts"), Path("p2"), "--cache", "taylorseer",
                                            "--cache-interval", "2"))
        self.assertEqual((ns.cache, ns.cache_interval, ns.output, ns.prompt_file), ("taylorseer", 2, "out/ts", "p2"))
        self.assertEqual(ns.num_inference_steps, 4)  # the process's
        self.assertIsNone(args.cache)  # the process's namespace is untouched
        with self.assertRaises(bt.UsageError) as cm:
            bt.entry_namespace(args, entry("c", Path("o"), Path("p"), "--compile"))
        self.assertIn("--compile is not switchable", str(cm.exception))
        with self.assertRaises(bt.UsageError) as cm:
            bt.entry_namespace(args, entry("x", Path("o"), Path("p"), "--cache", "no_such_cache"))
        self.assertIn("session entry 'x': bad arguments", str(cm.exception))


@unittest.skipUnless(diffusers_importable(PYTHON), "diffusers not importable (set COMPAT_DIFFUSERS_PYTHON)")
class SessionRunTests(unittest.TestCase):
    tmp: Path
    model: Path
    prompts: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix="compat-diffusers-session-"))
        cls.model = cls.tmp / "tiny-qwen-image"
        r = subprocess.run([PYTHON, str(MAKE_TINY), str(cls.model)], capture_output=True, text=True,
                           env=clean_env(), timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"make_tiny_pipeline.py failed:\n{r.stdout}\n{r.stderr}")
        cls.prompts = cls.tmp / "prompts.txt"
        cls.prompts.write_text("a red cat on a chair\na castle at sunset, watercolor\n", encoding="utf-8")

    @classmethod
    def tearDownClass(cls) -> None:
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def common(self, output: Path) -> list[str]:
        return ["--model", str(self.model), "--prompt-file", str(self.prompts), "--output", str(output),
                "--num-inference-steps", "4", "--height", "64", "--width", "64", "--cfg-scale", "4",
                "--seed", "7", "--negative-prompt", "", "--warmup", "1"]

    def session(self, name: str, *, leak: bool) -> tuple[subprocess.CompletedProcess, Path]:
        root = self.tmp / name
        root.mkdir()
        data = {"version": 1, "entries": [
            entry("baseline", root / "baseline", self.prompts),
            entry("taylorseer", root / "taylorseer", self.prompts, "--cache", "taylorseer", "--cache-interval", "2"),
            entry("baseline", root / "sessions" / "baseline.check", self.prompts, check=True),
        ]}
        (root / "session.json").write_text(json.dumps(data), encoding="utf-8")
        argv = [*self.common(root / "baseline"), "--session", str(root / "session.json")]
        if leak:
            # The backend exactly, but switch_off forgets the hook.
            code = ("import importlib.util, sys\n"
                    f"spec = importlib.util.spec_from_file_location('bt', {str(SCRIPT)!r})\n"
                    "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
                    "m.switch_off = lambda denoiser: None\n"
                    "sys.exit(m.main(sys.argv[1:]))\n")
            cmd = [PYTHON, "-c", code, *argv]
        else:
            cmd = [PYTHON, str(SCRIPT), *argv]
        return subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), timeout=600), root

    def alone(self, name: str, *extra: str) -> Path:
        out = self.tmp / name
        r = subprocess.run([PYTHON, str(SCRIPT), *self.common(out), *extra], capture_output=True, text=True,
                           env=clean_env(), timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr)
        return out

    def test_a_session_equals_separate_processes_and_its_check_passes(self) -> None:
        r, root = self.session("clean", leak=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        for folder in ("baseline", "taylorseer", "sessions/baseline.check"):
            lines = [json.loads(x) for x in (root / folder / "results.jsonl").read_text().splitlines()]
            self.assertEqual(lines[-1], {"event": "done"}, folder)
            self.assertEqual([x["prompt"] for x in lines if "prompt" in x and x["ok"]], [0, 1], folder)
            loads = [x for x in lines if x.get("event") == "load"]
            self.assertEqual(len(loads), 1 if folder == "baseline" else 0, folder)  # one load, billed once
        ts = [json.loads(x) for x in (root / "taylorseer/results.jsonl").read_text().splitlines()]
        settings = next(x for x in ts if x.get("event") == "settings")
        self.assertEqual(settings["features"]["cache"]["config"], "TaylorSeerCacheConfig")

        self.assertEqual(leaked(root / "baseline", root / "sessions/baseline.check"), [])
        # The same images as one process per configuration.
        base = self.alone("alone-baseline")
        cached = self.alone("alone-taylorseer", "--cache", "taylorseer", "--cache-interval", "2")
        self.assertEqual(leaked(base, root / "baseline"), [])
        self.assertEqual(leaked(cached, root / "taylorseer"), [])
        # And the cache does change the images, so a leak of it would show.
        self.assertNotEqual(leaked(base, cached), [])

    def test_a_hook_left_attached_fails_the_check(self) -> None:
        r, root = self.session("leaky", leak=True)
        self.assertEqual(r.returncode, 0, r.stderr)  # the backend cannot tell: the check must
        self.assertEqual(leaked(root / "baseline", root / "sessions/baseline.check"), list(PNGS))


if __name__ == "__main__":
    unittest.main()
