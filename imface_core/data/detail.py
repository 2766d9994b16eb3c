"""Fine geometric detail for synthetic scans: expression wrinkles and per-person skin texture.

Every function here is a function of the *rest-pose* surface position (the mean
face, subdivided), so a detail sits on the same patch of skin in every
expression of a person and moves with it. Displacements are in millimetres
along the vertex normal; negative values are grooves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Largest displacement any detail may produce (mm); tests pin this bound.
MAX_DETAIL_MM = 1.2


@dataclass(frozen=True)
class PersonDetail:
    """What makes one person's detail theirs: an age-like strength and a seeded pattern."""

    seed: int
    age: float  # 0 (smooth, young) .. 1 (deep wrinkles)

    @staticmethod
    def draw(rng: np.random.Generator) -> "PersonDetail":
        return PersonDetail(seed=int(rng.integers(0, 2**31 - 1)), age=float(rng.uniform(0.25, 1.0)))


def wrinkle_activations(exp_weights: np.ndarray, exp_names: tuple[str, ...]) -> dict[str, float]:
    """How strongly each wrinkle family is driven by an expression (0..1)."""
    w = {name: float(exp_weights[i]) for i, name in enumerate(exp_names)}

    def g(name: str) -> float:
        return w.get(name, 0.0)

    def side(s: str) -> dict[str, float]:
        return {
            f"crow_{s}": g(f"eyeSquint_{s}") * 0.6 + g(f"cheekSquint_{s}") * 0.5 + g(f"mouthSmile_{s}") * 0.35,
            f"nasolabial_{s}": g(f"mouthSmile_{s}") * 0.8 + g(f"noseSneer_{s}") * 0.5 + g(f"mouthUpperUp_{s}") * 0.4,
        }

    act = {
        "forehead": 0.6 * (g("browInnerUp_L") + g("browInnerUp_R")) / 2 + 0.5 * (g("browOuterUp_L") + g("browOuterUp_R")) / 2,
        "frown": (g("browDown_L") + g("browDown_R")) / 2 + 0.3 * (g("noseSneer_L") + g("noseSneer_R")) / 2,
        **side("L"),
        **side("R"),
    }
    return {k: float(np.clip(v, 0.0, 1.0)) for k, v in act.items()}


def _smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _groove(phase: np.ndarray, sharpness: float = 6.0) -> np.ndarray:
    """Periodic groove profile in [-1, 0]: narrow valleys where cos(phase) = 1."""
    return -(((1.0 + np.cos(phase)) * 0.5) ** sharpness)


class DetailGenerator:
    """Computes a person's detail displacement for any expression on a fixed rest surface.

    ``rest`` are the rest-pose vertex positions (mean face, subdivided) in mm and
    ``rest_landmarks`` its 68 landmarks; ``region_mask`` (0..1 per vertex) says
    where detail may live (it fades out before the subdivided region ends).
    """

    def __init__(self, rest: np.ndarray, rest_landmarks: np.ndarray, region_mask: np.ndarray):
        self.rest = rest.astype(np.float64)
        self.lm = rest_landmarks.astype(np.float64)
        self.mask = region_mask.astype(np.float64)
        self._texture_cache: dict[int, np.ndarray] = {}

    # -- per-person static texture ---------------------------------------------------------------
    def texture(self, person: PersonDetail) -> np.ndarray:
        """Pores and small bumps (mm), fixed on the skin; independent of expression."""
        if person.seed in self._texture_cache:
            return self._texture_cache[person.seed]
        rng = np.random.default_rng(person.seed + 17)
        p = self.rest
        n_waves = 40
        dirs = rng.normal(size=(n_waves, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        wavelength = rng.uniform(1.2, 3.0, size=n_waves)
        k = dirs * (2 * np.pi / wavelength)[:, None]
        phase = rng.uniform(0, 2 * np.pi, size=n_waves)
        pores = np.cos(p @ k.T + phase).sum(axis=1) / np.sqrt(n_waves / 2)  # ~unit variance
        pores = 0.05 * np.clip(pores, -2.5, 2.5)  # ~0.05 mm rms, <= 0.125 mm
        bumps = np.zeros(len(p))
        candidates = np.flatnonzero(self.mask > 0.9)
        if len(candidates):
            centres = p[rng.choice(candidates, size=min(14, len(candidates)), replace=False)]
            for c in centres:
                sigma = rng.uniform(1.0, 2.5)
                amp = rng.uniform(0.12, 0.35) * rng.choice([-1.0, 1.0])
                d2 = ((p - c) ** 2).sum(axis=1)
                near = d2 < (4 * sigma) ** 2
                bumps[near] += amp * np.exp(-d2[near] / (2 * sigma**2))
        out = (pores + bumps) * self.mask
        self._texture_cache[person.seed] = out
        return out

    # -- expression wrinkles ---------------------------------------------------------------------
    def wrinkles(self, person: PersonDetail, activations: dict[str, float]) -> np.ndarray:
        """Wrinkle displacement (mm) for one expression's activations."""
        rng = np.random.default_rng(person.seed)
        strength = 0.35 + 0.65 * person.age
        x, y = self.rest[:, 0], self.rest[:, 1]
        lm = self.lm
        cx = 0.5 * (lm[36, 0] + lm[45, 0])
        out = np.zeros(len(self.rest))

        # Forehead lines: horizontal, slightly arched, above the brows.
        brow_y = lm[17:27, 1].max()
        wavelength = rng.uniform(8.0, 12.0)
        arch = rng.uniform(0.002, 0.006)
        wobble_amp, wobble_freq, wobble_phase = rng.uniform(0.5, 2.0), rng.uniform(0.03, 0.08), rng.uniform(0, 6.3)
        h = y - brow_y - arch * (x - cx) ** 2
        h = h + wobble_amp * np.sin(wobble_freq * x + wobble_phase)
        env = _smoothstep(5.0, 12.0, h) * (1.0 - _smoothstep(40.0, 55.0, h)) * (1.0 - _smoothstep(42.0, 58.0, np.abs(x - cx)))
        level = 0.1 + 0.9 * activations["forehead"]
        out += 0.8 * strength * level * env * _groove(2 * np.pi * h / wavelength + rng.uniform(0, 6.3))

        # Frown lines: two vertical grooves between the brows.
        inner_brow_y = 0.5 * (lm[21, 1] + lm[22, 1])
        offset = rng.uniform(3.5, 6.0)
        vert = _smoothstep(inner_brow_y - 8.0, inner_brow_y - 2.0, y) * (1.0 - _smoothstep(inner_brow_y + 12.0, inner_brow_y + 22.0, y))
        lines = np.exp(-(((x - cx - offset) / 1.3) ** 2)) + np.exp(-(((x - cx + offset) / 1.3) ** 2))
        out -= 0.7 * strength * (0.05 + 0.95 * activations["frown"]) * vert * lines

        for s, corner, wing, mouth in (("R", 36, 31, 48), ("L", 45, 35, 54)):
            lateral = np.sign(lm[corner, 0] - cx)
            # Crow's feet: rays fanning out from the outer eye corner.
            c = lm[corner, :2] + np.array([lateral * 4.0, 0.0])
            dx, dy = (x - c[0]) * lateral, y - c[1]
            r = np.hypot(dx, dy)
            theta = np.arctan2(dy, np.maximum(dx, 1e-6))
            env = _smoothstep(2.0, 6.0, r) * (1.0 - _smoothstep(16.0, 24.0, r)) * (1.0 - _smoothstep(0.7, 1.0, np.abs(theta)))
            env *= dx > 0
            spacing = rng.uniform(0.16, 0.24)
            out += 0.6 * strength * (0.05 + 0.95 * activations[f"crow_{s}"]) * env * _groove(2 * np.pi * theta / spacing + rng.uniform(0, 6.3), 4.0)

            # Nasolabial fold: a groove from the nose wing to beside the mouth corner.
            a = lm[wing, :2] + np.array([lateral * 5.0, 3.0])
            b = lm[mouth, :2] + np.array([lateral * 7.0, -6.0])
            ab = b - a
            t = np.clip(((x - a[0]) * ab[0] + (y - a[1]) * ab[1]) / (ab @ ab), 0.0, 1.0)
            d = np.hypot(x - (a[0] + t * ab[0]), y - (a[1] + t * ab[1]))
            along = _smoothstep(0.0, 0.15, t) * (1.0 - _smoothstep(0.85, 1.0, t))
            width = rng.uniform(2.0, 3.2)
            front = self.rest[:, 2] > lm[30, 2] - 60.0  # skip the far side of the head
            out -= 1.0 * (0.5 + 0.5 * person.age) * (0.05 + 0.95 * activations[f"nasolabial_{s}"]) * along * np.exp(-((d / width) ** 2)) * front

        return out * self.mask

    def displacement(self, person: PersonDetail, exp_weights: np.ndarray, exp_names: tuple[str, ...]) -> np.ndarray:
        """Total detail (mm) for one scan, clipped to the documented bound."""
        act = wrinkle_activations(exp_weights, exp_names)
        total = self.wrinkles(person, act) + self.texture(person)
        return np.clip(total, -MAX_DETAIL_MM, MAX_DETAIL_MM)
