"""What a FIQA method receives: :class:`FaceBatch`, a batch of faces in any of three forms.

A batch holds, per face, whatever is known about it:

* **photos + faces** (``FaceBatch.from_images``): RGB uint8 (H, W, 3) photos and one
  :class:`~facewidget.Face` each (detected when not given: the largest face). Every measure works:
  pixel measures, mesh measures (pose, inter-eye distance, eye/mouth opening) and model measures.
* **aligned faces** (``FaceBatch.from_aligned``): an :class:`~facewidget.AlignedFaces` (chips of
  one template). Pixel measures and model measures whose template matches work; mesh measures raise
  :class:`~facewidget.UnsupportedOperationError`.
* **chips** (``FaceBatch.from_chips``): a (B, 3, h, w) float tensor/array RGB in [0, 1], aligned
  the way the model expects (its template). As for aligned faces.

Chips for a template are made on demand with :func:`facewidget.align_faces` and cached, so several
FIQA methods and the activation maps share one alignment per template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..align import DLIB_5, AlignedFaces, AlignmentTemplate, align_faces
from ..errors import ParameterError, NoFaceError, ShapeError, UnsupportedOperationError
from ..faces import Face

MEASUREMENT_TEMPLATE = DLIB_5
"""Chips for the pixel measures (sharpness, exposure, dynamic range, BRISQUE): dlib's 5-point
geometry at 150×150 with padding 0.25 (forehead to chin, a little background at the sides). The
same chips as dlib-resnet's, so they are aligned once."""


def _template_key(t: AlignmentTemplate) -> tuple:
    return (t.name, tuple(t.size), float(t.padding), t.points, t.landmarks, t.dlib_chip_geometry)


@dataclass
class FaceBatch:
    """A batch of B faces; see the module docstring for the three forms.

    Attributes:
        images: B RGB uint8 (H, W, 3) photos, or None (chip-only batches).
        faces: B :class:`~facewidget.Face` (one per photo), or None.
        ids: B labels (names, file paths or indices) kept through subsets for reports.
    """

    images: list[np.ndarray] | None = None
    faces: list[Face] | None = None
    ids: list[Any] = field(default_factory=list)
    _aligned: dict[tuple, AlignedFaces] = field(default_factory=dict, repr=False)

    # -- construction ----------------------------------------------------------------------------
    @classmethod
    def from_images(cls, images: Sequence, faces: Sequence[Face | None] | None = None, *, ids=None,
                    missing: str = "raise") -> "FaceBatch":
        """Photos (anything :func:`facewidget.load_image` reads) and optional faces (None = detect).

        ``missing``: ``"raise"`` (:class:`~facewidget.NoFaceError` naming the photo) or ``"skip"``
        (photos without a face are dropped; ``ids`` tell which were kept).
        """
        from ..faces import detect_faces
        from ..io import load_image

        if missing not in ("raise", "skip"):
            raise ParameterError("missing", missing, "'raise' or 'skip'")
        images = list(images)
        if faces is None:
            faces = [None] * len(images)
        faces = list(faces)
        if len(faces) != len(images):
            raise ShapeError(f"{len(images)} photos but {len(faces)} faces")
        ids = list(range(len(images))) if ids is None else list(ids)
        if len(ids) != len(images):
            raise ShapeError(f"{len(images)} photos but {len(ids)} ids")
        out_img, out_face, out_ids = [], [], []
        for img, face, ident in zip(images, faces, ids):
            arr = load_image(img)
            if face is None:
                found = detect_faces(arr, max_faces=1)
                if not found:
                    if missing == "skip":
                        continue
                    raise NoFaceError(f"no face found in photo {ident!r} ({arr.shape[1]}×{arr.shape[0]})")
                face = found[0]
            elif not isinstance(face, Face):
                raise ShapeError(f"faces must be facewidget.Face objects (or None); got {type(face).__name__}")
            out_img.append(arr)
            out_face.append(face)
            out_ids.append(ident)
        return cls(images=out_img, faces=out_face, ids=out_ids)

    @classmethod
    def from_aligned(cls, aligned: AlignedFaces, *, ids=None) -> "FaceBatch":
        """Chips of one template (no photos, no mesh)."""
        if not isinstance(aligned, AlignedFaces):
            raise ShapeError(f"from_aligned needs an AlignedFaces; got {type(aligned).__name__}")
        batch = cls(ids=list(range(len(aligned))) if ids is None else list(ids))
        batch._aligned[_template_key(aligned.template)] = aligned
        return batch

    @classmethod
    def from_chips(cls, chips, template: AlignmentTemplate | None = None, *, ids=None) -> "FaceBatch":
        """(B, 3, h, w) RGB chips in [0, 1] aligned with ``template`` (default: DLIB_5 resized to h×w)."""
        t = torch.as_tensor(np.asarray(chips) if not isinstance(chips, torch.Tensor) else chips)
        if t.ndim == 3:
            t = t[None]
        if t.ndim != 4 or t.shape[1] != 3 or not t.is_floating_point():
            raise ShapeError(f"chips must be float (B, 3, h, w) RGB in [0, 1]; got {t.dtype} {tuple(t.shape)}")
        if not torch.isfinite(t).all() or t.min() < 0 or t.max() > 1:
            raise ShapeError("chips must be finite and within [0, 1]")
        h, w = t.shape[-2:]
        template = template or DLIB_5.with_(size=(int(h), int(w)))
        if tuple(template.size) != (h, w):
            raise ShapeError(f"chips are {h}×{w} but template {template.name} is {template.size}")
        aligned = AlignedFaces(chips=t.float(), transforms=torch.zeros(len(t), 2, 3, dtype=torch.float64),
                               template=template, image_sizes=[(0, 0)] * len(t))
        return cls.from_aligned(aligned, ids=ids)

    # -- access ----------------------------------------------------------------------------------
    def __len__(self) -> int:
        if self.faces is not None:
            return len(self.faces)
        return len(next(iter(self._aligned.values())))

    @property
    def has_mesh(self) -> bool:
        return self.faces is not None

    def require_mesh(self, what: str) -> list[Face]:
        if self.faces is None:
            raise UnsupportedOperationError(f"{what} needs the face mesh: build the batch from photos "
                                            "(FaceBatch.from_images), not from chips")
        return self.faces

    def aligned(self, template: AlignmentTemplate, device=None) -> AlignedFaces:
        """Chips of every face for ``template`` (cached). Chip-only batches only have their own template."""
        key = _template_key(template)
        if key in self._aligned:
            return self._aligned[key]
        if self.images is None:
            have = next(iter(self._aligned.values())).template
            # chips given by the user: accept them for any template of the same size and padding
            if tuple(have.size) == tuple(template.size):
                return next(iter(self._aligned.values()))
            raise UnsupportedOperationError(f"this batch only holds {have.size} chips ({have.name}); "
                                            f"{template.name} needs {template.size}: build it from photos")
        device = device or "cpu"
        parts = [align_faces(img, [face], template, device=device) for img, face in zip(self.images, self.faces)]
        aligned = AlignedFaces(chips=torch.cat([p.chips for p in parts]).cpu(),
                               transforms=torch.cat([p.transforms for p in parts]).cpu(), template=template,
                               image_sizes=[p.image_sizes[0] for p in parts])
        self._aligned[key] = aligned
        return aligned

    def chips_for(self, model) -> torch.Tensor:
        """(B, 3, h, w) chips in the model's own alignment, on the model's device."""
        return self.aligned(model.config.alignment_template()).chips.to(model.device)

    def measurement_chips(self) -> torch.Tensor:
        """(B, 3, 150, 150) chips for the pixel measures (:data:`MEASUREMENT_TEMPLATE`, CPU).

        Chip-only batches use their own chips whatever their size."""
        if self.images is None:
            return next(iter(self._aligned.values())).chips.cpu()
        return self.aligned(MEASUREMENT_TEMPLATE).chips

    def subset(self, indices) -> "FaceBatch":
        """The faces at ``indices`` (cached chips are sliced, not recomputed)."""
        idx = [int(i) for i in indices]
        out = FaceBatch(images=None if self.images is None else [self.images[i] for i in idx],
                        faces=None if self.faces is None else [self.faces[i] for i in idx],
                        ids=[self.ids[i] for i in idx] if self.ids else idx)
        for key, a in self._aligned.items():
            sel = torch.as_tensor(idx, dtype=torch.long)
            out._aligned[key] = AlignedFaces(chips=a.chips[sel], transforms=a.transforms[sel], template=a.template,
                                             image_sizes=[a.image_sizes[i] for i in idx])
        return out


def as_face_batch(x, *, missing: str = "raise") -> FaceBatch:
    """Turn the user's input into a :class:`FaceBatch`.

    Accepted: a FaceBatch; an AlignedFaces; a float (B, 3, h, w) chips tensor; a sequence of photos,
    of ``(photo, face)`` pairs, or of objects with ``.image`` and ``.face`` attributes (e.g.
    :class:`~facewidget.quality.degradations.DegradedImage`, whose ``.id`` is kept); a single photo.
    """
    if isinstance(x, FaceBatch):
        return x
    if isinstance(x, AlignedFaces):
        return FaceBatch.from_aligned(x)
    if isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim == 4:
        return FaceBatch.from_chips(x)
    if isinstance(x, np.ndarray) and x.ndim == 3:
        return FaceBatch.from_images([x], missing=missing)
    if isinstance(x, (str, bytes)) or not isinstance(x, Sequence):
        return FaceBatch.from_images([x], missing=missing)
    images, faces, ids = [], [], []
    for i, item in enumerate(x):
        if hasattr(item, "image") and hasattr(item, "face"):
            images.append(item.image)
            faces.append(item.face)
            ids.append(getattr(item, "id", i))
        elif isinstance(item, tuple) and len(item) == 2 and (item[1] is None or isinstance(item[1], Face)):
            images.append(item[0])
            faces.append(item[1])
            ids.append(i)
        else:
            images.append(item)
            faces.append(None)
            ids.append(i)
    return FaceBatch.from_images(images, faces, ids=ids, missing=missing)
