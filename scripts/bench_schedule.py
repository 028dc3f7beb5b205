#!/usr/bin/env python3
"""Benchmark: the queue order on a simulated 4-GPU node (issue 24).

The matrix of the issue: `--baseline cfg_parallel --addons teacache cache_dit
ulysses ring tp` (pairs: 7 configurations; the 1-GPU pure baseline is the
slowest, having no acceleration), `--gpus 4`.

The backend (--backend):
  original  (default) the original framework's batch script itself,
            compatibility/batch_text_to_image.py on branch compat of
            github.com/wtomin/vllm-omni at 7bd8f25f, copied unchanged into
            scripts/bench_original/ (its git blob is checked and printed), run
            with the original runner's command line
            (compatibility/run_compat_test.py:467-488) and the features' own
            flags (--cfg-parallel-size 2, --cache-backend tea_cache|cache_dit,
            --ulysses-degree 2, --ring-degree 2, --tensor-parallel-size 2,
            which its argparse takes as they are). Its imports of vllm_omni
            and torch resolve to a strict stub of the engine API it calls
            (scripts/bench_original/stub, on PYTHONPATH): Omni(...) sleeps the
            model load (--load), each generate() sleeps --base / the parallel
            config's world size / the cache speedup (TeaCache 1.8x, Cache-DiT
            1.4x) and returns real images. compat reads its log (no
            results.jsonl; no warm-up flag).
  standin   a one-file stand-in writing results.jsonl: the load, one warm-up
            and the timed prompts, with the same costs.
The cache speedups are deliberately not compat's model constant (1.6x), so
the model is not tuned to them.

It runs compat three times:
  before   --queue-order largest-first (compat's order before planning)
  model    the planned order, no history (nominal model estimates)
  history  the planned order with --estimates-from the 'before' run
and brute-forces all 7! orders with a simulator of the executor's policy
(first queued job that fits the free GPUs) fed the durations measured in
the 'before' run, and in each run itself: the best order's makespan. Each
run's makespan is its manifest's first start to last finish.

    cargo build --release && python3 scripts/bench_schedule.py [--compat target/release/compat]
"""
import argparse
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GPUS = 4

BACKEND = r'''
import json, os, sys, time
sys.path.insert(0, {fixtures!r})
from fake_backend import png
LOAD, BASE = {load}, {base}
CACHE = {{"tea_cache": 1.8, "cache_dit": 1.4}}
a = sys.argv[1:]
def opt(name, default=None):
    return a[a.index(name) + 1] if name in a else default
out, prompts, warmup = opt("--output"), opt("--prompt-file"), int(opt("--warmup", "0"))
degree = 1
for flag in ("--cfg-parallel-size", "--ulysses-degree", "--ring-degree", "--tensor-parallel-size"):
    degree *= int(opt(flag, "1"))
per_prompt = BASE / degree / CACHE.get(opt("--cache-backend"), 1.0)
os.makedirs(out, exist_ok=True)
lines = [l for l in open(prompts, encoding="utf-8").read().split("\n") if l]
res = open(os.path.join(out, "results.jsonl"), "w")
t = time.monotonic(); time.sleep(LOAD)  # the model load
res.write(json.dumps({{"event": "load", "seconds": time.monotonic() - t}}) + "\n")
t = time.monotonic(); time.sleep(per_prompt * warmup)
res.write(json.dumps({{"event": "warmup", "seconds": time.monotonic() - t}}) + "\n")
for i, _ in enumerate(lines):
    t = time.monotonic(); time.sleep(per_prompt)
    s = time.monotonic() - t
    png(os.path.join(out, "prompt_%02d.png" % i), (i * 10, 0, 0))
    res.write(json.dumps({{"prompt": i, "image": "prompt_%02d.png" % i, "seconds": s, "ok": True}}) + "\n")
    res.flush()
'''

STANDIN = """
default_backend = "standin"
[backends.standin]
command = ["python3", "{backend}", "--prompt-file", "{{prompt_file}}", "--output", "{{output_dir}}",
           "--warmup", "{{warmup}}"]
model = "standin"
[backends.standin.defaults]
num_prompts = {prompts}
"""

# The original framework's command line for its batch script
# (compatibility/run_compat_test.py:467-488 at ORIGINAL_COMMIT), with compat's
# placeholders; the engine stub on PYTHONPATH, its costs in the environment.
# The script has no warm-up flag: compat leaves a cold first prompt out.
ORIGINAL = """
default_backend = "original"
[backends.original]
command = ["env", "PYTHONPATH={stub}", "COMPAT_STUB_LOAD={load}", "COMPAT_STUB_BASE={base}",
           "python3", "{script}", "--model", "{{model}}", "--prompt-file", "{{prompt_file}}",
           "--negative-prompt={{negative_prompt}}", "--output", "{{output_dir}}",
           "--num-inference-steps", "{{steps}}", "--height", "{{height}}", "--width", "{{width}}",
           "--cfg-scale", "{{cfg_scale}}", "--seed", "{{seed}}"]
model = "Qwen/Qwen-Image"
[backends.original.defaults]
height = 64
width = 64
steps = 4
num_prompts = {prompts}
"""

# The original batch script, copied unchanged: compatibility/batch_text_to_image.py
# on branch compat of github.com/wtomin/vllm-omni, its git blob checked below.
ORIGINAL_DIR = os.path.join(ROOT, "scripts", "bench_original")
ORIGINAL_COMMIT = "7bd8f25f87ba935f7afc3ffb85ae7256dd13e082"
ORIGINAL_BLOB = "14412b816cef6fa46d2777ec28c29d37f3bd6306"


def git_blob(path):
    with open(path, "rb") as f:
        data = f.read()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def registry(d, text):
    import tomllib
    with open(os.path.join(ROOT, "features.toml"), "rb") as f:
        builtin = tomllib.load(f)["features"]
    # The six features of the original framework, as the built-in registry has
    # them (GPU multipliers, arguments), without other backends' spellings.
    for fid in ("cfg_parallel", "teacache", "cache_dit", "ulysses", "ring", "tp"):
        f = builtin[fid]
        text += f"\n[features.{fid}]\n"
        for key in ("label", "description", "args", "gpus", "lossy", "category", "exclusive",
                    "addon_only"):
            if key in f:
                text += f"{key} = {json.dumps(f[key])}\n"
    path = os.path.join(d, "features.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run(compat, features, out, extra):
    cmd = [compat, "--features", features, "run", "--baseline", "cfg_parallel", "--addons",
           "teacache", "cache_dit", "ulysses", "ring", "tp", "--gpus", str(GPUS), "--no-probe",
           "--output-dir", out, "--timeout", "5m"] + extra
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if not os.path.exists(os.path.join(out, "cfg_parallel", "manifest.json")):
        sys.exit("compat failed:\n" + p.stderr[-2000:])
    with open(os.path.join(out, "cfg_parallel", "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    ran = [c for c in m["configs"] if c["state"] != "skipped"]
    if p.returncode != 0 or any(c["state"] != "completed" for c in ran):
        sys.exit("benchmark run failed:\n" + p.stdout[-2000:] + p.stderr[-2000:])
    from datetime import datetime

    def t(s):
        return datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()

    starts = sorted((t(c["started"]), c["name"]) for c in ran)
    span = max(t(c["finished"]) for c in ran) - starts[0][0]
    bill = [l for l in p.stdout.splitlines() if l.startswith("bill:")]
    return span, {c["name"]: (c["gpus"], c["seconds"]) for c in ran}, [n for _, n in starts], bill


def simulate(order, durations):
    """The executor's policy: start the first queued job that fits, at each finish."""
    queue, free, running, now = list(order), GPUS, [], 0.0
    while True:
        while True:
            k = next((i for i, n in enumerate(queue) if durations[n][0] <= free), None)
            if k is None:
                break
            n = queue.pop(k)
            free -= durations[n][0]
            running.append((now + durations[n][1], n))
        if not running:
            return now
        running.sort()
        end, n = running.pop(0)
        now, free = end, free + durations[n][0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compat", default=os.path.join(ROOT, "target", "release", "compat"))
    ap.add_argument("--prompts", type=int, default=4)
    ap.add_argument("--load", type=float, default=2.0)
    ap.add_argument("--base", type=float, default=2.0, help="seconds per prompt on one GPU")
    ap.add_argument("--backend", choices=("original", "standin"), default="original",
                    help="original: the original framework's batch script on the engine stub; "
                         "standin: a one-file stand-in writing results.jsonl")
    ap.add_argument("--original-script", default=os.path.join(ORIGINAL_DIR, "batch_text_to_image.py"),
                    help="the original batch script to run (default: the copy in scripts/bench_original)")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        if a.backend == "original":
            script = os.path.abspath(a.original_script)
            blob = git_blob(script)
            note = "" if blob == ORIGINAL_BLOB else f" (NOT the blob of {ORIGINAL_COMMIT[:8]}, {ORIGINAL_BLOB[:12]})"
            print(f"backend: {script}, git blob {blob[:12]}{note}, engine stub {ORIGINAL_DIR}/stub")
            features = registry(d, ORIGINAL.format(stub=os.path.join(ORIGINAL_DIR, "stub"), load=a.load,
                                                    base=a.base, script=script, prompts=a.prompts))
        else:
            backend = os.path.join(d, "standin.py")
            with open(backend, "w") as f:
                f.write(BACKEND.format(fixtures=os.path.join(ROOT, "tests", "fixtures"),
                                       load=a.load, base=a.base))
            features = registry(d, STANDIN.format(backend=backend, prompts=a.prompts))
        before = run(a.compat, features, os.path.join(d, "before"), ["--queue-order", "largest-first"])
        model = run(a.compat, features, os.path.join(d, "model"), [])
        hist = run(a.compat, features, os.path.join(d, "history"),
                   ["--estimates-from", os.path.join(d, "before", "cfg_parallel")])
    durations = before[1]
    names = list(durations)
    best = min(simulate(o, durations) for o in itertools.permutations(names))
    area = sum(g * s for g, s in durations.values()) / GPUS
    bound = max(max(s for _, s in durations.values()), area)
    warm = " + warm-up" if a.backend == "standin" else " (no warm-up flag)"
    print(f"{len(names)} configs on {GPUS} simulated GPUs; load {a.load} s, {a.prompts} prompts{warm}")
    for n in names:
        print(f"  {n:28s} {durations[n][0]} GPU  {durations[n][1]:6.2f} s")
    print(f"best of all {len(list(itertools.permutations(names)))} orders (simulated, 'before' durations): {best:6.2f} s")
    print(f"lower bound max(longest, GPU-s/{GPUS}): {bound:6.2f} s")
    for label, r in (("before (largest first)", before), ("planned, no history", model),
                     ("planned, --estimates-from", hist)):
        # Against the best order of this run's own durations too: the runs
        # differ by the machine's noise.
        own = min(simulate(o, r[1]) for o in itertools.permutations(names))
        sim = simulate(r[2], r[1])
        print(f"{label:27s} measured {r[0]:6.2f} s = {r[0] / best:.3f}x best of 'before' durations, "
              f"{r[0] / own:.3f}x best of its own ({own:.2f} s); its start order simulated on its own "
              f"durations {sim / own:.3f}x; {' > '.join(r[2])}")
        for line in r[3]:
            print("   ", line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
