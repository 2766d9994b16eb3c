"""The engine benchmark behind ``imface bench`` and ``benchmarks/bench_engine.py``.

Measured on one face (training scan 0, first expression) of a model, in one run:

* ``dense``: the baseline, dense-grid marching cubes of the fine SDF at ``baseline_resolution`` (by default the
  same resolution; a lower one is timed and its time scaled by (N / N_baseline)^3, labelled as such);
* ``mesh``: ``model.mesh`` (exact sparse extraction) and ``mesh_displace`` (coarse surface + displacement);
* ``preview``: a ``ProgressiveMesher`` that has shown the face, then a slider-sized change of z_exp (0.25 sigma
  along the first expression principal direction): time to the first preview, then to the preview of a follow-up
  change of the same size; for the sparse-grid (tracked) preview and the template-deformation preview;
* Chamfer distances (mm) between the fast meshes and the dense one, and between each preview and the exact
  coarse mesh of the same codes.
"""

from __future__ import annotations

import logging
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass, field

import numpy as np

from imface_core.settings import BenchSettings  # torch-free, with the other commands' settings

log = logging.getLogger(__name__)

__all__ = ["BenchSettings", "run_benchmark", "format_report", "machine_description"]

GOAL_PREVIEW_S = 0.150
GOAL_SPEEDUP = 30.0
GOAL_CHAMFER_MM = 0.05


@dataclass
class BenchResult:
    machine: str
    model: str
    settings: dict
    times: dict = field(default_factory=dict)
    """Seconds: dense, dense_measured, mesh, mesh_displace, preview_first, preview_followup (medians)."""
    counts: dict = field(default_factory=dict)
    chamfer_mm: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def machine_description() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    dev = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "CPU only"
    return (f"{cpu}; {os.cpu_count()} logical cores; torch {torch.__version__} with {torch.get_num_threads()} "
            f"threads; {dev}; {platform.system()} {platform.release()}")


def _median_time(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def run_benchmark(model, settings: BenchSettings, progress=print) -> BenchResult:
    """Run every measurement; ``progress(str)`` reports each step as it finishes."""
    from imface_core.engine.cleanup import MIN_PIECE_SHARE
    from imface_core.engine.face_mesh import finish_face_mesh
    from imface_core.engine.extraction import SparseGrid
    from imface_core.engine.field import FaceField
    from imface_core.engine.grid import dense_mesh
    from imface_core.metrics import chamfer_mm
    from imface_core.engine.navigation import LatentNavigator
    from imface_core.engine.progressive import MeshRequest, ProgressiveMesher

    s = settings
    res = BenchResult(machine_description(), str(getattr(model, "path", "")), asdict(s))
    codes = model.codes(s.identity, s.expression)
    n = s.resolution

    # -- full-detail meshes ------------------------------------------------------------------------
    def exact():
        grid = SparseGrid(n)
        mesh = model.mesh(codes, n, grid=grid)
        return mesh, grid.evaluations

    model.mesh(codes, min(n, 64))  # warm-up (allocator, first-call overheads)
    res.times["mesh"], (mesh, evals) = _median_time(exact, s.repeats)
    res.counts["mesh_vertices"], res.counts["mesh_evaluations"] = len(mesh.vertices), evals
    res.counts["dense_points"] = n**3
    progress(f"model.mesh at {n}: {res.times['mesh']:.2f} s, {evals} field evaluations, {len(mesh.vertices)} vertices")
    res.times["mesh_displace"], fast = _median_time(lambda: model.mesh(codes, n, method="displace"), s.repeats)
    progress(f"model.mesh(method='displace') at {n}: {res.times['mesh_displace']:.2f} s")

    # -- dense baseline ----------------------------------------------------------------------------
    nb = n if s.baseline_resolution is None else s.baseline_resolution
    dense = None
    if nb:
        face = FaceField(model, codes, detail=True)
        t0 = time.perf_counter()
        dense = dense_mesh(face.sdf, nb)
        measured = time.perf_counter() - t0
        dense = finish_face_mesh(face, dense, min_piece_share=MIN_PIECE_SHARE)  # like the faces the engine makes: cut to the face region,
        # stray pieces dropped (not timed)
        res.times["dense_measured"] = measured
        res.counts["dense_resolution"] = nb
        res.times["dense"] = measured * (n / nb) ** 3
        if nb != n:
            res.notes.append(f"dense baseline measured at {nb}^3 ({measured:.1f} s) and scaled by ({n}/{nb})^3")
        progress(f"dense baseline at {nb}: {measured:.1f} s" + ("" if nb == n else f" (scaled to {n}: {res.times['dense']:.1f} s)"))
        if nb == n:
            res.chamfer_mm["mesh_vs_dense"] = chamfer_mm(mesh, dense, s.chamfer_samples)
            res.chamfer_mm["displace_vs_dense"] = chamfer_mm(fast, dense, s.chamfer_samples)
            res.counts["dense_vertices"] = len(dense.vertices)
        else:
            exact_low = model.mesh(codes, nb)
            res.chamfer_mm[f"mesh_vs_dense_at_{nb}"] = chamfer_mm(exact_low, dense, s.chamfer_samples)
    res.chamfer_mm["displace_vs_mesh"] = chamfer_mm(fast, mesh, s.chamfer_samples)

    # -- previews after slider-sized changes -------------------------------------------------------
    nav = LatentNavigator(model)
    step = (nav.expression.move(np.zeros(nav.expression.dim), 0, s.slider_step)
            if nav.expression.num_components else np.zeros_like(codes.z_exp))
    for path in ("grid", "template"):
        mesher = ProgressiveMesher(model, preview=path)
        mesher.mesh(MeshRequest(codes, n, preview_stride=s.preview_stride))  # the face is on screen
        first, follow = [], []
        current = codes
        quality = None
        for r in range(max(1, s.repeats)):
            for k in range(2):
                current = current.replace(z_exp=current.z_exp + (step if r % 2 == 0 else -step))
                req = MeshRequest(current, n, preview_stride=s.preview_stride, stop_stride=s.preview_stride)
                t0 = time.perf_counter()
                update = next(iter(mesher.run(req)))
                (first if k == 0 else follow).append(time.perf_counter() - t0)
                if quality is None and k == 1:
                    reference = model.mesh(current, n, detail=False)
                    quality = chamfer_mm(update.mesh, reference, s.chamfer_samples)
                    res.counts[f"preview_{path}_vertices"] = len(update.mesh.vertices)
            # a released slider: the full request resets the band to the current face
            mesher.mesh(MeshRequest(current, n, preview_stride=s.preview_stride))
        res.times[f"preview_{path}_first"] = statistics.median(first)
        res.times[f"preview_{path}_followup"] = statistics.median(follow)
        res.chamfer_mm[f"preview_{path}_vs_coarse_{n}"] = quality
        progress(f"preview ({path}): first {1e3 * statistics.median(first):.0f} ms, follow-up "
                 f"{1e3 * statistics.median(follow):.0f} ms, Chamfer to the exact coarse mesh {quality:.3f} mm")
    return res


def format_report(res: BenchResult) -> str:
    t, c = res.times, res.chamfer_mm
    lines = [f"machine: {res.machine}", f"model: {res.model}", f"settings: {res.settings}", ""]
    if "dense" in t:
        lines.append(f"dense baseline ({res.counts.get('dense_resolution')}^3, fine SDF): {t['dense_measured']:.2f} s"
                     + ("" if t["dense"] == t["dense_measured"] else f" -> {t['dense']:.1f} s scaled"))
    lines.append(f"model.mesh exact: {t['mesh']:.2f} s ({res.counts['mesh_evaluations']} evaluations = "
                 f"{100 * res.counts['mesh_evaluations'] / res.counts['dense_points']:.1f}% of the dense grid)")
    lines.append(f"model.mesh displace: {t['mesh_displace']:.2f} s")
    if "dense" in t:
        for key in ("mesh", "mesh_displace"):
            ratio = t["dense"] / t[key]
            lines.append(f"speed-up {key} vs dense: {ratio:.1f}x (goal >= {GOAL_SPEEDUP:.0f}x)"
                         f"{'' if ratio >= GOAL_SPEEDUP else '  [below goal]'}")
    for path in ("grid", "template"):
        if f"preview_{path}_first" in t:
            f1, f2 = t[f"preview_{path}_first"], t[f"preview_{path}_followup"]
            lines.append(f"preview {path}: first {1e3 * f1:.0f} ms, follow-up {1e3 * f2:.0f} ms (goal <= "
                         f"{1e3 * GOAL_PREVIEW_S:.0f} ms){'' if f1 <= GOAL_PREVIEW_S else '  [above goal]'}")
    for key, value in c.items():
        goal = f" (goal <= {GOAL_CHAMFER_MM} mm)" if key.endswith("vs_dense") else ""
        lines.append(f"Chamfer {key}: {value:.4f} mm{goal}")
    lines += [f"note: {n}" for n in res.notes]
    return "\n".join(lines)
