#!/usr/bin/env bash
# Set up (first run only) and start the ImFace Studio editor.
#
#   bash scripts/studio.sh [main.py options]     e.g. --model my.pt, --screenshot face.png
set -euo pipefail

# Stay in the caller's directory so relative paths (--screenshot face.png) land there.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="$ROOT/.venv/bin/python"
MAIN="$ROOT/main.py"

bash "$ROOT/scripts/setup.sh"

# jemalloc keeps torch on the CPU fast (glibc's malloc costs ~2.5x here); optional.
jemalloc=""
for lib in /usr/lib/x86_64-linux-gnu/libjemalloc.so.2 /usr/lib/aarch64-linux-gnu/libjemalloc.so.2 \
    /usr/lib64/libjemalloc.so.2 /usr/lib/libjemalloc.so.2 /usr/local/lib/libjemalloc.so.2; do
    if [ -f "$lib" ]; then jemalloc="$lib"; break; fi
done
if [ -n "$jemalloc" ]; then
    export LD_PRELOAD="${jemalloc}${LD_PRELOAD:+:$LD_PRELOAD}"
fi
# The 3D viewport draws through X11 (XWayland in a Wayland session).
export QT_QPA_PLATFORM="${QT_QPA_PLATFORM:-xcb}"

wants_help=0
wants_screenshot=0
for arg in "$@"; do
    case "$arg" in
        -h|--help) wants_help=1 ;;
        --screenshot|--screenshot=*) wants_screenshot=1 ;;
    esac
done

if [ -z "${DISPLAY:-}" ] && [ "$wants_help" -eq 0 ]; then
    if [ "$wants_screenshot" -eq 1 ] && command -v xvfb-run >/dev/null 2>&1; then
        echo "[studio] no desktop session: rendering the screenshot on a virtual display (xvfb-run)"
        exec xvfb-run -a -s "-screen 0 1920x1200x24" "$PYTHON" "$MAIN" "$@"
    fi
    cat >&2 <<'MSG'
[studio] No desktop session found ($DISPLAY is empty).
[studio] ImFace Studio is a desktop application: start it from a graphical desktop
[studio] session (or over `ssh -X`). Setup is done, so the next start is quick.
[studio]
[studio] Without a desktop you can still render the start view to an image:
[studio]     bash scripts/studio.sh --screenshot face.png [--width 1280 --height 800]
[studio] (this runs the editor on a virtual display with xvfb-run and exits).
MSG
    exit 1
fi

exec "$PYTHON" "$MAIN" "$@"
