#!/usr/bin/env bash
# Browser test of diff_report.html: Debian's chromium driven by playwright-core.
#
#   tests/browser/run.sh                 # build a fixture report and test it
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
  # For now the report comes from the integration test's fixture; the lead
  # switches this to a real `compat run --analyze --charts --html`.
  out="$(mktemp -d "${TMPDIR:-/tmp}/compat-report.XXXXXX")"
  echo "==> building a fixture report in $out"
  (cd "$repo" && COMPAT_KEEP_REPORT_DIR="$out" cargo test --quiet --test html_report fixture_run)
  export COMPAT_REPORT="$out/cfg_parallel/diff_report.html"
fi

echo "==> testing $COMPAT_REPORT"
cd "$here"
node --test report.test.mjs
