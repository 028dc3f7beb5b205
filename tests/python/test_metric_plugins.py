"""One conformance suite every shipped metric plugin (metrics/*.py) runs through
(docs/metrics.md), as torchmetrics runs every metric through its MetricTester:
the protocol (a settings line, one answer per item, finite values, a per-item
error for a bad image that costs nothing else), the metric's invariants, and a
clear, quick refusal when its weights are missing (no download, no hang).

No weights are downloaded: LPIPS runs with the lpips package's own linear
weights over a randomly initialised backbone (``--random-backbone``, lpips'
``pnet_rand=True``), CLIP score with a tiny random CLIP built offline
(metrics/make_tiny_clip.py). The numbers mean nothing perceptually.

Needs the venv of metrics/requirements.txt (scripts/metrics-venv.sh):
    COMPAT_METRICS_PYTHON=$(scripts/metrics-venv.sh --path)/bin/python3 \
        python3 -m unittest tests/python/test_metric_plugins.py -v
Skipped without it.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import tempfile
import time
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = os.environ.get("COMPAT_METRICS_PYTHON")

PROMPTS = ["a red apple on a table", "a cat on a mat", 'the word "HELLO" in neon']


def run(args: list[str], env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    full = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    return subprocess.run([PYTHON, *args], capture_output=True, text=True, timeout=timeout, env=full)


@unittest.skipUnless(PYTHON, "COMPAT_METRICS_PYTHON: the venv of metrics/requirements.txt")
class Conformance(unittest.TestCase):
    """Each shipped plugin, with its offline test settings."""

    tmp: tempfile.TemporaryDirectory
    dir: Path

    @classmethod
    def setUpClass(cls) -> None:
        cls.tmp = tempfile.TemporaryDirectory()
        cls.dir = Path(cls.tmp.name)
        made = run([str(ROOT / "metrics/make_tiny_clip.py"), str(cls.dir / "tiny-clip")])
        assert made.returncode == 0, made.stderr
        made = run(["-c", IMAGES, str(cls.dir)])
        assert made.returncode == 0, made.stderr
        cls.plugins = {
            "lpips-alex": ("pair", [str(ROOT / "metrics/lpips_metric.py"), "--net", "alex", "--random-backbone"]),
            "lpips-vgg": ("pair", [str(ROOT / "metrics/lpips_metric.py"), "--net", "vgg", "--random-backbone"]),
            "clip": ("prompt", [str(ROOT / "metrics/clip_score.py"), "--model", str(cls.dir / "tiny-clip")]),
        }

    @classmethod
    def tearDownClass(cls) -> None:
        cls.tmp.cleanup()

    def items(self, kind: str) -> list[dict]:
        """Identical pairs, different pairs, a missing image, a size mismatch."""
        d = self.dir
        rows = []
        for p, text in enumerate(PROMPTS):
            rows.append(("same", p, text, d / f"base{p}.png", d / f"base{p}.png"))
            rows.append(("noisy", p, text, d / f"noisy{p}.png", d / f"base{p}.png"))
        rows.append(("gone", 0, PROMPTS[0], d / "missing.png", d / "base0.png"))
        if kind == "pair":
            rows.append(("small", 0, PROMPTS[0], d / "small.png", d / "base0.png"))
        items = []
        for config, p, text, image, ref in rows:
            item = {"index": len(items), "config": config, "prompt_index": p, "prompt": text, "image": str(image)}
            if kind == "pair":
                item["reference"] = str(ref)
            items.append(item)
        return items

    def measure(self, name: str) -> tuple[list[dict], dict, dict]:
        kind, argv = self.plugins[name]
        items = self.items(kind)
        items_path = self.dir / f"{name}.items.jsonl"
        values_path = self.dir / f"{name}.values.jsonl"
        items_path.write_text("".join(json.dumps(i) + "\n" for i in items))
        done = run([*argv, "--items", str(items_path), "--values", str(values_path), "--device", "cpu"])
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = [json.loads(l) for l in values_path.read_text().splitlines() if l.strip()]
        settings = lines[0]
        self.assertEqual(settings.get("event"), "settings", lines[0])
        answers = {l["index"]: l for l in lines[1:]}
        self.assertEqual(len(answers), len(lines) - 1, "each item answered once")
        self.assertEqual(sorted(answers), [i["index"] for i in items], "every item answered")
        return items, answers, settings

    def test_the_protocol_and_the_invariants(self) -> None:
        for name, (kind, _) in self.plugins.items():
            with self.subTest(plugin=name):
                items, answers, _ = self.measure(name)
                by = {(i["config"], i["prompt_index"]): answers[i["index"]] for i in items}
                # A bad image is that item's error, never the plugin's end.
                self.assertIn("error", by[("gone", 0)])
                values = {k: a["value"] for k, a in by.items() if "value" in a}
                for k, v in values.items():
                    self.assertTrue(math.isfinite(v), (k, v))
                if kind == "pair":
                    self.assertIn("sizes differ", by[("small", 0)]["error"])
                    for p in range(len(PROMPTS)):
                        self.assertEqual(values[("same", p)], 0.0, "identical images: LPIPS 0")
                        self.assertGreater(values[("noisy", p)], 0.0)
                else:
                    for k, v in values.items():
                        self.assertTrue(0.0 <= v <= 100.0, (k, v))
                    # The same image scores differently against other prompts.
                    self.assertGreater(len({round(values[("same", p)], 6) for p in range(len(PROMPTS))}), 1)

    def test_lpips_matches_the_lpips_package(self) -> None:
        """The plugin's value is lpips' own on the same images (the backbone
        seeded the same way), not a reimplementation."""
        items, answers, settings = self.measure("lpips-alex")
        self.assertEqual(settings["lpips"], "0.1.4")
        noisy = next(i for i in items if i["config"] == "noisy")
        ref = run(["-c", LPIPS_REFERENCE, noisy["image"], noisy["reference"]])
        self.assertEqual(ref.returncode, 0, ref.stderr)
        self.assertAlmostEqual(answers[noisy["index"]]["value"], float(ref.stdout.strip()), places=5)

    def test_missing_weights_fail_at_once_saying_where(self) -> None:
        empty = self.dir / "empty-cache"
        empty.mkdir(exist_ok=True)
        items = self.dir / "one.jsonl"
        items.write_text(json.dumps(self.items("pair")[0]) + "\n")
        cases = [
            ([str(ROOT / "metrics/lpips_metric.py"), "--net", "alex"], str(empty / "hub/checkpoints/alexnet-")),
            ([str(ROOT / "metrics/clip_score.py")], str(empty / "hub")),
        ]
        for argv, where in cases:
            with self.subTest(plugin=argv[0]):
                start = time.monotonic()
                done = run(
                    [*argv, "--items", str(items), "--values", str(self.dir / "none.jsonl")],
                    env={"TORCH_HOME": str(empty), "HF_HOME": str(empty), "HF_HUB_OFFLINE": "0"},
                    timeout=120,
                )
                self.assertEqual(done.returncode, 3, done.stderr)
                last = done.stderr.strip().splitlines()[-1]
                self.assertIn(where, last)
                self.assertIn("--download", last)
                self.assertLess(time.monotonic() - start, 60, "no wait on a network")


# Writes base{p}.png (64×64 random), noisy{p}.png (base + noise), small.png (32×32).
IMAGES = r"""
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(0)
for p in range(3):
    base = rng.integers(0, 256, (64, 64, 3))
    noisy = np.clip(base + rng.integers(-40, 41, base.shape), 0, 255)
    Image.fromarray(base.astype("uint8")).save(f"{d}/base{p}.png")
    Image.fromarray(noisy.astype("uint8")).save(f"{d}/noisy{p}.png")
Image.fromarray(rng.integers(0, 256, (32, 32, 3)).astype("uint8")).save(f"{d}/small.png")
"""

# lpips itself, as its README calls it, with the plugin's seed for the random backbone.
LPIPS_REFERENCE = r"""
import sys
import numpy as np
import torch, lpips
from PIL import Image
torch.manual_seed(0)
m = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
img = lambda p: lpips.im2tensor(np.asarray(Image.open(p).convert("RGB")))
with torch.no_grad():
    print(m(img(sys.argv[1]), img(sys.argv[2])).item())
"""


if __name__ == "__main__":
    unittest.main()
