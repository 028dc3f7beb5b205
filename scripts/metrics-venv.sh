#!/usr/bin/env bash
# The shipped metric plugins' pinned environment (metrics/requirements.txt) in a
# virtual environment reused while the requirements are unchanged: its folder
# is named after their hash, like scripts/diffusers-venv.sh.
#
#   scripts/metrics-venv.sh                  # create or reuse it (minutes, GBs the first time)
#   scripts/metrics-venv.sh --path           # where it is
#   scripts/metrics-venv.sh --exec ARGS...   # run the venv's python3 with ARGS (what the
#                                            # shipped [metrics.*] entries in features.toml do);
#                                            # exit 3 with what to run when it is not set up
#
# COMPAT_METRICS_VENV overrides the folder.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
req="$root/metrics/requirements.txt"
hash=$(sha256sum "$req" | cut -c1-12)
venv=${COMPAT_METRICS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/compat/venv-metrics-$hash}
installed() { [ -f "$venv/.installed" ] && cmp -s "$req" "$venv/.installed"; }
case "${1:-}" in
--path)
    echo "$venv"
    exit 0
    ;;
--exec)
    shift
    if ! installed; then
        echo "metrics venv: not set up at $venv (metrics/requirements.txt changed or never installed): run $root/scripts/metrics-venv.sh" >&2
        exit 3
    fi
    exec "$venv/bin/python3" "$@"
    ;;
esac
if installed; then
    echo "metrics venv: reusing $venv"
    exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
    sudo_=""; [ "$(id -u)" != 0 ] && sudo_="sudo"
    $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq python3-venv
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python3" -m pip install --quiet --upgrade pip
start=$(date +%s)
"$venv/bin/python3" -m pip install --quiet -r "$req"
echo "metrics venv: installed in $(( $(date +%s) - start )) s at $venv ($(du -sh "$venv" | cut -f1))"
cp "$req" "$venv/.installed"
