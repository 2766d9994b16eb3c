#!/usr/bin/env bash
# Set up (first run only), then run the whole test suite and the import-layering check.
#
#   bash scripts/run_tests.sh [pytest options]   e.g. tests/test_app_shell.py -k screenshot
#
# GUI tests run on a virtual X server that pytest-xvfb starts, so no desktop is needed.
# Exits non-zero when pytest or lint-imports fails.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/setup.sh

jemalloc=""
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
    /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2; do
    if [ -f "$lib" ]; then jemalloc="$lib"; break; fi
done
if [ -n "$jemalloc" ]; then
    export LD_PRELOAD="${jemalloc}${LD_PRELOAD:+:$LD_PRELOAD}"
fi
# pyvistaqt renders only through X11; the `offscreen` platform leaves the 3D view blank.
export QT_QPA_PLATFORM=xcb

status=0
echo "[tests] pytest $*"
.venv/bin/python -m pytest "$@" || status=$?
echo "[tests] lint-imports (import layering contracts in pyproject.toml)"
.venv/bin/lint-imports || status=$?

if [ "$status" -ne 0 ]; then
    echo "[tests] FAILED (exit status $status)" >&2
else
    echo "[tests] all passed"
fi
exit "$status"
