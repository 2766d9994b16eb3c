"""The inference engine: sparse mesh extraction, progressive previews, colours, latent navigation, detail
transfer and export. Numpy/trimesh in and out; no Qt.

Files, one job each:

* ``grid``: the dense-grid convention (N samples over [-1, 1], indexing 'ij') and the dense reference mesh.
* ``extraction``: sparse octree / narrow-band marching cubes (``SparseGrid``, ``sparse_mesh``).
* ``field``: one face (model + codes) as numpy field functions (``FaceField``).
* ``face_mesh``: the policy behind ``FaceModel.mesh`` (exact fine SDF, or coarse + displacement).
* ``displacement``: the fast full-detail path (coarse surface moved by the refinement field).
* ``progressive``: previews first, cancellable, reusing the previous request (``ProgressiveMesher``).
* ``template_deform``: the fixed-topology preview (inverting the warps for a mesh's vertices).
* ``template_topology``: fixed-topology faces (the template mesh carried onto a face; ``topology="template"``).
* ``rig``: a face rig as glTF 2.0 binary (neutral face + one morph target per named expression).
* ``colors``, ``navigation``, ``transfer``, ``export``, ``benchmark``, ``chunks`` (``chamfer_mm``
  comes from ``imface_core.metrics``).
"""

from __future__ import annotations

from imface_core.engine.colors import correspondence_colors, vertex_correspondence_colors
from imface_core.engine.export import MM_PER_UNIT, export_mesh, to_units
from imface_core.engine.extraction import ExtractionSettings, SparseGrid, sparse_mesh
from imface_core.engine.face_mesh import face_mesh
from imface_core.engine.field import FaceField
from imface_core.engine.grid import dense_mesh, grid_axis, grid_spacing
from imface_core.engine.navigation import CodeSpace, LatentNavigator, code_space
from imface_core.engine.progressive import MeshRequest, MeshUpdate, ProgressiveMesher
from imface_core.engine.template_deform import TemplateDeformer
from imface_core.errors import Cancelled
from imface_core.engine.transfer import blend_detail, load_codes, save_codes, transfer_detail
from imface_core.metrics import chamfer_mm

__all__ = [
    "Cancelled",
    "CodeSpace",
    "ExtractionSettings",
    "FaceField",
    "LatentNavigator",
    "MM_PER_UNIT",
    "MeshRequest",
    "MeshUpdate",
    "ProgressiveMesher",
    "SparseGrid",
    "TemplateDeformer",
    "blend_detail",
    "chamfer_mm",
    "code_space",
    "correspondence_colors",
    "dense_mesh",
    "export_mesh",
    "face_mesh",
    "grid_axis",
    "grid_spacing",
    "load_codes",
    "save_codes",
    "sparse_mesh",
    "to_units",
    "transfer_detail",
    "vertex_correspondence_colors",
]
