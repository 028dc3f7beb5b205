# Sourced by scripts/diffusers-venv.sh and scripts/metrics-venv.sh: a pinned
# requirements file installed into a virtual environment that is reused while
# the file is unchanged (the venv keeps a copy of it as .installed).

# venv_installed REQ VENV: whether VENV holds exactly REQ.
venv_installed() {
    [ -f "$2/.installed" ] && cmp -s "$1" "$2/.installed"
}

# venv_install LABEL REQ VENV: reuse VENV, or (re)create it and install REQ.
venv_install() {
    local label=$1 req=$2 venv=$3 start
    if venv_installed "$req" "$venv"; then
        echo "$label venv: reusing $venv"
        return 0
    fi
    if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c "import ensurepip" 2>/dev/null; then
        local sudo_=""
        [ "$(id -u)" != 0 ] && sudo_="sudo"
        $sudo_ apt-get update -qq && $sudo_ apt-get install -y -qq python3-venv
    fi
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python3" -m pip install --quiet --upgrade pip
    start=$(date +%s)
    "$venv/bin/python3" -m pip install --quiet -r "$req"
    echo "$label venv: installed in $(( $(date +%s) - start )) s at $venv ($(du -sh "$venv" | cut -f1))"
    cp "$req" "$venv/.installed"
}
