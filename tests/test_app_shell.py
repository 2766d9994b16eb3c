"""The editor shell: the window opens, the 3D view draws, main.py's screenshot and help work.

Needs an X server: `bash scripts/run_tests.sh` runs these on Xvfb (pytest-xvfb).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.gui

REPO_ROOT = Path(__file__).resolve().parents[1]
MAIN = REPO_ROOT / "main.py"


def skin_fraction(rgb: np.ndarray) -> float:
    """Fraction of pixels with the warm skin tone of the face surface: R > G > B and R bright."""
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    return float(np.mean((r > 120) & (r > g + 15) & (g > b + 5)))


def assert_shows_surface(rgb: np.ndarray) -> None:
    assert rgb.ndim == 3 and rgb.shape[2] >= 3, rgb.shape
    rgb = rgb[..., :3]
    assert rgb.std() > 10.0, "the image is (nearly) one flat colour"
    fraction = skin_fraction(rgb)
    assert fraction > 0.05, f"only {fraction:.1%} of the pixels show the surface"


@pytest.fixture
def window(qtbot):
    from app.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(640, 480)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_window_shows_the_placeholder_surface(window, qtbot):
    from app.main_window import PLACEHOLDER_STATUS, WINDOW_TITLE

    assert window.windowTitle() == WINDOW_TITLE
    assert window.statusBar().currentMessage() == PLACEHOLDER_STATUS
    assert [a.text() for a in window.menuBar().actions()] == ["&File", "&Edit", "&View", "&Help"]

    window.plotter.render()
    qtbot.wait(50)
    view = window.plotter.screenshot(None, return_img=True)
    widget = window.plotter.interactor
    ratio = widget.devicePixelRatioF()
    assert view.shape[:2] == (round(widget.height() * ratio), round(widget.width() * ratio))
    assert_shows_surface(view)


def test_quit_closes_the_window_and_the_viewport(window, qtbot):
    window.quit_action.trigger()
    qtbot.waitUntil(lambda: not window.isVisible())
    # The interactor is closed too: rendering after close must be a harmless no-op.
    window.plotter.render()


def run_main(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    return subprocess.run(
        [sys.executable, str(MAIN), *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_main_screenshot_writes_a_png_of_the_start_view(tmp_path):
    from PIL import Image

    assert os.environ.get("DISPLAY"), "needs an X server (pytest-xvfb provides one)"
    out = tmp_path / "shot.png"
    # the shipped model when it is there (the real face), else the placeholder
    result = run_main("--screenshot", str(out), "--width", "640", "--height", "480", "--quality", "96", timeout=400)
    assert result.returncode == 0, result.stderr
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert image.size == (640, 480)
        rgb = np.asarray(image.convert("RGB"))
    assert_shows_surface(rgb)


def test_main_without_the_shipped_model_says_so_and_shows_the_placeholder(tmp_path):
    from PIL import Image

    out = tmp_path / "shot.png"
    code = (
        "import importlib.util, sys, pathlib\n"
        f"spec = importlib.util.spec_from_file_location('studio_main', {str(MAIN)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        f"module.DEFAULT_MODEL = pathlib.Path({str(tmp_path / 'missing.pt')!r})\n"
        f"sys.exit(module.main(['--screenshot', {str(out)!r}, '--width', '480', '--height', '360']))\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="xcb")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "missing" in result.stderr and "missing.pt" in result.stderr
    with Image.open(out) as image:
        assert_shows_surface(np.asarray(image.convert("RGB")))


def test_main_rejects_a_model_that_is_not_ours(tmp_path):
    bad = tmp_path / "not_ours.pt"
    bad.write_bytes(b"these are not the weights you are looking for")
    result = run_main("--model", str(bad), "--screenshot", str(tmp_path / "s.png"), "--width", "320",
                      "--height", "240", timeout=120)
    assert result.returncode == 1
    assert "not_ours.pt" in result.stderr and "Traceback" not in result.stderr


def test_main_help_exits_zero():
    result = run_main("--help", timeout=60)
    assert result.returncode == 0, result.stderr
    for option in ("--model", "--screenshot", "--width", "--height"):
        assert option in result.stdout


def test_main_rejects_a_missing_model_file(tmp_path):
    result = run_main("--model", str(tmp_path / "nope.pt"), timeout=60)
    assert result.returncode == 2
    assert "nope.pt" in result.stderr


def test_importing_main_stays_light():
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('studio_main', {str(MAIN)!r})\n"
        "module = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "heavy = sorted(m for m in ('torch', 'PySide6', 'pyvista', 'vtk') if m in sys.modules)\n"
        "print(heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
