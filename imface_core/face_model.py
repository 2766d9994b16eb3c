"""``FaceModel``: a trained ImFace++ model with its latent codes, for inference.

This is the API the engine, fitting and editor build on::

    model = FaceModel.load_default()          # or FaceModel.load(path)
    codes = model.codes(identity=0, expression="smile")
    s = model.sdf(points, codes, detail=True)  # (N,) signed distances, normalised units
    xt = model.template_coords(points, codes)  # (N, 3) dense correspondence

Points and results are numpy arrays; torch stays inside. ``FaceCodes`` lives in ``imface_core.face_codes``.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import torch

from imface_core.checkpoint import CheckpointError, load_checkpoint
from imface_core.code_bounds import code_bounds
from imface_core.compute import resolve_device
from imface_core.errors import CodesError
from imface_core.face_codes import FaceCodes
from imface_core.model.config import ModelConfig
from imface_core.model.imface_net import ImFaceNet
from imface_core.model.objective import LANDMARKS5, Objective

DEFAULT_MODEL = Path(__file__).resolve().parent.parent / "resources" / "imface_compact.pt"
CHUNK_POINTS = 65536


class FaceModel:
    """A loaded model: network (eval mode), code tables and the names of what it was trained on."""

    def __init__(self, net: ImFaceNet, tables: dict[str, torch.Tensor], identities: list[str], scans: list[dict],
                 config: ModelConfig, device: torch.device, path: Path | None = None, info: dict | None = None,
                 objective: Objective | None = None):
        self.net = net.eval().to(device)
        for p in self.net.parameters():
            p.requires_grad_(False)
        self.tables = {k: v.detach().cpu().numpy().astype(np.float32) for k, v in tables.items()}
        self.identities = list(identities)
        self.scans = list(scans)
        self.config = config
        """The network's architecture (``ModelConfig``)."""
        self.objective = objective or Objective()
        """The loss weights it was trained with, which fitting reuses."""
        self.device = device
        self.path = path
        self.info = info or {}
        self._identity_of_scan = np.array([self.identities.index(s["identity"]) for s in self.scans])
        self._code_bounds = code_bounds(self.tables, 1.0 / config.code_scale)
        self.region = None
        """The face region (``engine.region.FaceRegion``) meshes are cropped to; None in older model files."""
        self.expression_gains: dict[str, float] = {}
        """Named expression -> gain of its preset's offset from neutral (``imface calibrate``); empty: 1."""

    # -- loading ---------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, device: str | torch.device | None = None) -> "FaceModel":
        device = resolve_device(device)
        path = Path(path)
        ck = load_checkpoint(path, map_location="cpu")
        try:
            cfg = ModelConfig.from_dict(ck["config"]["model"])
            objective = Objective.from_config_dict(ck["config"])
            state = ck["model_state"]
            t68 = state["template_landmarks68"]
            net = ImFaceNet(cfg, t68[LANDMARKS5], t68)
            net.load_state_dict(state)
            tables = {k: ck["codes"][k] for k in ("id", "exp", "det")}
        except (KeyError, ValueError, RuntimeError, TypeError) as exc:
            raise CheckpointError(f"`{path}` does not match this version's model: {str(exc)[:200]}") from exc
        if tables["id"].shape[0] != len(ck["identities"]) or tables["exp"].shape[0] != len(ck["scans"]):
            raise CheckpointError(f"`{path}`: code tables and name lists disagree in size")
        info = {k: ck.get(k) for k in ("step", "stage", "train_seconds", "code_version")}
        model = cls(net, tables, ck["identities"], ck["scans"], cfg, device, path, info, objective)
        if ck.get("face_region") is not None:
            from imface_core.engine.region import FaceRegion

            try:
                model.region = FaceRegion.from_state(ck["face_region"])
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                raise CheckpointError(f"`{path}`: its face region is unreadable ({exc})") from exc
        model.expression_gains = _expression_gains(ck.get("expression_gains"), model.expressions, path)
        return model

    @classmethod
    def load_default(cls, device: str | torch.device | None = None) -> "FaceModel":
        """The shipped model, ``resources/imface_compact.pt``."""
        return cls.load(DEFAULT_MODEL, device)

    # -- codes -----------------------------------------------------------------------------------
    @property
    def expressions(self) -> list[str]:
        seen: list[str] = []
        for s in self.scans:
            if s["expression"] not in seen:
                seen.append(s["expression"])
        return seen

    def _identity_index(self, identity: int | str) -> int:
        if isinstance(identity, str):
            if identity not in self.identities:
                raise KeyError(f"unknown identity `{identity}`")
            return self.identities.index(identity)
        if not 0 <= identity < len(self.identities):
            raise IndexError(f"identity {identity} out of range (model has {len(self.identities)})")
        return int(identity)

    def scan_index(self, identity: int | str, expression: int | str) -> int:
        i = self.identities[self._identity_index(identity)]
        name = self.expressions[expression] if isinstance(expression, (int, np.integer)) else expression
        for k, s in enumerate(self.scans):
            if s["identity"] == i and s["expression"] == name:
                return k
        raise KeyError(f"no training scan of identity `{i}` with expression `{name}`")

    def codes(self, identity: int | str = 0, expression: int | str = 0) -> FaceCodes:
        """Training codes of one scan: that person's z_id, that scan's z_exp and z_det."""
        k = self.scan_index(identity, expression)
        return FaceCodes(self.tables["id"][self._identity_index(identity)].copy(), self.tables["exp"][k].copy(),
                         self.tables["det"][k].copy())

    def mean_codes(self) -> FaceCodes:
        """Mean of the training codes (the starting point of fitting)."""
        return FaceCodes(*(self.tables[k].mean(axis=0) for k in ("id", "exp", "det")))

    @property
    def latent_spec(self) -> dict[str, int]:
        m = self.config
        return {"z_id": m.id_dim, "z_exp": m.exp_dim, "z_det": m.det_dim}

    def check_codes(self, codes: FaceCodes) -> FaceCodes:
        """``codes`` as float32 arrays, or ``CodesError`` saying which code is missing, of the wrong size, not
        finite or absurdly far from this model's training codes (``imface_core.code_bounds``; microseconds).
        Every entry that takes codes from a caller calls it before any network runs."""
        if not isinstance(codes, FaceCodes):
            raise CodesError(f"expected FaceCodes (z_id, z_exp, z_det), got {type(codes).__name__}; make them with "
                             "FaceModel.codes, a LatentNavigator or engine.load_codes")
        checked = FaceCodes(*(bounds.check(getattr(codes, bounds.name)) for bounds in self._code_bounds))
        if not codes.regions:
            return checked
        from imface_core.local_edit import check_region_edits  # numpy only

        return dataclasses.replace(checked, regions=check_region_edits(codes.regions, self.check_codes, checked))

    # -- evaluation ------------------------------------------------------------------------------
    def _code_tensors(self, codes: FaceCodes) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        codes = self.check_codes(codes)
        return tuple(torch.as_tensor(c, device=self.device)[None] for c in (codes.z_id, codes.z_exp, codes.z_det))

    def sdf(self, points: np.ndarray, codes: FaceCodes, detail: bool = True, detail_scale: float = 1.0,
            chunk: int = CHUNK_POINTS) -> np.ndarray:
        """Signed distance (N,) of points (N, 3) in normalised units; fine SDF when ``detail``."""
        z_id, z_exp, z_det = self._code_tensors(codes)
        pts = _as_points(points)
        out = np.empty(len(pts), dtype=np.float32)
        with torch.no_grad():
            landmarks = self.net.predict_landmarks(z_id, z_exp)
            for s in range(0, len(pts), chunk):
                x = torch.from_numpy(pts[s : s + chunk]).to(self.device)[None]
                if detail:
                    r = self.net.fine(x, z_id, z_exp, z_det, landmarks, detail_scale=detail_scale)["sdf"]
                else:
                    r = self.net.coarse(x, z_id, z_exp, landmarks)["sdf"]
                out[s : s + chunk] = r[0].cpu().numpy()
        return out

    def template_coords(self, points: np.ndarray, codes: FaceCodes, chunk: int = CHUNK_POINTS) -> np.ndarray:
        """Template-space coordinates x_t (N, 3) of points (N, 3): the dense correspondence."""
        z_id, z_exp, _ = self._code_tensors(codes)
        pts = _as_points(points)
        out = np.empty((len(pts), 3), dtype=np.float32)
        with torch.no_grad():
            landmarks = self.net.predict_landmarks(z_id, z_exp)
            for s in range(0, len(pts), chunk):
                x = torch.from_numpy(pts[s : s + chunk]).to(self.device)[None]
                out[s : s + chunk] = self.net.coarse(x, z_id, z_exp, landmarks)["x_t"][0].cpu().numpy()
        return out

    # -- meshes (imface_core.engine) -------------------------------------------------------------
    def mesh(self, codes: FaceCodes, resolution: int | None = None, detail: bool = True, detail_scale: float = 1.0,
             colors: str | None = None, method: str = "exact", topology: str = "marching_cubes", **kwargs):
        """``trimesh.Trimesh`` of the face in normalised units: dense-grid marching cubes at ``resolution``
        (N samples over [-1, 1], 2/(N-1) apart) evaluated sparsely (narrow-band octree, surface following on the
        last two levels: only isolated blobs smaller than 4 cells can be missed; pass
        ``settings=ExtractionSettings(follow_levels=0)`` for the full band).

        ``colors="correspondence"`` adds vertex RGB from template coordinates; ``method="displace"`` is the
        fast full-detail approximation. See ``imface_core.engine.face_mesh.face_mesh`` for the other options.
        Raises ``CodesError`` for unusable codes and ``ValueError`` for a resolution that is not a whole number
        in ``settings.RESOLUTION_RANGE``. ``resolution`` defaults to ``face_mesh.MESH_RESOLUTION``.

        ``topology="template"``: the model's template mesh carried onto this face instead (the same vertex
        count and order for every face; ``resolution`` is then the template mesh's, default 128; ``method``
        does not apply; keyword options ``crop``, ``cancel``, ``iterations``, ``fine_correction``). See
        ``imface_core.engine.template_topology``.
        """
        if topology == "template":
            from imface_core.engine.template_topology import template_face_mesh

            return template_face_mesh(self, codes, resolution, detail=detail, detail_scale=detail_scale,
                                      colors=colors, **kwargs)
        if topology != "marching_cubes":
            raise ValueError(f"topology must be 'marching_cubes' or 'template', got {topology!r}")
        from imface_core.engine.face_mesh import MESH_RESOLUTION, face_mesh

        return face_mesh(self, codes, MESH_RESOLUTION if resolution is None else resolution, detail=detail,
                         detail_scale=detail_scale, colors=colors, method=method, **kwargs)


def _expression_gains(stored, expressions: list[str], path: Path) -> dict[str, float]:
    """The stored preset gains, checked: known labels, finite positive numbers."""
    if stored is None:
        return {}
    try:
        gains = {str(k): float(v) for k, v in dict(stored).items()}
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"`{path}`: its expression gains are unreadable ({exc})") from exc
    bad = [k for k, g in gains.items() if k not in expressions or not (math.isfinite(g) and g > 0)]
    if bad:
        raise CheckpointError(f"`{path}`: expression gains for {bad} are not gains of its expressions")
    return gains


def _as_points(points) -> np.ndarray:
    pts = np.ascontiguousarray(np.asarray(points, dtype=np.float32))
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3), got {pts.shape}")
    if not np.isfinite(pts).all():
        raise ValueError("points contain NaN or infinite values")
    return pts
