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
. "$root/scripts/venv-lib.sh"
case "${1:-}" in
--path)
    echo "$venv"
    exit 0
    ;;
--exec)
    shift
    if ! venv_installed "$req" "$venv"; then
        echo "metrics venv: not set up at $venv (metrics/requirements.txt changed or never installed): run $root/scripts/metrics-venv.sh" >&2
        exit 3
    fi
    exec "$venv/bin/python3" "$@"
    ;;
esac
venv_install metrics "$req" "$venv"
