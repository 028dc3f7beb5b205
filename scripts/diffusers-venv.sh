#!/usr/bin/env bash
# The diffusers backend's pinned environment (backends/diffusers/requirements.txt)
# in a virtual environment that is reused while the requirements are unchanged:
# its folder is named after their hash. `--path` prints the folder only.
#
#   scripts/diffusers-venv.sh            # create or reuse it (~3 min, ~5.7 GB the first time)
#   scripts/diffusers-venv.sh --path     # where it is
#
# COMPAT_DIFFUSERS_VENV overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
req=backends/diffusers/requirements.txt
hash=$(sha256sum "$req" | cut -c1-12)
venv=${COMPAT_DIFFUSERS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/compat/venv-diffusers-$hash}
if [ "${1:-}" = "--path" ]; then
    echo "$venv"
    exit 0
fi
if [ -f "$venv/.installed" ] && cmp -s "$req" "$venv/.installed"; then
    echo "diffusers venv: reusing $venv"
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
echo "diffusers venv: installed in $(( $(date +%s) - start )) s at $venv ($(du -sh "$venv" | cut -f1))"
cp "$req" "$venv/.installed"
