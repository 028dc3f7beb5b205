#!/usr/bin/env bash
# The released engine wheels the adapters are checked against (backends/engine-wheels.txt),
# downloaded with `pip download --no-deps` (hash-checked) and unpacked, never installed,
# into a folder named after the list's hash, reused while the list is unchanged.
# `--path` prints the folder only.
#
#   scripts/engine-wheels.sh            # download and unpack, or reuse (~10 MB, seconds)
#   scripts/engine-wheels.sh --path     # where they are
#
# Layout: wheels/*.whl, one unpacked folder per wheel (<dist>-<version>/, the wheel's
# contents as they would land in site-packages) and engines.json naming them.
# COMPAT_ENGINE_WHEELS overrides the folder.
set -euo pipefail
cd "$(dirname "$0")/.."
list=backends/engine-wheels.txt
hash=$(sha256sum "$list" | cut -c1-12)
dir=${COMPAT_ENGINE_WHEELS:-${XDG_CACHE_HOME:-$HOME/.cache}/compat/engine-wheels-$hash}
if [ "${1:-}" = "--path" ]; then
    echo "$dir"
    exit 0
fi
if [ -f "$dir/.installed" ] && cmp -s "$list" "$dir/.installed"; then
    echo "engine wheels: reusing $dir"
    exit 0
fi
rm -rf "$dir"
mkdir -p "$dir/wheels"
python3 -m pip download --quiet --no-deps --only-binary=:all: --require-hashes \
    -r "$list" -d "$dir/wheels"
python3 - "$dir" <<'PY'
import json, sys, zipfile
from pathlib import Path

root = Path(sys.argv[1])
engines = {}
for wheel in sorted((root / "wheels").glob("*.whl")):
    # <dist>-<version>-<python>-<abi>-<platform>.whl (PEP 427)
    dist, version = wheel.name.split("-")[:2]
    target = root / f"{dist}-{version}"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(target)
    engines[dist] = {"version": version, "wheel": wheel.name, "root": target.name}
(root / "engines.json").write_text(json.dumps(engines, indent=2, sort_keys=True) + "\n")
print("engine wheels: " + ", ".join(f"{d} {e['version']}" for d, e in sorted(engines.items())) + f" at {root}")
PY
cp "$list" "$dir/.installed"
