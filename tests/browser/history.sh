#!/usr/bin/env bash
# Browser test of the `compat history` page (index.html): Debian's chromium
# driven by playwright-core, from file://.
#
#   tests/browser/history.sh
#
# Makes (1) a small history of 24 nights from real `compat run`s of the
# reference engine (three registries: as shipped, cache_dit broken on some
# nights, teacache regressed from night 16), each night a real report restamped
# with its night's time, and (2) a large one, 365 nights × 100 configurations
# of generated reports, for the load time and the DOM size. Then runs
# history.test.mjs. Screenshots land in tests/browser/artifacts/.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  echo "==> installing chromium"
  sudo_=""
  if [ "$(id -u)" != 0 ]; then sudo_="sudo"; fi
  $sudo_ apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y chromium
fi
echo "==> npm ci"
(cd "$here" && npm ci --no-audit --no-fund)
(cd "$repo" && cargo build --quiet)
compat="$repo/target/debug/compat"

work="$(mktemp -d "${TMPDIR:-/tmp}/compat-history.XXXXXX")"
echo "==> real runs into $work"
python3 - "$repo/features.toml" "$work" <<'PY'
import sys, pathlib
src = pathlib.Path(sys.argv[1]).read_text()
out = pathlib.Path(sys.argv[2])
good = src.replace("[features.teacache]\n", "[features.teacache]\nthresholds = { mean = 0.004, fail_mean = 0.008 }\n", 1)
(out / "good.toml").write_text(good)
(out / "flaky.toml").write_text(good.replace('args = ["--cache-backend", "cache_dit"]', 'args = ["--cache-backend", "cache_dit_v2"]', 1))
(out / "regressed.toml").write_text(good.replace('args = ["--cache-backend", "tea_cache"]', 'args = ["--cache-backend", "tea_cache", "--tea-cache-threshold", "50"]', 1))
PY
for v in good flaky regressed; do
  (cd "$work" && "$compat" --features "$v.toml" run --baseline cfg_parallel --addons teacache cache_dit \
     --num-prompts 3 --height 64 --width 64 --steps 8 --gpus 2 --output-dir "real_$v" --analyze --html >/dev/null 2>&1 || true)
done
python3 - "$work" <<'PY'
import json, sys, pathlib, shutil, datetime
w = pathlib.Path(sys.argv[1])
t0 = datetime.datetime(2026, 10, 1, 2, tzinfo=datetime.timezone.utc)
for i in range(24):
    v = "regressed" if i >= 16 else ("flaky" if i in (5, 9, 12) else "good")
    src = w / f"real_{v}" / "cfg_parallel"
    r = json.loads((src / "report.json").read_text())
    r["generated"] = (t0 + datetime.timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    for c in r["results"]:
        if isinstance(c.get("engine"), dict):
            c["engine"]["commit"] = f"{((i + 1) * 2654435761) % 2**32:08x}{i:032x}"
    d = w / "nights" / f"night_{i:02d}"
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(r))
    shutil.copy(src / "diff_report.html", d / "diff_report.html")

# The large history: 365 nights x 100 configs (no per-prompt rows: the page
# never sees them).
big = w / "big"
for n in range(365):
    res = []
    for k in range(100):
        name = "baseline" if k == 0 else f"feat{k}+addon{k % 7}"
        st = "FAIL" if (k % 17 == 3 and n > 200) else ("ERROR" if (k == 5 and n % 9 == 0) else "PASS")
        sp = (1 + (k % 5) * 0.3) * (1 + 0.03 * (((n * 7919 + k * 104729) % 2001) / 1000 - 1))
        res.append({"name": name, "features": name.split("+"), "compat_status": st, "reason": None,
                    "mean_gen_time_ms": 500 / sp, "speedup": sp, "speedup_ci": {"low": sp * 0.9, "high": sp * 1.1},
                    "mean_diff_avg": 0.001, "psnr_avg": 40.0, "engine_memory_peak_bytes": {"0": 20000000000},
                    "engine": {"engine": "vllm-omni", "version": "0.31.0.dev", "commit": f"{(n * 2654435761) % 2**32:08x}{n:032x}"}})
    r = {"schema_version": 1, "generated": (t0 + datetime.timedelta(days=n)).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
         "run": {"backend": "vllm-omni", "model": "Qwen/Qwen-Image-2512", "steps": 30, "height": 1024, "width": 1024,
                 "seed": 42, "cfg_scale": 4.0, "num_prompts": 20, "prompts": []}, "results": res}
    d = big / f"n{n:03d}"
    d.mkdir(parents=True)
    (d / "report.json").write_text(json.dumps(r))
PY
"$compat" history "$work/nights" --out "$work/site" >/dev/null
"$compat" history "$work/big" --out "$work/big_site" >/dev/null

export COMPAT_HISTORY="$work/site/index.html" COMPAT_HISTORY_BIG="$work/big_site/index.html"
echo "==> testing $COMPAT_HISTORY and $COMPAT_HISTORY_BIG"
cd "$here"
node --test history.test.mjs
