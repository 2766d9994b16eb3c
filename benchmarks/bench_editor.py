"""Benchmark of the editor's responsiveness: start-up, slider drags, full detail after release, GUI-thread blocks.

    python benchmarks/bench_editor.py                         # shipped model, 128^3, 3 drags
    python benchmarks/bench_editor.py --model RUN/model.pt --quality 192 --json bench.json

It opens the real window (on a virtual display through ``xvfb-run`` when there is no $DISPLAY), then:

* start-up: time to the window on screen, to the stored start face on screen (drawn before the model has
  loaded, when one is stored: ``imface_core.start_face``), to the first mesh from the model and to its first
  full-detail face;
* drags: presses a slider, moves it every ``--interval-ms`` for ``--moves`` steps (as a hand would), releases
  it; for every move, the time until a mesh of that move (or a newer one) is on screen ("visible update"),
  and after the release, the time until the full-detail mesh is on screen;
* clicks: single slider changes without a drag (keyboard / wheel): time to the first mesh and to full detail;
* playback: a timeline of ``--anim-keys`` keyframes of distinct expressions (one every ``--anim-spacing``
  frames at 24 fps) is baked (the time is reported), then played in the window for ``--anim-seconds``; the
  frame rate is 1 / the time between the ends of successive viewport renders (median and 10th percentile:
  the slow frames), beside the render time itself. How far a blended in-between frame lies from the mesh of
  the blended codes is measured once (the midpoint of the first two keyframes);
* the whole time a ``QTimer`` heartbeat (every ``--heartbeat-ms``) records the gaps between its ticks: the
  longest gap minus the interval is the longest time the GUI thread was blocked.

Goals (issue 6, on a 2-core CPU with the shipped model): visible update < 150 ms, full detail < 3 s after
release, GUI thread never blocked > 50 ms; issue 19: playback >= 24 frames per second (median). The machine's load average is printed: numbers measured while
other jobs run are not the editor's own.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import sys
import time
from pathlib import Path

T_START = time.perf_counter()
TRACE_MIN_S = float(os.environ.get("BENCH_TRACE_MIN_MS", "2")) / 1000.0
REPO_ROOT = Path(__file__).resolve().parents[1]
from _display import UNDER_XVFB, rerun_under_xvfb  # beside this script (python puts its folder on the path)
DEFAULT_MODEL = REPO_ROOT / "resources" / "imface_compact.pt"
GOALS = {"visible_update_s": 0.150, "full_detail_s": 3.0, "gui_block_s": 0.050, "playback_fps": 24.0}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="model checkpoint (default: the shipped model)")
    p.add_argument("--quality", type=int, default=128, help="full-detail resolution (default 128)")
    p.add_argument("--threads", type=int, default=1, help="torch threads of the editor (default 1)")
    p.add_argument("--drags", type=int, default=3, help="slider drags (default 3)")
    p.add_argument("--moves", type=int, default=30, help="slider moves per drag (default 30)")
    p.add_argument("--interval-ms", type=float, default=40.0, help="time between moves (default 40 ms)")
    p.add_argument("--clicks", type=int, default=3, help="single slider changes without a drag (default 3)")
    p.add_argument("--anim-keys", type=int, default=20, help="keyframes of the playback phase (default 20; 0 skips it)")
    p.add_argument("--anim-spacing", type=int, default=12, help="frames between keyframes (default 12, at 24 fps)")
    p.add_argument("--anim-seconds", type=float, default=10.0, help="seconds of playback measured (default 10)")
    p.add_argument("--anim-bake-timeout", type=float, default=3600.0, help="seconds to wait for the bake")
    p.add_argument("--heartbeat-ms", type=float, default=5.0, help="GUI heartbeat interval (default 5 ms)")
    p.add_argument("--width", type=int, default=1280)
    p.add_argument("--height", type=int, default=800)
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for any one mesh (default 300)")
    p.add_argument("--json", type=Path, default=None, help="also write the results here")
    p.add_argument("--trace-events", action="store_true",
                   help="list the Qt events that took over 2 ms inside each long GUI block (diagnostic)")
    p.add_argument("--every-triangle", action="store_true",
                   help="draw the full-detail face with every triangle (the editor decimates it for the viewport)")
    return p.parse_args(argv)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100.0 * (len(s) - 1))))]


def summary(values: list[float]) -> dict:
    if not values:
        return {"n": 0}
    return {"n": len(values), "median": statistics.median(values), "p90": pct(values, 90), "max": max(values)}


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.model.is_file():
        print(f"model not found: {args.model} (pass --model PATH)", file=sys.stderr)
        return 2
    rerun_under_xvfb("bench_editor.py")
    os.environ.setdefault("QT_QPA_PLATFORM", "xcb")
    from imface_core.allocator import configure_allocator

    configure_allocator()
    load_before = os.getloadavg()
    from app.process import responsive_gil

    responsive_gil()  # as main.py does

    from PySide6.QtCore import QElapsedTimer, QEventLoop, Qt, QTimer
    from PySide6.QtWidgets import QApplication

    from app.main_window import MainWindow

    slow_events: list[tuple[float, float, str]] = []
    if args.trace_events:
        class TracingApplication(QApplication):
            """Records every event delivery on the GUI thread that takes over 2 ms (diagnostic; slows Qt a bit)."""

            def notify(self, receiver, event):  # noqa: N802 (Qt's name)
                t0 = time.perf_counter()
                try:
                    return super().notify(receiver, event)
                finally:
                    t1 = time.perf_counter()
                    if t1 - t0 > TRACE_MIN_S:
                        slow_events.append((t0, t1, f"{event.type().name}->{type(receiver).__name__}"))

        app = TracingApplication(sys.argv[:1])
    else:
        app = QApplication.instance() or QApplication(sys.argv[:1])

    # -- heartbeat ------------------------------------------------------------------------------------
    gaps: list[float] = []
    clock = QElapsedTimer()
    state = {"last": None, "record": False}

    gap_ends: list[float] = []

    def beat() -> None:
        now = clock.nsecsElapsed() / 1e9
        if state["last"] is not None and state["record"]:
            gaps.append(now - state["last"])
            gap_ends.append(time.perf_counter())
        state["last"] = now

    heartbeat = QTimer()
    heartbeat.setTimerType(Qt.TimerType.PreciseTimer)
    heartbeat.setInterval(int(args.heartbeat_ms))
    heartbeat.timeout.connect(beat)
    clock.start()
    heartbeat.start()

    def spin(seconds: float) -> None:
        """Run the event loop for ``seconds`` (it sleeps when idle, like the real application)."""
        loop = QEventLoop()
        QTimer.singleShot(max(0, int(round(seconds * 1000))), loop.quit)
        loop.exec()

    def wait(cond, timeout: float) -> float:
        """Run the event loop until ``cond()``; polls every 2 ms without busy-waiting."""
        t0 = time.perf_counter()
        loop = QEventLoop()
        poll = QTimer(interval=2)
        poll.setTimerType(Qt.TimerType.PreciseTimer)
        poll.timeout.connect(lambda: (cond() or time.perf_counter() - t0 > timeout) and loop.quit())
        poll.start()
        if not cond():
            loop.exec()
        poll.stop()
        if not cond():
            raise TimeoutError(f"nothing after {timeout:.0f} s")
        return time.perf_counter() - t0

    # -- start-up -------------------------------------------------------------------------------------
    t_construct = time.perf_counter()
    window = MainWindow(args.model, quality=args.quality, threads=args.threads, interactive=False)
    stored_face = window.editor is None and window.viewport.face is not None  # drawn before the model loaded
    window.resize(args.width, args.height)
    window.show()
    constructed = time.perf_counter() - t_construct
    wait(lambda: window.windowHandle() is not None and window.windowHandle().isExposed(), 30)
    t_shown = time.perf_counter() - T_START
    if stored_face:  # one more render of the window as it is: the stored face is then certainly on screen
        window.viewport.plotter.render()
    t_stored_face = time.perf_counter() - T_START if stored_face else float("nan")
    shown_events: list[tuple[float, object]] = []
    window.meshShown.connect(lambda dm: shown_events.append((time.perf_counter(), dm)))
    # A mesh is visible when the render after it has finished (the viewport renders in the widget's paint).
    render_times: list[float] = []
    render_ends: list[float] = []
    starts: list[float] = []
    rw = window.plotter.render_window
    rw.AddObserver("StartEvent", lambda *_: starts.append(time.perf_counter()))

    def on_render_end(*_):
        now = time.perf_counter()
        render_ends.append(now)
        if starts:
            render_times.append(now - starts[-1])

    rw.AddObserver("EndEvent", on_render_end)

    # Python's garbage collections (any thread) while measuring, to tell them apart from renders in long blocks.
    gc_spans: list[tuple[float, float, int]] = []

    def on_gc(phase: str, info: dict) -> None:
        if phase == "start" and state["record"]:
            gc_spans.append((time.perf_counter(), float("nan"), info["generation"]))
        elif gc_spans and gc_spans[-1][1] != gc_spans[-1][1]:
            t0, _, gen = gc_spans[-1]
            gc_spans[-1] = (t0, time.perf_counter(), gen)

    gc.callbacks.append(on_gc)

    def visible_at(t: float) -> float:
        """End of the first render that started after ``t`` (the mesh shown at ``t`` is then on screen)."""
        for start, end in zip(starts, render_ends):
            if start >= t:
                return end
        return float("nan")

    def wait_full_visible() -> float:
        """Until the newest edit's full-detail mesh is on screen; returns that time."""
        wait(window.is_ready, args.timeout)
        t_shown = shown_events[-1][0]
        wait(lambda: visible_at(t_shown) == visible_at(t_shown), 10)  # not NaN: rendered
        return visible_at(t_shown)

    wait(lambda: shown_events or window.model_error, args.timeout)
    if window.model_error:
        print(f"the model could not be opened: {window.model_error}", file=sys.stderr)
        return 1
    wait(lambda: render_ends and render_ends[-1] > shown_events[0][0], 10)
    t_first_mesh = visible_at(shown_events[0][0]) - T_START
    t_first_full = wait_full_visible() - T_START
    spin(0.5)

    # Time each mesh hand-over on the GUI thread (swapping the mesh into the viewport, status line, signals).
    show_spans: list[tuple[float, float]] = []
    show_mesh = window.scheduler.on_result

    def timed_show_mesh(dm) -> None:
        t0 = time.perf_counter()
        show_mesh(dm)
        show_spans.append((t0, time.perf_counter()))

    window.scheduler.on_result = timed_show_mesh

    if args.every_triangle:
        window.scheduler.worker._run.__self__.display_triangles = None  # the MeshComputer behind the worker

    # -- drags ----------------------------------------------------------------------------------------
    state["record"] = True
    visible: list[float] = []
    parts: dict[str, list[float]] = {k: [] for k in ("wait for worker", "compute", "to GUI thread", "until painted")}
    release_to_full: list[float] = []
    click_first: list[float] = []
    click_full: list[float] = []
    panels = [window.expression_panel.sliders, window.expression_panel.mix, window.identity_panel.sliders]
    sliders = [g.sliders[0] for g in panels if g.sliders]
    import numpy as np

    phases: list[tuple[float, str]] = []  # (start time, what the benchmark was doing), for the long blocks
    for d in range(args.drags):
        slider = sliders[d % len(sliders)]
        phases.append((time.perf_counter(), f"drag {d + 1}"))
        lo, hi = slider.minimum(), slider.maximum()
        values = lo + (hi - lo) * (0.5 + 0.4 * np.sin(np.linspace(0, np.pi, args.moves) + d))
        moves: list[tuple[float, int]] = []
        slider.setSliderDown(True)
        start = len(shown_events)
        for v in values:
            slider.setValue(float(round(v, 2)))
            if window.scheduler.latest_job is not None and (not moves or window.scheduler.latest_job.job_id != moves[-1][1]):
                moves.append((time.perf_counter(), window.scheduler.latest_job.job_id))
            spin(args.interval_ms / 1000.0)
        t_release = time.perf_counter()
        phases.append((t_release, f"release {d + 1}"))
        slider.setSliderDown(False)
        release_to_full.append(wait_full_visible() - t_release)
        events = shown_events[start:]
        for t_move, job_id in moves:
            later = [(t, dm) for t, dm in events if dm.job_id >= job_id and t >= t_move]
            if later:
                t, dm = later[0]
                visible.append(visible_at(t) - t_move)
                # where the time went: waiting for the worker, computing, reaching the GUI thread, painting
                compute = dm.seconds
                parts["wait for worker"].append(max(0.0, dm.done_at - dm.job.created - compute))
                parts["compute"].append(compute)
                parts["to GUI thread"].append(t - dm.done_at)
                parts["until painted"].append(visible_at(t) - t)
        spin(0.3)

    # -- clicks (no drag) -----------------------------------------------------------------------------
    for c in range(args.clicks):
        slider = sliders[c % len(sliders)]
        start = len(shown_events)
        t0 = time.perf_counter()
        phases.append((t0, f"click {c + 1}"))
        slider.setValue(float(round(slider.value() + (0.5 if slider.value() < 0 else -0.5) *
                                    (slider.maximum() - slider.minimum()) / 6, 2)))
        job_id = window.scheduler.latest_job.job_id
        wait(lambda: any(dm.job_id >= job_id for _, dm in shown_events[start:]), args.timeout)
        t_shown_first = next(t for t, dm in shown_events[start:] if dm.job_id >= job_id)
        wait(lambda: render_ends[-1] > t_shown_first, 10)
        click_first.append(visible_at(t_shown_first) - t0)
        click_full.append(wait_full_visible() - t0)
        spin(0.3)
    state["record"] = False

    playback = bench_playback(window, args, wait, spin, starts, render_ends) if args.anim_keys >= 2 else {}

    blocks = [g - args.heartbeat_ms / 1000.0 for g in gaps]
    # What the long blocks were: a block that contains a whole viewport render is (mostly) that render.
    long_blocks = [(end - g, end) for g, end in zip(gaps, gap_ends) if g - args.heartbeat_ms / 1000.0 > 0.040]
    in_render = sum(any(t0 <= s0 and e0 <= t1 for s0, e0 in zip(starts, render_ends)) for t0, t1 in long_blocks)
    # ...and how much of each long block the renders inside it took (the rest is other GUI-thread work).
    def phase_at(t: float) -> str:
        """What the benchmark was doing at t, and how long after that phase began."""
        label, since = "start", phases[0][0] if phases else t
        for t_phase, name in phases:
            if t_phase <= t:
                label, since = name, t_phase
        return f"{label} +{t - since:.2f} s"

    long_block_parts = [(t1 - t0 - args.heartbeat_ms / 1000.0, sum(e0 - s0 for s0, e0 in zip(starts, render_ends) if t0 <= s0 and e0 <= t1),
                         sum(e0 - s0 for s0, e0, _ in gc_spans if t0 <= s0 and e0 <= t1),
                         sum(e0 - s0 for s0, e0 in show_spans if t0 <= s0 and e0 <= t1), phase_at(t0))
                        for t0, t1 in long_blocks]
    gc.callbacks.remove(on_gc)
    gc_times = [e0 - s0 for s0, e0, _ in gc_spans if e0 == e0]
    stats = window.scheduler.worker.stats
    results = {
        "machine": {"cpus": os.cpu_count(), "load_before": load_before, "load_after": os.getloadavg(),
                    "display": "Xvfb (software OpenGL)" if os.environ.get(UNDER_XVFB) else
                    os.environ.get("DISPLAY")},
        "model": str(args.model),
        "quality": args.quality,
        "threads": args.threads,
        "startup_s": {"window_constructed": constructed, "window_on_screen": t_shown,
                      "stored_start_face_on_screen": t_stored_face, "first_mesh": t_first_mesh,
                      "first_full_detail": t_first_full, "model_load": window.editor.load_seconds},
        "drag_visible_update_s": summary(visible),
        "drag_update_parts_s": {k: summary(v) for k, v in parts.items()},
        "release_to_full_detail_s": summary(release_to_full),
        "click_first_mesh_s": summary(click_first),
        "click_full_detail_s": summary(click_full),
        "gui_block_s": {"max": max(blocks) if blocks else float("nan"), "p99": pct(blocks, 99),
                        "over_50ms": sum(b > 0.050 for b in blocks), "ticks": len(blocks),
                        "over_40ms": len(long_blocks), "over_40ms_holding_a_render": in_render,
                        "over_40ms_block_render_gc_handover_s": long_block_parts},
        "python_gc_s": {"collections": len(gc_times), "max": max(gc_times, default=0.0),
                        "total": sum(gc_times)},
        "viewport_render_s": summary(render_times),
        "mesh_handover_s": summary([e - s0 for s0, e in show_spans]),
        "worker": {"submitted": stats.submitted, "dropped": stats.dropped, "superseded": stats.superseded,
                   "finished": stats.finished, "meshes": stats.results},
        "full_mesh_vertices": window.full_mesh.n_vertices if window.full_mesh else 0,
        "playback": playback,
    }
    window.close()

    def ms(x: float) -> str:
        return f"{1000 * x:7.0f} ms"

    print(f"ImFace Studio editor benchmark: {args.model.name}, {args.quality}^3, {args.threads} torch thread(s)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / "
          f"{results['machine']['load_after'][0]:.1f} after; display: {results['machine']['display']}")
    s = results["startup_s"]
    stored = s["stored_start_face_on_screen"]
    print(f"start-up: window constructed {ms(s['window_constructed'])}, on screen {ms(s['window_on_screen'])}, "
          + (f"stored start face on screen {stored:.2f} s, " if stored == stored else "no stored start face, ")
          + f"first mesh from the model {s['first_mesh']:.2f} s, first full-detail face {s['first_full_detail']:.2f} s "
          f"(model loaded in {s['model_load']:.2f} s after its imports)")
    for key, label, goal in (
        ("drag_visible_update_s", "drag: slider move -> visible update", GOALS["visible_update_s"]),
        ("release_to_full_detail_s", "release -> full-detail mesh", GOALS["full_detail_s"]),
        ("click_first_mesh_s", "click (no drag) -> first mesh", None),
        ("click_full_detail_s", "click (no drag) -> full detail", None),
        ("viewport_render_s", "GUI thread: one render (paint)", None),
        ("mesh_handover_s", "GUI thread: one mesh hand-over", None),
    ):
        r = results[key]
        if r["n"]:
            line = f"{label:40s} median {ms(r['median'])}  p90 {ms(r['p90'])}  max {ms(r['max'])}  (n={r['n']})"
            if goal is not None:
                line += f"  goal < {ms(goal).strip()}: {'met' if r['p90'] < goal else 'NOT met'} (p90)"
            print(line)
    print("  drag update, median parts: " + ", ".join(
        f"{k} {1000 * v['median']:.0f} ms" for k, v in results["drag_update_parts_s"].items() if v["n"]))
    b = results["gui_block_s"]
    print(f"{'GUI thread: longest block (heartbeat)':40s} max {ms(b['max'])}  p99 {ms(b['p99'])}  "
          f"blocks > 50 ms: {b['over_50ms']} of {b['ticks']} ticks  goal < 50 ms: "
          f"{'met' if b['max'] < GOALS['gui_block_s'] else 'NOT met'}; of the {b['over_40ms']} over 40 ms, "
          f"{b['over_40ms_holding_a_render']} hold a whole viewport render")
    if b["over_40ms_block_render_gc_handover_s"]:
        print("  blocks over 40 ms (block / renders / garbage collections / mesh hand-overs in it, when): " + ", ".join(
            f"{1000 * blk:.0f} / {1000 * rnd:.0f} / {1000 * g:.0f} / {1000 * h:.0f} ms ({when})"
            for blk, rnd, g, h, when in b["over_40ms_block_render_gc_handover_s"]))
    if args.trace_events:
        for t0, t1 in long_blocks:
            inside = [(e0 - t0, e1 - e0, name) for e0, e1, name in slow_events if e1 >= t0 and e0 <= t1]
            print(f"  block of {1000 * (t1 - t0):.0f} ms: " + ", ".join(
                f"+{1000 * off:.0f} {name} {1000 * dur:.0f} ms" for off, dur, name in inside))
    if playback:
        f = playback["fps"]
        print(f"playback of {playback['keys']} keyframes ({playback['vertices']:,} vertices, "
              f"{playback['triangles']:,} triangles): baked in {playback['bake_s']:.1f} s; "
              f"frames per second median {f['median']:.1f}, p10 {f['p10']:.1f} (n={f['n']} frames, "
              f"{playback['seconds']:.1f} s; one render median {1000 * playback['render_s']['median']:.0f} ms)  "
              f"goal >= {GOALS['playback_fps']:.0f}: {'met' if f['median'] >= GOALS['playback_fps'] else 'NOT met'}"
              " (median)")
        m = playback.get("midpoint_mm")
        if m:
            print(f"  a blended in-between frame vs the mesh of the blended codes (midpoint of keys 1-2): mean "
                  f"{m['mean']:.3f} mm, p95 {m['p95']:.3f} mm, max {m['max']:.3f} mm")
    g = results["python_gc_s"]
    print(f"Python garbage collections while measuring: {g['collections']}, longest {1000 * g['max']:.0f} ms, "
          f"{1000 * g['total']:.0f} ms in all")
    w = results["worker"]
    print(f"worker: {w['submitted']} requests, {w['dropped']} dropped while waiting, {w['superseded']} stopped "
          f"for a newer one, {w['finished']} finished, {w['meshes']} meshes delivered; "
          f"full mesh {results['full_mesh_vertices']:,} vertices")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
        print(f"wrote {args.json}")
    return 0


def bench_playback(window, args, wait, spin, starts: list[float], render_ends: list[float]) -> dict:
    """The playback phase (see the module doc): keyframes set, baked, played; frames per second from renders."""
    from dataclasses import replace

    import numpy as np

    doc, player = window.document, window.timeline
    start = doc.state
    rng = np.random.default_rng(0)
    timeline = doc.timeline
    for k in range(args.anim_keys):  # distinct expressions: some named expressions and the variations
        mix = np.where(rng.random(len(start.exp_mix)) < 0.4, rng.uniform(0.0, 1.0, len(start.exp_mix)), 0.0)
        coeffs = rng.uniform(-1.5, 1.5, len(start.exp_coeffs))
        state = replace(start, exp_mix=tuple(float(round(x, 2)) for x in mix),
                        exp_coeffs=tuple(float(round(x, 2)) for x in coeffs))
        timeline = timeline.with_key(k * args.anim_spacing, state)
    t0 = time.perf_counter()
    doc.set_timeline(timeline)
    wait(lambda: player.baked or player.baker.error is not None, args.anim_bake_timeout)
    if player.baker.error is not None:
        print(f"the keyframes could not be baked: {player.baker.error}", file=sys.stderr)
        return {}
    bake_s = time.perf_counter() - t0
    player.seek(0)
    spin(0.5)
    first = len(render_ends)
    t_play = time.perf_counter()
    player.play()
    spin(args.anim_seconds)
    player.pause()
    ends = [e for e in render_ends[first:] if e >= t_play]
    fps = [1.0 / (b - a) for a, b in zip(ends, ends[1:]) if b > a]
    renders = [e - s for s, e in zip(starts[first:], render_ends[first:]) if s >= t_play]
    keys = player.keyframe_faces()
    out = {"keys": args.anim_keys, "bake_s": bake_s, "seconds": args.anim_seconds,
           "vertices": int(keys.positions.shape[1]), "triangles": int(len(keys.faces)),
           "fps": {"n": len(fps), "median": statistics.median(fps) if fps else float("nan"), "p10": pct(fps, 10),
                   "max": max(fps, default=float("nan"))},
           "render_s": summary(renders), "panel_fps": player.shown_fps}
    player.stop()
    # how far a blended frame lies from the mesh of the blended codes (the midpoint of the first two keys)
    from imface_core.engine.template_topology import template_face_mesh

    a, b = (doc.space.codes(k.apply(start)) for k in timeline.keys[:2])
    mid = template_face_mesh(window.editor.model, a.replace(z_exp=0.5 * (a.z_exp + b.z_exp)), player.resolution)
    off = 100.0 * np.linalg.norm(np.asarray(mid.vertices) - 0.5 * (keys.positions[0] + keys.positions[1]), axis=1)
    out["midpoint_mm"] = {"mean": float(off.mean()), "p95": float(np.percentile(off, 95)), "max": float(off.max())}
    return out


if __name__ == "__main__":
    sys.exit(main())
