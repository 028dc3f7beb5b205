"""The diffusers backend's session mode (--session FILE, docs/sessions.md).

Pure tests (always run): the session file's checks and which flags an entry
may set. Real runs (skipped unless diffusers imports, see
test_diffusers_backend.py; the cache-dit ones unless cache_dit imports too): a
session [baseline, a cache, baseline check] on the tiny pipeline gives each
entry the same images and the same work line as one process per
configuration, its check entry equals its first baseline byte for byte, and
the backend with switch_off made a no-op (tests/fixtures/leaky_diffusers.py)
makes the check entry differ: what the runner's contamination check turns into
ERROR "state leaked between configurations". Both for diffusers' TaylorSeer
hooks (4-block pipeline, 4 steps) and cache-dit's steps mask (10 blocks, 12
steps, where it really caches).

    COMPAT_DIFFUSERS_PYTHON=$(scripts/diffusers-venv.sh --path)/bin/python3 \\
        python3 -m unittest tests/python/test_diffusers_session.py -v
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run from the repository root too (.ci/run)

from test_diffusers_backend import MAKE_TINY, PYTHON, REPO, SCRIPT, base_args, bt, clean_env, diffusers_importable
from test_diffusers_cache_dit import cache_dit_importable, registry_args

# The backend with switch_off made a no-op (a cache left attached).
LEAKY = REPO / "tests" / "fixtures" / "leaky_diffusers.py"

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

    def test_an_entry_may_switch_cache_dit(self) -> None:
        args = base_args("--num-inference-steps", "12")
        ns = bt.entry_namespace(args, entry("scm", Path("o"), Path("p"), *registry_args("cache_dit_scm")))
        spec = bt.validate(ns, env={})["cache_dit"]
        self.assertEqual(spec["scm"], {"mask_policy": "medium", "total_steps": 12})
        self.assertEqual(spec["cache_config"], ("DBCacheConfig", {"steps_computation_policy": "static"}))
        ns = bt.entry_namespace(args, entry("ts", Path("o"), Path("p"), *registry_args("cache_dit_taylorseer")))
        self.assertEqual(bt.validate(ns, env={})["cache_dit"]["calibrator"], ("TaylorSeerCalibratorConfig", {}))

    def test_cache_dit_after_compile_is_refused_before_the_load(self) -> None:
        # A process of its own puts cache-dit on before compile: a session cannot.
        d = Path(tempfile.mkdtemp(prefix="compat-session-"))
        self.addCleanup(shutil.rmtree, d, True)
        (d / "p.txt").write_text("a cat\n", encoding="utf-8")
        (d / "s.json").write_text(json.dumps({"version": 1, "entries": [
            entry("compile", d / "a", d / "p.txt"),
            entry("compile+cache_dit", d / "b", d / "p.txt", "--cache", "cache_dit"),
        ]}), encoding="utf-8")
        args = bt.parse_args(["--model", "m", "--prompt-file", str(d / "p.txt"), "--output", str(d / "a"),
                              "--compile", "--session", str(d / "s.json")])
        err = io.StringIO()
        with contextlib.redirect_stderr(err):
            self.assertEqual(bt.run_session(args), bt.EXIT_USAGE)
        self.assertIn("session entry 'compile+cache_dit': cache_dit cannot be switched on after --compile",
                      err.getvalue())
        self.assertFalse((d / "a").exists())  # refused before anything was written


class SessionRunner(unittest.TestCase):
    """Runs a session file of entries, and configurations alone, on cls.model
    (no tests of its own: the classes below bring the model and the cache)."""

    tmp: Path
    model: Path
    prompts: Path
    steps = "4"

    @classmethod
    def make(cls, prefix: str, *tiny_args: str) -> None:
        cls.tmp = Path(tempfile.mkdtemp(prefix=prefix))
        cls.model = cls.tmp / "tiny-qwen-image"
        r = subprocess.run([PYTHON, str(MAKE_TINY), str(cls.model), *tiny_args], capture_output=True, text=True,
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
                "--num-inference-steps", self.steps, "--height", "64", "--width", "64", "--cfg-scale", "4",
                "--seed", "7", "--negative-prompt", "", "--warmup", "1"]

    def session(self, name: str, cache: list[str], *, script: Path = SCRIPT
                ) -> tuple[subprocess.CompletedProcess, Path]:
        """[baseline, the cache, baseline check] in one process of `script`."""
        root = self.tmp / name
        root.mkdir()
        data = {"version": 1, "entries": [
            entry("baseline", root / "baseline", self.prompts),
            entry("cached", root / "cached", self.prompts, *cache),
            entry("baseline", root / "sessions" / "baseline.check", self.prompts, check=True),
        ]}
        (root / "session.json").write_text(json.dumps(data), encoding="utf-8")
        argv = [*self.common(root / "baseline"), "--session", str(root / "session.json")]
        r = subprocess.run([PYTHON, str(script), *argv], capture_output=True, text=True, env=clean_env(),
                           timeout=600)
        return r, root

    def alone(self, name: str, *extra: str) -> Path:
        out = self.tmp / name
        r = subprocess.run([PYTHON, str(SCRIPT), *self.common(out), *extra], capture_output=True, text=True,
                           env=clean_env(), timeout=600)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        return out

    def assert_like_separate_processes(self, cache: list[str]) -> tuple[Path, Path, Path]:
        """A clean session's entries: finished, one load, the same images and
        the same work line as one process per configuration, and a check entry
        byte-identical to the first baseline. Returns (session root, alone
        baseline, alone cached)."""
        r, root = self.session("clean", cache)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        for folder in ("baseline", "cached", "sessions/baseline.check"):
            lines = results(root / folder)
            self.assertEqual(lines[-1], {"event": "done"}, folder)
            self.assertEqual([x["prompt"] for x in lines if "prompt" in x and x["ok"]], [0, 1], folder)
            loads = [x for x in lines if x.get("event") == "load"]
            self.assertEqual(len(loads), 1 if folder == "baseline" else 0, folder)  # one load, billed once
        self.assertEqual(leaked(root / "baseline", root / "sessions/baseline.check"), [])
        base = self.alone("alone-baseline")
        cached = self.alone("alone-cached", *cache)
        self.assertEqual(leaked(base, root / "baseline"), [])
        self.assertEqual(leaked(cached, root / "cached"), [])
        # And the cache does change the images, so a leak of it would show.
        self.assertNotEqual(leaked(base, cached), [])
        # Each entry counts its own prompts only, as its own process does
        # (blocks, attention, per branch, cross_branch, cache-dit's steps).
        self.assertEqual(work(root / "baseline"), work(base))
        self.assertEqual(work(root / "cached"), work(cached))
        self.assertEqual(work(root / "sessions/baseline.check"), work(base))
        self.assertNotEqual(work(base)["counts"], work(cached)["counts"])  # the cache skipped work
        return root, base, cached


def results(folder: Path) -> list[dict]:
    return [json.loads(x) for x in (folder / "results.jsonl").read_text().splitlines()]


def work(folder: Path) -> dict:
    lines = [x for x in results(folder) if x.get("event") == "work"]
    assert len(lines) == 1, f"{folder}: {len(lines)} work lines"
    return lines[0]


@unittest.skipUnless(diffusers_importable(PYTHON), "diffusers not importable (set COMPAT_DIFFUSERS_PYTHON)")
class SessionRunTests(SessionRunner):
    """diffusers' TaylorSeer hooks on the 4-block tiny pipeline, 4 steps."""

    TAYLORSEER = ["--cache", "taylorseer", "--cache-interval", "2"]

    @classmethod
    def setUpClass(cls) -> None:
        cls.make("compat-diffusers-session-")

    def test_a_session_equals_separate_processes_and_its_check_passes(self) -> None:
        root, _, _ = self.assert_like_separate_processes(self.TAYLORSEER)
        settings = next(x for x in results(root / "cached") if x.get("event") == "settings")
        self.assertEqual(settings["features"]["cache"]["config"], "TaylorSeerCacheConfig")

    def test_a_failed_switch_on_stops_the_session(self) -> None:
        # magcache without --mag-ratios is refused at switch-on: what a
        # switch-on that raised part-way leaves attached cannot be undone, so
        # the entries after it are not run (compat makes them ERROR "not run").
        root = self.tmp / "switch-on-fails"
        root.mkdir()
        data = {"version": 1, "entries": [
            entry("baseline", root / "baseline", self.prompts),
            entry("magcache", root / "magcache", self.prompts, "--cache", "magcache"),
            entry("taylorseer", root / "taylorseer", self.prompts, *self.TAYLORSEER),
            entry("baseline", root / "sessions" / "baseline.check", self.prompts, check=True),
        ]}
        (root / "session.json").write_text(json.dumps(data), encoding="utf-8")
        argv = [*self.common(root / "baseline"), "--session", str(root / "session.json")]
        r = subprocess.run([PYTHON, str(SCRIPT), *argv], capture_output=True, text=True, env=clean_env(),
                           timeout=600)
        self.assertEqual(r.returncode, bt.EXIT_FAILED, r.stderr[-3000:])
        self.assertIn("session entry 'magcache': switching its cache on failed; the remaining entries are not run",
                      r.stderr)
        lines = results(root / "magcache")
        self.assertEqual(lines[-1], {"event": "done"})
        self.assertTrue(any("magcache calibration is not run in a session" in str(x.get("error")) for x in lines))
        self.assertFalse((root / "taylorseer" / "results.jsonl").exists())
        self.assertFalse((root / "sessions" / "baseline.check" / "results.jsonl").exists())

    def test_a_hook_left_attached_fails_the_check(self) -> None:
        # The backend exactly, but switch_off forgets the hook.
        r, root = self.session("leaky", self.TAYLORSEER, script=LEAKY)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])  # the backend cannot tell: the check must
        self.assertEqual(leaked(root / "baseline", root / "sessions/baseline.check"), list(PNGS))


@unittest.skipUnless(cache_dit_importable(PYTHON), "torch/diffusers/cache_dit not importable (set COMPAT_DIFFUSERS_PYTHON)")
class CacheDitSessionTests(SessionRunner):
    """cache-dit's static steps mask (features.toml's cache_dit_scm) on the
    10-block tiny pipeline, 12 steps: the setting where it really caches
    (tests/diffusers_cache_dit.rs)."""

    steps = "12"

    @classmethod
    def setUpClass(cls) -> None:
        cls.make("compat-diffusers-session-cache-dit-", "--layers", "10")

    def test_cache_dit_switches_on_and_off_in_a_session(self) -> None:
        root, _, _ = self.assert_like_separate_processes(registry_args("cache_dit_scm"))
        # cache-dit's own count: the entry's cached steps (4 of 12 per branch
        # per prompt), none in the baselines around it.
        counts = work(root / "cached")["counts"]
        self.assertEqual((counts["cache_dit_cached_steps"], counts["cache_dit_cfg_cached_steps"]), (8, 8))
        for folder in ("baseline", "sessions/baseline.check"):
            self.assertNotIn("cache_dit_cached_steps", work(root / folder)["counts"], folder)
        settings = next(x for x in results(root / "cached") if x.get("event") == "settings")
        self.assertEqual((settings["features"]["cache"]["name"], settings["features"]["cache"]["version"]),
                         ("cache_dit", "1.5.3"))

    def test_cache_dit_left_on_fails_the_check(self) -> None:
        r, root = self.session("leaky", registry_args("cache_dit_scm"), script=LEAKY)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        self.assertEqual(leaked(root / "baseline", root / "sessions/baseline.check"), list(PNGS))
        # The check entry ran with cache-dit's blocks still swapped in.
        self.assertLess(work(root / "sessions/baseline.check")["counts"]["transformer_block"],
                        work(root / "baseline")["counts"]["transformer_block"])


if __name__ == "__main__":
    unittest.main()
