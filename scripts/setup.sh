#!/usr/bin/env bash
# Prepare this checkout to run ImFace Studio and its tests on Debian/Ubuntu.
#
#   bash scripts/setup.sh
#
# Idempotent: installs only what is missing and returns quickly on a second run.
#  1. system libraries for Qt/VTK under X11 and Xvfb, plus jemalloc (apt-get);
#  2. a Python 3.11 virtual environment in .venv;
#  3. `pip install -e '.[test]'` into it, redone only when pyproject.toml changes;
#  4. the Khronos glTF validator (npm gltf-validator) into .tools/, when node and npm are present.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

say() { printf '[setup] %s\n' "$*"; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

APT_PACKAGES=(
    xvfb xauth
    libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libosmesa6
    libxkbcommon-x11-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-image0
    libxcb-render-util0 libxcb-randr0 libxcb-shape0 libxcb-xinerama0 libxcb-xkb1 libxcb-xfixes0
    libfontconfig1 libdbus-1-3
    libjemalloc2
)

is_installed() {
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

# Run a command as root: directly when we are root, else through sudo.
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root to run: $* (run this script as root or install sudo)"
    fi
}

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" -eq 0 ]; then
        say "apt-get update"
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
        APT_UPDATED=1
    fi
    say "apt-get install $*"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# --- 1. system packages ------------------------------------------------------
if command -v dpkg >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        is_installed "$pkg" || missing+=("$pkg")
    done
    if [ "${#missing[@]}" -gt 0 ]; then
        say "installing ${#missing[@]} missing system package(s): ${missing[*]}"
        apt_install "${missing[@]}"
    else
        say "system packages: all ${#APT_PACKAGES[@]} present"
    fi
else
    say "warning: no dpkg/apt-get here; install the equivalents of these yourself: ${APT_PACKAGES[*]}"
fi

# --- 2. Python 3.11 and the virtual environment ------------------------------
is_py311() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' >/dev/null 2>&1
}

find_python() {
    local candidate
    for candidate in python3.11 python3; do
        if command -v "$candidate" >/dev/null 2>&1 && is_py311 "$candidate"; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

VENV="$ROOT/.venv"
VPY="$VENV/bin/python"

if [ -x "$VPY" ] && is_py311 "$VPY" && "$VPY" -m pip --version >/dev/null 2>&1; then
    say "virtual environment: $VENV (Python $("$VPY" -c 'import platform; print(platform.python_version())'))"
else
    if ! PY="$(find_python)"; then
        if command -v apt-get >/dev/null 2>&1 && apt-cache show python3.11 >/dev/null 2>&1; then
            say "no Python 3.11 found; installing it with apt-get"
            apt_install python3.11 python3.11-venv
            PY="$(find_python)" || die "Python 3.11 is still not on PATH after installing it"
        else
            die "ImFace Studio needs Python 3.11 (python3.11 or python3 on PATH); none was found"
        fi
    fi
    # Debian's own python3.11 ships venv without ensurepip unless python3.11-venv is installed.
    if ! "$PY" -c 'import ensurepip, venv' >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
            say "$PY lacks the venv module; installing python3.11-venv"
            apt_install python3.11-venv
        else
            die "$PY cannot create virtual environments (no ensurepip); install its venv package"
        fi
    fi
    if [ -e "$VENV" ]; then
        say "$VENV exists but is not a working Python 3.11 environment; recreating it"
    fi
    say "creating the virtual environment with $PY ($("$PY" -c 'import platform; print(platform.python_version())'))"
    "$PY" -m venv --clear "$VENV"
fi

# --- 3. the project and its test tools ---------------------------------------
STAMP="$VENV/.imface-install-stamp"
want_stamp="$(sha256sum pyproject.toml | cut -d' ' -f1) $ROOT"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want_stamp" ] \
    && "$VPY" -c 'import importlib.metadata as m; m.version("imface-studio")' >/dev/null 2>&1; then
    say "python packages: up to date (pyproject.toml unchanged since the last install)"
else
    say "installing the project and its dependencies into .venv (the first time takes a few minutes)"
    pip_flags=()
    if [ -n "${CI:-}" ] || [ ! -t 1 ]; then
        pip_flags+=(--progress-bar off)
    fi
    "$VPY" -m pip install "${pip_flags[@]}" -e '.[test]'
    printf '%s\n' "$want_stamp" > "$STAMP"
    say "python packages: installed"
fi

# --- 4. the glTF validator (tests of `imface rig`) ---------------------------------------------------------
# The Khronos glTF validator, from npm, into the git-ignored .tools/ (node scripts/validate_gltf.js runs it).
GLTF_VALIDATOR_VERSION="2.0.0-dev.3.10"
if [ -f .tools/node_modules/gltf-validator/package.json ] \
    && grep -q "\"version\": \"$GLTF_VALIDATOR_VERSION\"" .tools/node_modules/gltf-validator/package.json; then
    say "glTF validator: gltf-validator $GLTF_VALIDATOR_VERSION present"
elif command -v npm >/dev/null 2>&1 && command -v node >/dev/null 2>&1; then
    say "installing the glTF validator (npm gltf-validator $GLTF_VALIDATOR_VERSION) into .tools/"
    npm install --prefix .tools --no-audit --no-fund --no-save --loglevel=error \
        "gltf-validator@$GLTF_VALIDATOR_VERSION" \
        || die "npm could not install gltf-validator (is the npm registry reachable?); the rig tests need it"
else
    say "warning: no node/npm here: the glTF validator is not installed and the rig validation test will fail"
fi

say "ready"
