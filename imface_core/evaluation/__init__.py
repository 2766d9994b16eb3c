"""Evaluation of fitting (method.md §8): the ``imface eval`` runner, the PCA baseline, cross-dataset faces."""

from imface_core.evaluation.runner import EvalSettings, format_tables, run_eval, select_scans

__all__ = ["EvalSettings", "format_tables", "run_eval", "select_scans"]
