"""The benchmark's engine stub (scripts/bench_original/stub) under the
original framework's unchanged batch script (scripts/bench_original/
batch_text_to_image.py): the script runs to its end, its log has the lines
compat reads, the images are real PNGs, the simulated time follows the
parallel degree and cache backend, and the stub refuses what the real engine
would not run (more GPUs than visible) and what it does not simulate
(an unknown keyword, a drifted script)."""
import hashlib
import os
import re
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ORIGINAL = ROOT / "scripts" / "bench_original"
SCRIPT = ORIGINAL / "batch_text_to_image.py"
STUB = ORIGINAL / "stub"


def run(args, devices="0,1,2,3", base="0.4", script=SCRIPT, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(STUB), COMPAT_STUB_LOAD="0", COMPAT_STUB_BASE=base)
    if devices is None:
        env.pop("CUDA_VISIBLE_DEVICES", None)
    else:
        env["CUDA_VISIBLE_DEVICES"] = devices
    return subprocess.run([sys.executable, str(script), *args], env=env, cwd=cwd,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)


class BenchOriginal(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = Path(self.tmp.name)
        self.prompts = self.dir / "prompts.txt"
        self.prompts.write_text("a red cube\n\na blue sphere\n", encoding="utf-8")

    def tearDown(self):
        self.tmp.cleanup()

    def gen(self, *extra, **kw):
        out = self.dir / "out"
        p = run(["--prompt-file", str(self.prompts), "--output", str(out), "--height", "32",
                 "--width", "48", "--negative-prompt=", *extra], **kw)
        return p, out

    def test_script_is_the_original_unchanged(self):
        data = SCRIPT.read_bytes()
        blob = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
        # compatibility/batch_text_to_image.py at vllm-omni compat 7bd8f25f.
        self.assertEqual(blob, "14412b816cef6fa46d2777ec28c29d37f3bd6306")

    def test_log_and_images(self):
        p, out = self.gen("--cfg-parallel-size", "2")
        self.assertEqual(p.returncode, 0, p.stdout)
        self.assertRegex(p.stdout, r"Generation time for prompt 1: [0-9.]+ seconds")
        self.assertIn(f"Saved image to {out}/image_0000.png", p.stdout)
        self.assertIn(f"Saved image to {out}/image_0001.png", p.stdout)
        a, b = (out / "image_0000.png").read_bytes(), (out / "image_0001.png").read_bytes()
        self.assertTrue(a.startswith(b"\x89PNG\r\n\x1a\n"))
        self.assertEqual(a[16:24], (48).to_bytes(4, "big") + (32).to_bytes(4, "big"))  # IHDR w, h
        self.assertNotEqual(a, b, "each prompt its own image")

    def test_time_follows_degree_and_cache(self):
        def mean(*extra):
            p, _ = self.gen(*extra, base="0.8")
            self.assertEqual(p.returncode, 0, p.stdout)
            t = [float(x) for x in re.findall(r"Generation time for prompt \d+: ([0-9.]+)", p.stdout)]
            return sum(t) / len(t)

        # A sleep is never shorter than asked; the upper bounds leave room
        # for a loaded machine.
        for extra, expected in (((), 0.8), (("--ulysses-degree", "2", "--ring-degree", "2"), 0.2),
                                (("--tensor-parallel-size", "2", "--cache-backend", "tea_cache"),
                                 0.8 / 2 / 1.8)):
            t = mean(*extra)
            self.assertGreaterEqual(t, expected, extra)
            self.assertLess(t, expected + 0.1, extra)

    def test_more_gpus_than_visible_fails(self):
        p, _ = self.gen("--ulysses-degree", "2", devices="3")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("needs 2 GPUs", p.stdout)

    def test_unknown_engine_keyword_fails(self):
        # A script that passes the engine a keyword it does not read.
        drifted = self.dir / "drifted.py"
        drifted.write_text(SCRIPT.read_text(encoding="utf-8").replace(
            "enforce_eager=args.enforce_eager,", "enforce_eager=args.enforce_eager, teacache_thresh=0.2,"),
            encoding="utf-8")
        p, _ = self.gen(script=drifted)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unexpected keyword argument(s): teacache_thresh", p.stdout)

    def test_unknown_sampling_field_fails(self):
        drifted = self.dir / "drifted.py"
        drifted.write_text(SCRIPT.read_text(encoding="utf-8").replace(
            "num_outputs_per_prompt=args.num_images_per_prompt,",
            "num_outputs_per_prompt=args.num_images_per_prompt, num_images=1,"), encoding="utf-8")
        p, _ = self.gen(script=drifted)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unexpected keyword argument 'num_images'", p.stdout)


if __name__ == "__main__":
    unittest.main()
