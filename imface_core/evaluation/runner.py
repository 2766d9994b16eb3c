"""``imface eval``: fit held-out scans three ways and tabulate Chamfer / F-score (method.md §8).

Methods, all fitted to the same samples of the same scans:

* ``full``: the model, codes fitted by the staged optimisation, fine SDF (with the refinement field);
* ``stage1``: the same fit's codes at the end of stage 1, coarse SDF (no refinement field);
* ``pca``: the linear baseline (``pca_baseline``) with as many identity + expression parameters.

Held-out scans come from a prepared folder (``imface prep`` output: samples in
the normalised frame plus the pseudo-watertight ``.ply`` ground truth); with
``raw_dir`` they are instead fitted from the raw scan files through the whole
user path (alignment without landmarks included). The cross-dataset test fits
MakeHuman faces without landmarks, and real scans (``real_scans``: e.g. the FaceFuns faces) are fitted the
same way, scored against their own frontal surface, overall and per face region. Results are appended per
scan to ``results.jsonl`` (a rerun skips what is there) and summarised in ``table.md``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import numpy as np

from imface_core.data.normalize import SCALE_MM
from imface_core.fitting.mesh import Footprint
from imface_core.fitting.optimize import FitSettings, fit_codes
from imface_core.fitting.pipeline import fit_scan, fitted_mesh, model_frame_surface
from imface_core.fitting.samples import FitSamples, samples_from_prepared
from imface_core.io_utils import atomic_write_text
from imface_core.metrics import chamfer_fscore
from imface_core.settings import EvalSettings  # torch-free, with the other commands' settings

logger = logging.getLogger(__name__)

METHODS = ("full", "stage1", "pca")
METHOD_NAMES = {"full": "ImFace++ (full)", "stage1": "stage 1 only", "pca": "PCA baseline"}
RESULTS = "results.jsonl"
SCAN_NAME = re.compile(r"^(\d+)_(.+)\.npz$")


def select_scans(data_dir: str | Path, limit: int | None = None) -> list[dict]:
    """Held-out scans ordered so any prefix covers the expressions evenly across people.

    Scan j of person p with expression index e gets round (p - e) mod P: round 0 is every expression
    once, each from a different person in turn, round 1 the next person for each expression, ...
    """
    if data_dir is None:
        return []
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"data folder not found: `{data_dir}`")
    people = sorted(p.name for p in data_dir.iterdir() if p.is_dir())
    items = []
    expressions: list[str] = []
    for p in people:
        for f in sorted((data_dir / p).glob("*.npz"), key=lambda f: int(f.name.split("_")[0]) if f.name[0].isdigit() else 0):
            m = SCAN_NAME.match(f.name)
            if not m or not f.with_suffix(".ply").exists():
                continue
            if m.group(2) not in expressions:
                expressions.append(m.group(2))
            items.append({"identity": p, "expression": m.group(2), "file": f, "scan": f"{p}/{f.stem}"})
    if not items:
        raise FileNotFoundError(f"`{data_dir}` holds no prepared scans (<identity>/<k>_<expression>.npz + .ply)")
    n_p = len(people)
    for it in items:
        it["round"] = (people.index(it["identity"]) - expressions.index(it["expression"])) % n_p
        it["order"] = expressions.index(it["expression"])
    items.sort(key=lambda it: (it["round"], it["order"]))
    return items[:limit] if limit else items


def read_results(path: Path) -> list[dict]:
    rows = []
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut short by a crash
    return rows


def append_result(path: Path, row: dict) -> None:
    with open(path, "a") as fh:
        fh.write(json.dumps(row) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


def _metric_row(base: dict, method: str, rec_mm, gt_mm, seed: int, **extra) -> dict:
    m = chamfer_fscore(rec_mm, gt_mm, seed=seed)
    return {**base, "method": method, "chamfer_mm": m.chamfer_mm, "fscore": m.fscore, "precision": m.precision,
            "recall": m.recall, **extra}


def run_eval(model, settings: EvalSettings, progress: Callable[[str], None] | None = None,
             fit_progress=None) -> list[dict]:
    """Evaluate and return every result row (old and new). ``progress(name)`` after each scan."""
    out = Path(settings.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results_path = out / RESULTS
    rows = read_results(results_path)
    done = {(r["dataset"], r["scan"], r["method"]) for r in rows}
    fit_settings = FitSettings(seed=settings.seed)
    if settings.steps:
        fit_settings = replace(fit_settings, steps=settings.steps)
    atomic_write_text(out / "eval_settings.json", json.dumps({**asdict(settings), "fit": asdict(fit_settings),
                                                              "model": str(model.path)}, indent=1))
    pca_model = _pca_model(model, settings, out) if settings.pca else None
    methods = [m for m in METHODS if m != "pca" or pca_model is not None]

    for item in select_scans(settings.data_dir, settings.limit):
        key = ("test", item["scan"])
        if all((*key, m) in done for m in methods):
            if progress:
                progress(item["scan"])
            continue
        base = {"dataset": "test", "scan": item["scan"], "identity": item["identity"],
                "expression": item["expression"], "mode": "raw" if settings.raw_dir else "prepared"}
        new = _eval_test_scan(model, item, settings, fit_settings, pca_model, base, fit_progress)
        for r in new:
            if (r["dataset"], r["scan"], r["method"]) not in done:
                append_result(results_path, r)
                rows.append(r)
        if progress:
            progress(item["scan"])

    if settings.makehuman:
        from imface_core.evaluation.makehuman import DEFAULT_PATH, makehuman_faces

        path = Path(settings.makehuman_path) if settings.makehuman_path else DEFAULT_PATH
        if not path.is_file():
            logger.warning("cross-dataset test skipped: %s not found", path)
        else:
            for face in makehuman_faces(path, settings.makehuman, seed=settings.seed):
                if all(("makehuman", face.name, m) in done for m in methods):
                    if progress:
                        progress(face.name)
                    continue
                base = {"dataset": "makehuman", "scan": face.name, "identity": face.name,
                        "expression": next(iter(face.recipe["expression"])) if face.recipe["expression"] else "neutral",
                        "mode": "raw", "recipe": face.recipe}
                for r in _eval_makehuman(model, face, settings, fit_settings, pca_model, base, fit_progress):
                    append_result(results_path, r)
                    rows.append(r)
                if progress:
                    progress(face.name)
    if settings.real_dir:
        from imface_core.errors import ScanError
        from imface_core.evaluation.real_scans import real_scan_paths

        for path in real_scan_paths(settings.real_dir):
            if all(("real", path.stem, m) in done for m in methods):
                if progress:
                    progress(path.stem)
                continue
            base = {"dataset": "real", "scan": path.stem, "identity": path.stem, "expression": "neutral",
                    "mode": "raw", "file": str(path)}
            try:
                new = _eval_real(model, path, settings, fit_settings, pca_model, base, fit_progress)
            except ScanError as exc:  # one unusable file does not end the evaluation
                logger.warning("real scan %s skipped: %s", path, exc)
                new = []
            for r in new:
                append_result(results_path, r)
                rows.append(r)
            if progress:
                progress(path.stem)
    table = format_tables(rows, settings)
    atomic_write_text(out / "table.md", table)
    atomic_write_text(out / "summary.json", json.dumps(summarise(rows), indent=1))
    return rows


def _pca_model(model, settings: EvalSettings, out: Path):
    from imface_core.evaluation.pca_baseline import PCAFaceModel, build_pca_model

    cache = out / "pca_baseline.npz"
    if cache.exists():
        return PCAFaceModel.load(cache)
    if settings.train_raw_dir:
        train_raw = Path(settings.train_raw_dir)
    elif settings.data_dir:
        train_raw = Path(settings.data_dir).parent / "raw_train"
    else:
        logger.warning("PCA baseline skipped: pass --train-raw (the raw training scans it is built from)")
        return None
    if not train_raw.is_dir():
        logger.warning("PCA baseline skipped: no raw training scans at `%s` (pass --train-raw)", train_raw)
        return None
    spec = model.latent_spec
    pca = build_pca_model(train_raw, spec["z_id"] + spec["z_exp"])
    pca.save(cache)
    return pca


def _pca_mesh(pca_model, samples: FitSamples, seed: int, pose: bool = False):
    """PCA fit to the samples; its surface cropped to the samples' footprint, in the samples' frame."""
    from imface_core.evaluation.pca_baseline import fit_pca, pca_surface

    t0 = time.perf_counter()
    coef, rigid = fit_pca(pca_model, samples.surface, seed=seed, pose=pose)
    v, f = pca_surface(pca_model, coef)
    v = (v - rigid[:3, 3]) @ rigid[:3, :3]  # model frame -> samples' frame
    v, f = Footprint(*samples.surface_mesh).crop_mesh(v, f)
    return (v, f), time.perf_counter() - t0


def _eval_test_scan(model, item, settings, fit_settings, pca_model, base, fit_progress) -> list[dict]:
    gt_samples = samples_from_prepared(item["file"], seed=settings.seed)
    gt_v, gt_f = gt_samples.surface_mesh
    rows = []
    if settings.raw_dir:
        raw = Path(settings.raw_dir) / item["identity"] / (Path(item["file"]).stem + ".ply")
        with np.load(item["file"]) as d:
            shift = d["translation_mm"].astype(np.float64)
        gt_mm = (gt_v * SCALE_MM - shift, gt_f)
        res = fit_scan(model, raw, settings=fit_settings, mesh_resolution=settings.resolution, progress=fit_progress,
                       with_metrics=False)
        samples, to_mm, code_fit = res.samples, res.alignment.to_scan, res.code_fit
        full = res.mesh
        fit_s = res.timings["total"]
        sample_to_mm = res.initial_alignment.to_scan
    else:
        gt_mm = (gt_v * SCALE_MM, gt_f)
        samples = replace(gt_samples, landmarks=None)  # no landmark help: the fit sees surfaces only
        t0 = time.perf_counter()
        # The frame is the training frame (prep's normalisation): no pose to refine, as for the PCA fit.
        code_fit = fit_codes(model, samples, replace(fit_settings, optimise_pose=False), progress=fit_progress)
        fit_s = time.perf_counter() - t0
        full = fitted_mesh(model, code_fit.codes, (gt_v, gt_f), settings.resolution, detail=True)

        def to_mm(v):
            return v * SCALE_MM
        sample_to_mm = to_mm
    stage1 = fitted_mesh(model, code_fit.stage1_codes, model_frame_surface(samples, code_fit.pose), settings.resolution,
                         detail=False)
    extra = {"fit_seconds": round(fit_s, 2), "optimise_seconds": round(code_fit.seconds, 2),
             "steps": len(code_fit.history)}
    rows.append(_metric_row(base, "full", (to_mm(full[0]), full[1]), gt_mm, settings.seed, **extra))
    rows.append(_metric_row(base, "stage1", (to_mm(stage1[0]), stage1[1]), gt_mm, settings.seed, **extra))
    if pca_model is not None:
        mesh, secs = _pca_mesh(pca_model, samples, settings.seed, pose=bool(settings.raw_dir))
        rows.append(_metric_row(base, "pca", (sample_to_mm(mesh[0]), mesh[1]), gt_mm, settings.seed,
                                fit_seconds=round(secs, 2)))
    return rows


def _fit_three_ways(model, scan, settings, fit_settings, pca_model, fit_progress):
    """A scan as a user's (``fit_scan``: aligned without landmarks) with the full model, its stage-1 codes and the
    PCA baseline: (the ``FitResult``, {method: mesh in the scan's mm}, {method: the row's extra fields})."""
    res = fit_scan(model, scan, settings=fit_settings, mesh_resolution=settings.resolution, progress=fit_progress,
                   with_metrics=False)
    extra = {"fit_seconds": res.timings["total"], "optimise_seconds": round(res.code_fit.seconds, 2),
             "steps": len(res.code_fit.history), "alignment_inliers": res.alignment.inlier_fraction}
    stage1 = fitted_mesh(model, res.stage1_codes, model_frame_surface(res.samples, res.code_fit.pose),
                         settings.resolution, detail=False)
    meshes = {"full": res.mesh_mm, "stage1": (res.alignment.to_scan(stage1[0]), stage1[1])}
    extras = {"full": extra, "stage1": extra}
    if pca_model is not None:
        # The PCA fit refines its own pose from the same initial alignment (the samples' frame).
        mesh, secs = _pca_mesh(pca_model, res.samples, settings.seed, pose=True)
        meshes["pca"] = (res.initial_alignment.to_scan(mesh[0]), mesh[1])
        extras["pca"] = {"fit_seconds": round(secs, 2)}
    return res, meshes, extras


def _eval_makehuman(model, face, settings, fit_settings, pca_model, base, fit_progress) -> list[dict]:
    from imface_core.fitting.scan_io import scan_from_arrays

    gt_v, gt_f, shift = face.ground_truth()
    gt_mm = (gt_v * SCALE_MM - shift, gt_f)
    scan = scan_from_arrays(face.vertices, face.faces, source=face.name, units="mm")
    _, meshes, extras = _fit_three_ways(model, scan, settings, fit_settings, pca_model, fit_progress)
    return [_metric_row(base, m, mesh, gt_mm, settings.seed, **extras[m]) for m, mesh in meshes.items()]


def _eval_real(model, path: Path, settings, fit_settings, pca_model, base, fit_progress) -> list[dict]:
    """A real scan fitted without landmarks three ways, scored against its frontal surface, overall and per
    face region (``real_scans``)."""
    from imface_core.evaluation.real_scans import REGION_SAMPLES, region_errors, region_labels
    from imface_core.metrics import sample_points

    res, meshes, extras = _fit_three_ways(model, path, settings, fit_settings, pca_model, fit_progress)
    gt_mm = res.target_mm
    points = sample_points(gt_mm, REGION_SAMPLES, np.random.default_rng(settings.seed))
    labels = region_labels(model, res.codes, res.mesh, res.mesh_mm[0], points)
    return [_metric_row(base, m, mesh, gt_mm, settings.seed, regions=region_errors(points, labels, mesh), **extras[m])
            for m, mesh in meshes.items()]


# ----------------------------------------------------------------------------------------------- tables


def summarise(rows: list[dict]) -> dict:
    """Mean Chamfer / F-score per dataset, method and expression, with counts."""
    out: dict = {}
    for r in rows:
        d = out.setdefault(r["dataset"], {}).setdefault(r["method"], {})
        for key in ("overall", r["expression"]):
            e = d.setdefault(key, {"n": 0, "chamfer_mm": 0.0, "fscore": 0.0})
            e["n"] += 1
            e["chamfer_mm"] += r["chamfer_mm"]
            e["fscore"] += r["fscore"]
    for d in out.values():
        for m in d.values():
            for e in m.values():
                e["chamfer_mm"] /= e["n"]
                e["fscore"] /= e["n"]
    return out


def format_tables(rows: list[dict], settings: EvalSettings | None = None) -> str:
    """Markdown tables: per expression and overall (test set), per face (cross-dataset), and the verdict."""
    lines = []
    test = [r for r in rows if r["dataset"] == "test"]
    methods = [m for m in METHODS if any(r["method"] == m for r in rows)]
    if test:
        people = sorted({r["identity"] for r in test})
        exps = list(dict.fromkeys(r["expression"] for r in test))
        scans = sorted({r["scan"] for r in test})
        mode = test[0].get("mode", "prepared")
        lines.append(f"### Held-out scans: Chamfer (mm, lower is better) / F-score@1mm (higher is better)\n")
        lines.append(f"Covers {len(scans)} scans of {len(people)} held-out people ({', '.join(people)}), "
                     f"{len(exps)} expressions; fitted from {'raw scans (alignment without landmarks)' if mode == 'raw' else 'prepared samples (normalised frame)'}, "
                     f"no landmarks. 150k samples per surface, ICP, L1 distances (method.md §8).\n")
        head = "| expression | n | " + " | ".join(METHOD_NAMES[m] for m in methods) + " |"
        lines += [head, "|" + "---|" * (2 + len(methods))]
        for e in exps + ["**overall**"]:
            sel = test if e == "**overall**" else [r for r in test if r["expression"] == e]
            cells = _cells(sel, methods)
            n = len({r["scan"] for r in sel})
            lines.append(f"| {e} | {n} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(_verdict(test))
    mh = [r for r in rows if r["dataset"] == "makehuman"]
    if mh:
        lines.append("\n### Cross-dataset: MakeHuman faces (other topology and expression units), fitted without landmarks\n")
        head = "| face | expression | " + " | ".join(METHOD_NAMES[m] for m in methods) + " |"
        lines += [head, "|" + "---|" * (2 + len(methods))]
        for name in sorted({r["scan"] for r in mh}) + ["**mean**"]:
            sel = mh if name == "**mean**" else [r for r in mh if r["scan"] == name]
            cells = _cells(sel, methods)
            exp = sel[0]["expression"] if name != "**mean**" else ""
            lines.append(f"| {name} | {exp} | " + " | ".join(cells) + " |")
        lines.append("")
        lines.append(_verdict(mh))
    real = [r for r in rows if r["dataset"] == "real"]
    if real:
        lines.append("\n### Real scans, fitted without landmarks: Chamfer (mm) / F-score@1mm against each scan's "
                     "frontal surface\n")
        head = "| scan | " + " | ".join(METHOD_NAMES[m] for m in methods) + " |"
        lines += [head, "|" + "---|" * (1 + len(methods))]
        for name in sorted({r["scan"] for r in real}) + ["**mean**"]:
            sel = real if name == "**mean**" else [r for r in real if r["scan"] == name]
            cells = _cells(sel, methods)
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        verdict = _verdict(real)
        if verdict:
            lines += ["", verdict]
        from imface_core.evaluation.real_scans import FACE_REGIONS

        lines.append("\nPer face region: mean distance (mm) from the scans' surface in the region to the fit, "
                     "averaged over the scans.\n")
        lines += ["| region | " + " | ".join(METHOD_NAMES[m] for m in methods) + " |",
                  "|" + "---|" * (1 + len(methods))]
        for region in FACE_REGIONS:
            cells = []
            for m in methods:
                values = [r["regions"][region] for r in real if r["method"] == m and region in r.get("regions", {})]
                cells.append(f"{np.mean(values):.3f}" if values else "-")
            lines.append(f"| {region} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _cells(rows: list[dict], methods: list[str]) -> list[str]:
    """Per method: "mean Chamfer / mean F-score" of its rows, or "-" when it has none."""
    cells = []
    for m in methods:
        rs = [r for r in rows if r["method"] == m]
        cells.append(f"{np.mean([r['chamfer_mm'] for r in rs]):.3f} / {np.mean([r['fscore'] for r in rs]):.1f}"
                     if rs else "-")
    return cells


def _verdict(rows: list[dict]) -> str:
    by = {}
    for r in rows:
        by.setdefault(r["scan"], {})[r["method"]] = r["chamfer_mm"]
    pairs = [(v["full"], v["pca"]) for v in by.values() if "full" in v and "pca" in v]
    if not pairs:
        return ""
    full, pca = np.mean([p[0] for p in pairs]), np.mean([p[1] for p in pairs])
    wins = sum(a < b for a, b in pairs)
    if full < pca:
        return (f"The neural model beats the linear PCA baseline: mean Chamfer {full:.3f} vs {pca:.3f} mm, "
                f"better on {wins} of {len(pairs)} scans.")
    return (f"**The neural model LOSES to the linear PCA baseline**: mean Chamfer {full:.3f} vs {pca:.3f} mm, "
            f"better on only {wins} of {len(pairs)} scans.")
