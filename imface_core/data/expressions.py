"""Named facial expressions as mixes of the 53 ARKit blendshapes, with per-person variation.

The order is FaceScape-like: neutral first. ``--expressions M`` takes the first M.
"""

from __future__ import annotations

import numpy as np

# name -> {ARKit shape (``_LR`` means both sides): weight}
NAMED_EXPRESSIONS: dict[str, dict[str, float]] = {
    "neutral": {},
    "smile": {"mouthSmile_LR": 0.85, "cheekSquint_LR": 0.45, "eyeSquint_LR": 0.25},
    "jaw_open": {"jawOpen": 0.7, "mouthLowerDown_LR": 0.2},
    "pucker": {"mouthPucker": 0.9},
    "funnel": {"mouthFunnel": 0.85, "jawOpen": 0.15},
    "brow_raise": {"browInnerUp_LR": 0.9, "browOuterUp_LR": 0.85, "eyeWide_LR": 0.3},
    "brow_lower": {"browDown_LR": 0.95, "eyeSquint_LR": 0.3, "noseSneer_LR": 0.15},
    "eyes_closed": {"eyeBlink_LR": 1.0},
    "cheek_puff": {"cheekPuff_LR": 0.9, "mouthClose": 0.2},
    "jaw_left": {"jawLeft": 0.75, "jawOpen": 0.1},
    "jaw_right": {"jawRight": 0.75, "jawOpen": 0.1},
    "mouth_left": {"mouthLeft": 0.85},
    "mouth_right": {"mouthRight": 0.85},
    "sneer": {"noseSneer_LR": 0.9, "mouthUpperUp_LR": 0.45, "browDown_LR": 0.2},
    "lip_roll": {"mouthRollLower": 0.85, "mouthRollUpper": 0.8},
    "chin_raise": {"mouthShrugLower": 0.9, "mouthShrugUpper": 0.4, "mouthPress_LR": 0.3},
    "dimple": {"mouthDimple_LR": 0.9, "mouthPress_LR": 0.2},
    "stretch": {"mouthStretch_LR": 0.9, "jawOpen": 0.1},
    "sad": {"mouthFrown_LR": 0.9, "browInnerUp_LR": 0.55, "mouthShrugLower": 0.3},
    "grin": {"mouthSmile_LR": 1.0, "jawOpen": 0.3, "cheekSquint_LR": 0.75, "eyeSquint_LR": 0.55, "mouthUpperUp_LR": 0.3},
    "squint": {"eyeSquint_LR": 1.0, "cheekSquint_LR": 0.6, "browDown_LR": 0.2},
    "surprise": {"jawOpen": 0.55, "browInnerUp_LR": 0.8, "browOuterUp_LR": 0.8, "eyeWide_LR": 0.8},
}

EXPRESSION_NAMES: tuple[str, ...] = tuple(NAMED_EXPRESSIONS)


def expression_weights(
    name: str, exp_names: tuple[str, ...], rng: np.random.Generator | None = None, variation: float = 0.15
) -> np.ndarray:
    """ARKit weights (n_exp,) for a named expression.

    With ``rng``, each shape's weight is scaled by an independent factor in
    ``1 ± variation`` (left and right separately) so the same label differs
    between people; neutral stays exactly neutral, and a full (1.0) shape stays full.
    """
    if name not in NAMED_EXPRESSIONS:
        raise ValueError(f"unknown expression `{name}`; known: {', '.join(EXPRESSION_NAMES)}")
    weights = np.zeros(len(exp_names), dtype=np.float32)
    for shape, w in NAMED_EXPRESSIONS[name].items():
        targets = [shape[:-3] + "_L", shape[:-3] + "_R"] if shape.endswith("_LR") else [shape]
        for target in targets:
            if target not in exp_names:
                raise ValueError(f"face model has no expression shape `{target}` (needed by `{name}`)")
            factor = 1.0 if rng is None else rng.uniform(1.0 - variation, 1.0 + variation)
            # A full shape stays full (closed eyes are closed); the draw is made anyway, so the
            # other weights of a person do not change with this rule.
            weights[exp_names.index(target)] = w if w >= 1.0 else np.clip(w * factor, 0.0, 1.0)
    return weights
