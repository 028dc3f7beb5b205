#!/usr/bin/env bash
# Browser test of diff_report.html: Debian's chromium driven by playwright-core.
#
#   tests/browser/run.sh                 # make a report with a real compat run and test it
#   COMPAT_REPORT=path/diff_report.html tests/browser/run.sh   # test that report
#
# Steps: (1) install chromium if /usr/bin/chromium is missing, (2) npm ci,
# (3) produce a report unless COMPAT_REPORT is set, (4) run the node test.
# The screenshot lands in tests/browser/artifacts/.
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

if [ -z "${COMPAT_REPORT:-}" ]; then
  # A real run of the reference engine, with the hostile prompt among the prompts.
  out="$(mktemp -d "${TMPDIR:-/tmp}/compat-report.XXXXXX")"
  echo "==> compat run --analyze --charts --html into $out"
  (cd "$repo" && cargo build --quiet)
  cat > "$out/prompts.txt" <<'PROMPTS'
A red circle on a white background
<img src=x onerror=alert(1)>
A yellow star above blue mountains at night
Three small pink squares on the left
PROMPTS
  (cd "$out" && "$repo/target/debug/compat" --features "$repo/features.toml" run \
      --baseline cfg_parallel --addons teacache cache_dit ulysses \
      --prompt-file prompts.txt --num-prompts 4 --height 64 --width 64 --steps 8 \
      --gpus 2 --analyze --charts --html)
  export COMPAT_REPORT="$out/compat_results/cfg_parallel/diff_report.html"
fi

echo "==> testing $COMPAT_REPORT"
cd "$here"
node --test report.test.mjs
