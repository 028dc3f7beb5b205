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
. scripts/venv-lib.sh
venv_install diffusers "$req" "$venv"
