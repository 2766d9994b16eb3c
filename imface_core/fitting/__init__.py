"""Fit the model to a 3D scan (method.md §6): load, align, preprocess as training data, optimise codes.

    from imface_core.fitting import fit_scan, save_fit
    result = fit_scan(model, "scan.ply", progress=print, cancel=event)
    save_fit(result, "out/face")            # .obj (mm, scan frame), _codes.npz, _report.json
    result.error_map.distances               # per scan vertex, mm (NaN where not covered)
"""

from imface_core.fitting.align import AlignSettings, Alignment, align_scan, reference_face
from imface_core.fitting.error_map import ErrorMap, error_map
from imface_core.fitting.optimize import CodeFit, FitProgress, FitSettings, fit_codes
from imface_core.fitting.pipeline import FitResult, fit_output_paths, fit_scan, fitted_mesh, save_fit
from imface_core.fitting.samples import FitSamples, prepare_samples, samples_from_prepared
from imface_core.fitting.scan_io import Scan, ScanError, load_scan, read_landmarks, scan_from_arrays

__all__ = [
    "AlignSettings", "Alignment", "CodeFit", "ErrorMap", "FitProgress", "FitResult", "FitSamples",
    "FitSettings", "Scan", "ScanError", "align_scan", "error_map", "fit_codes", "fit_output_paths", "fit_scan", "fitted_mesh",
    "load_scan", "prepare_samples", "read_landmarks", "reference_face", "samples_from_prepared", "save_fit",
    "scan_from_arrays",
]

