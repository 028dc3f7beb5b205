#!/usr/bin/env python3
"""Benchmark: packing configurations onto a simulated 8-GPU node.

Runs `compat run --gpus 8 --combos all` over the six features of the
built-in registry with a test-double backend that only sleeps (a time that
differs per configuration), once packed and once with --serial, and prints
the makespan against the lower bound max(longest config, sum(gpus x time) / G).

    cargo build --release && python3 scripts/bench_packing.py [--compat target/release/compat]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SLEEPER = r'''
import hashlib, os, sys, time
args = sys.argv[1:]
out = args[args.index("--output") + 1]
# A duration per configuration, 0.4-1.6 s, from its feature flags.
h = int(hashlib.sha1(" ".join(args[args.index("--output") + 2:]).encode()).hexdigest(), 16)
time.sleep(0.4 + (h % 1000) / 1000 * 1.2)
os.makedirs(out, exist_ok=True)
'''

FEATURES = """
default_backend = "sleeper"
[backends.sleeper]
command = ["python3", "{sleeper}", "--output", "{{output_dir}}"]
[backends.sleeper.defaults]
num_prompts = 1
"""


def registry(dirname, sleeper):
    # The six features of the built-in registry, with their GPU multipliers.
    builtin = open(os.path.join(ROOT, "features.toml"), encoding="utf-8").read()
    feats = builtin[builtin.index("[features.cfg_parallel]"):]
    # Other backends' spellings name backends this registry does not have.
    feats = re.sub(r"\[features\.\w+\.backend_args\]\n(\w+ = .*\n)+", "", feats)
    text = FEATURES.format(sleeper=sleeper) + "\n" + feats
    path = os.path.join(dirname, "features.toml")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


def run(compat, features, out, extra):
    cmd = [compat, "--features", features, "run", "--baseline", "cfg_parallel", "--addons",
           "teacache", "cache_dit", "ulysses", "ring", "tp", "--combos", "all", "--gpus", "8",
           "--output-dir", out, "--timeout", "1m"] + extra
    t = time.monotonic()
    p = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t
    # The sleeper writes no images, so every config "fails" its prompt check
    # (exit 1); timing is all we measure here.
    with open(os.path.join(out, "cfg_parallel", "manifest.json"), encoding="utf-8") as f:
        m = json.load(f)
    ran = [c for c in m["configs"] if c["state"] != "skipped"]
    if not ran or any(c.get("seconds") is None for c in ran):
        sys.exit("benchmark run failed:\n" + p.stderr[-2000:])
    return wall, ran, len(m["configs"]) - len(ran)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--compat", default=os.path.join(ROOT, "target", "release", "compat"))
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as d:
        sleeper = os.path.join(d, "sleeper.py")
        with open(sleeper, "w") as f:
            f.write(SLEEPER)
        features = registry(d, sleeper)
        packed_wall, ran, skipped = run(a.compat, features, os.path.join(d, "packed"), [])
        serial_wall, _, _ = run(a.compat, features, os.path.join(d, "serial"), ["--serial"])
    g = 8
    longest = max(c["seconds"] for c in ran)
    area = sum(c["gpus"] * c["seconds"] for c in ran) / g
    bound = max(longest, area)
    concurrent = max(len(c.get("concurrent_with", [])) for c in ran) + 1
    print(f"configs run: {len(ran)} (+{skipped} SKIP), GPUs: {g}")
    print(f"sum of config times (serial work): {sum(c['seconds'] for c in ran):6.2f} s")
    print(f"lower bound max(longest {longest:.2f}, area {area:.2f}): {bound:6.2f} s")
    print(f"packed makespan:  {packed_wall:6.2f} s  = {packed_wall / bound:.2f}x the bound "
          f"(most at once: {concurrent})")
    print(f"serial makespan:  {serial_wall:6.2f} s  = {serial_wall / packed_wall:.2f}x the packed run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
