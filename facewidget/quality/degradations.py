"""Seeded degradations that build quality-controlled sets from real photos.

Each degradation maps an RGB uint8 (H, W, 3) photo to a new one; ``severity`` s in [0, 1] sets its
strength (0 = untouched, but for jpeg, re-encoded at quality 95, and occlusion, which still draws one
small patch) and sizes scale with the face (``face_size`` = the face box width in
pixels; 0.25·min(H, W) when no face is given), so one severity means the same on every photo.

=========== =================================================================================
kind        what (s = severity)
=========== =================================================================================
blur        Gaussian blur, σ = 0.06·s·face_size px (s = 1 on a 234 px face: σ ≈ 14 px)
noise       additive Gaussian noise, σ = 60·s grey levels, per pixel and channel, clipped
jpeg        JPEG re-encoding (Pillow), quality = round(95 − 90·s) (s = 1: quality 5)
low_light   Y' = 255·g·(x/255)^γ with gain g = 1 − 0.85·s and γ = 1 + s (darker, crushed shadows)
occlusion   1 + round(3·s) opaque patches of side (0.15 + 0.25·s)·face_size, centres uniform in the
            face box, each a random uniform colour
downscale   shrink by f = 1 + 7·s (Pillow box filter); ``restore=True`` (default) enlarges back to
            (H, W) bilinearly (detail lost, geometry kept), ``restore=False`` keeps the small photo
rotate      in-plane rotation about the face centre by ±45·s degrees (sign random), same size,
            black corners (changes roll; the only degradation a pose measure sees)
eyes_closed synthetic edit for the eyes-open measure (needs the face): each eye's box (mesh eye
            contour, grown 20 % sideways and 50 % of its height up/down) is replaced by the skin patch
            just below it, and a dark lash line (2 px) is drawn across its middle (s is unused)
mouth_open  synthetic edit for the mouth-closed measure (needs the face): a dark ellipse
            (0.9·s' × 0.6·s' of the inner mouth width, s' = 0.5 + 0.5·s) centred between the inner lips
=========== =================================================================================

Randomness (noise, patch positions, rotation sign, severities drawn from a range) comes from a
``numpy.random.Generator``; :class:`DegradationGenerator` seeds one per output image from
``(seed, source index, copy index)`` so each image is reproducible on its own.

Faces: photometric degradations and ``downscale(restore=True)`` keep the geometry, so the source
face is carried over unchanged; ``downscale(restore=False)`` scales its landmarks; ``rotate``
``eyes_closed`` and ``mouth_open`` set ``face=None`` so that the face is detected again (the
pose / eye / mouth measures must be measured on the new photo, not assumed). ``redetect=True`` re-detects every degraded photo.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
from PIL import Image, ImageFilter

from ..errors import ParameterError, ShapeError
from ..faces import Face

KINDS = ("blur", "noise", "jpeg", "low_light", "occlusion", "downscale", "rotate", "eyes_closed", "mouth_open")
PHOTOMETRIC = ("blur", "noise", "jpeg", "low_light", "occlusion")
GEOMETRY_CHANGING = ("rotate", "eyes_closed", "mouth_open")
"""Kinds after which the face is detected again (its mesh is what they change)."""


def _check(image) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 3 or arr.shape[2] != 3 or arr.dtype != np.uint8:
        raise ShapeError(f"degradations need an RGB uint8 (H, W, 3) photo; got {arr.dtype} {arr.shape}")
    return arr


def _face_size(image: np.ndarray, face: Face | None) -> float:
    return float(face.width) if face is not None else 0.25 * min(image.shape[:2])


def blur(image, severity, rng, face=None):
    sigma = 0.06 * severity * _face_size(image, face)
    if sigma <= 0:
        return image.copy(), {"sigma_px": 0.0}
    out = Image.fromarray(image).filter(ImageFilter.GaussianBlur(radius=sigma))
    return np.asarray(out), {"sigma_px": float(sigma)}


def noise(image, severity, rng, face=None):
    sigma = 60.0 * severity
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape) if sigma > 0 else image
    return np.clip(np.round(noisy), 0, 255).astype(np.uint8), {"sigma_grey": float(sigma)}


def jpeg(image, severity, rng, face=None):
    quality = int(round(95 - 90 * severity))
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB")), {"quality": quality}


def low_light(image, severity, rng, face=None):
    gain, gamma = 1.0 - 0.85 * severity, 1.0 + severity
    out = 255.0 * gain * (image.astype(np.float64) / 255.0) ** gamma
    return np.clip(np.round(out), 0, 255).astype(np.uint8), {"gain": float(gain), "gamma": float(gamma)}


def occlusion(image, severity, rng, face=None):
    h, w = image.shape[:2]
    size = _face_size(image, face)
    x0, y0, x1, y1 = face.box if face is not None else (w * 0.25, h * 0.25, w * 0.75, h * 0.75)
    count = 1 + int(round(3 * severity))
    side = max(1, int(round((0.15 + 0.25 * severity) * size)))
    out = image.copy()
    patches = []
    for _ in range(count):
        cx, cy = rng.uniform(x0, x1), rng.uniform(y0, y1)
        colour = rng.integers(0, 256, 3)
        a, b = int(round(cx - side / 2)), int(round(cy - side / 2))
        out[max(0, b):max(0, b + side), max(0, a):max(0, a + side)] = colour
        patches.append({"x": a, "y": b, "side": side, "colour": colour.tolist()})
    return out, {"patches": patches}


def downscale(image, severity, rng, face=None, restore: bool = True):
    factor = 1.0 + 7.0 * severity
    h, w = image.shape[:2]
    small = Image.fromarray(image).resize((max(1, round(w / factor)), max(1, round(h / factor))), Image.Resampling.BOX)
    out = small.resize((w, h), Image.Resampling.BILINEAR) if restore else small
    return np.asarray(out), {"factor": float(factor), "restore": bool(restore), "size": [small.height, small.width]}


def rotate(image, severity, rng, face=None):
    sign = 1.0 if rng.random() < 0.5 else -1.0
    angle = sign * 45.0 * severity
    centre = face.center if face is not None else (image.shape[1] / 2, image.shape[0] / 2)
    out = Image.fromarray(image).rotate(angle, resample=Image.Resampling.BICUBIC, center=centre, fillcolor=(0, 0, 0))
    return np.asarray(out), {"angle_deg": float(angle)}


def _need_face(face, kind):
    if face is None:
        raise ShapeError(f"the {kind} edit needs the face (mesh) of the photo")


def eyes_closed(image, severity, rng, face=None):
    from .mesh_measures import LEFT_EYE, RIGHT_EYE

    _need_face(face, "eyes_closed")
    out = image.copy()
    h_img, w_img = image.shape[:2]
    boxes = []
    for eye in (RIGHT_EYE, LEFT_EYE):
        p = face.landmarks[list(eye), :2].astype(np.float64)
        (x0, y0), (x1, y1) = p.min(0), p.max(0)
        w, h = x1 - x0, max(y1 - y0, 1.0)
        bx0, bx1 = int(max(0, x0 - 0.2 * w)), int(min(w_img, x1 + 0.2 * w))
        by0, by1 = int(max(0, y0 - 0.5 * h)), int(min(h_img, y1 + 0.5 * h))
        hh = by1 - by0
        src0 = by1 + hh // 2
        if src0 + hh > h_img or bx1 <= bx0 or hh <= 0:
            continue
        out[by0:by1, bx0:bx1] = image[src0:src0 + hh, bx0:bx1]
        ym = (by0 + by1) // 2
        out[max(0, ym - 1):ym + 1, bx0 + int(0.2 * w):bx1 - int(0.2 * w)] = (40, 30, 30)
        boxes.append([bx0, by0, bx1, by1])
    return out, {"eye_boxes": boxes}


def mouth_open(image, severity, rng, face=None):
    from PIL import ImageDraw

    from .mesh_measures import LIP_LOWER_INNER, LIP_UPPER_INNER, MOUTH_CORNER_LEFT, MOUTH_CORNER_RIGHT

    _need_face(face, "mouth_open")
    p = face.landmarks[:, :2].astype(np.float64)
    width = float(np.linalg.norm(p[MOUTH_CORNER_LEFT] - p[MOUTH_CORNER_RIGHT]))
    c = (p[LIP_UPPER_INNER] + p[LIP_LOWER_INNER]) / 2
    k = 0.5 + 0.5 * severity
    rx, ry = 0.45 * k * width, 0.3 * k * width
    out = Image.fromarray(image.copy())
    ImageDraw.Draw(out).ellipse([c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry], fill=(50, 20, 20))
    return np.asarray(out), {"ellipse": [float(c[0]), float(c[1]), rx, ry]}


DEGRADATIONS: dict[str, Callable] = {"blur": blur, "noise": noise, "jpeg": jpeg, "low_light": low_light,
                                     "occlusion": occlusion, "downscale": downscale, "rotate": rotate,
                                     "eyes_closed": eyes_closed, "mouth_open": mouth_open}


def degrade(image, kind: str, severity: float, *, rng: np.random.Generator | int = 0, face: Face | None = None,
            **options) -> tuple[np.ndarray, dict[str, Any]]:
    """Apply one degradation; returns (new RGB uint8 photo, parameters used incl. kind and severity)."""
    img = _check(image)
    if kind not in DEGRADATIONS:
        raise ShapeError(f"unknown degradation {kind!r}; choose one of {', '.join(KINDS)}")
    if not 0.0 <= float(severity) <= 1.0:
        raise ParameterError("severity", severity, "a number in [0, 1]")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    out, params = DEGRADATIONS[kind](img, float(severity), rng, face=face, **options)
    return np.array(out, dtype=np.uint8, order="C"), {"kind": kind, "severity": float(severity), **params}


def transfer_face(face: Face | None, kind: str, params: dict, new_shape) -> Face | None:
    """The source face in the degraded photo when its geometry is known, else None (detect again)."""
    if face is None or kind in GEOMETRY_CHANGING:
        return None
    if kind == "downscale" and not params.get("restore", True):
        h, w = new_shape[:2]
        sy, sx = h / face.image_size[0], w / face.image_size[1]
        lm = face.landmarks.copy()
        lm[:, 0] = (lm[:, 0] + 0.5) * sx - 0.5
        lm[:, 1] = (lm[:, 1] + 0.5) * sy - 0.5
        lm[:, 2] *= sx
        box = (float(lm[:, 0].min()), float(lm[:, 1].min()), float(lm[:, 0].max()), float(lm[:, 1].max()))
        return replace(face, landmarks=lm, box=box, image_size=(h, w))
    return face


@dataclass
class DegradedImage:
    """One photo of a quality-controlled set.

    Attributes:
        image: RGB uint8 (H, W, 3).
        face: the face in it (carried over or detected), or None (to be detected).
        source: name or index of the clean photo it came from.
        kind: ``"clean"`` or a degradation kind; params: what was applied (kind, severity, ...).
        seed: the seed of this image's generator ((seed, source index, copy index)).
        id: ``"source/kind/copy"``, unique within a set.
    """

    image: np.ndarray
    face: Face | None
    source: Any
    kind: str
    params: dict = field(default_factory=dict)
    seed: tuple = ()
    id: str = ""


class DegradationGenerator:
    """Builds quality-controlled sets: every photo clean plus degraded copies, all seeded.

    Args:
        seed: master seed.
        kinds: degradations to apply (default all photometric ones plus downscale).
        severity: a number or a (low, high) range drawn uniformly per copy.
        copies: degraded copies per photo and kind.
        redetect: detect the face again on every degraded photo (default: carry the source face
            over where the geometry is unchanged; see the module docstring).
        options: per-kind keyword options, e.g. ``{"downscale": {"restore": False}}``.
    """

    def __init__(self, seed: int = 0, kinds: Sequence[str] | None = None, severity=(0.6, 1.0), copies: int = 1,
                 redetect: bool = False, options: dict[str, dict] | None = None, include_clean: bool = True):
        self.seed = int(seed)
        self.kinds = tuple(kinds) if kinds is not None else PHOTOMETRIC + ("downscale",)
        for k in self.kinds:
            if k not in DEGRADATIONS:
                raise ShapeError(f"unknown degradation {k!r}; choose from {', '.join(KINDS)}")
        lo, hi = (float(severity), float(severity)) if np.isscalar(severity) else map(float, severity)
        if not 0.0 <= lo <= hi <= 1.0:
            raise ParameterError("severity", severity, "a number or a (low, high) range within [0, 1], low <= high")
        self.severity = (lo, hi)
        self.copies = int(copies)
        self.redetect = bool(redetect)
        self.options = dict(options or {})
        self.include_clean = include_clean

    def params(self) -> dict:
        return {"seed": self.seed, "kinds": list(self.kinds), "severity": list(self.severity), "copies": self.copies,
                "redetect": self.redetect, "options": self.options}

    def build(self, photos, faces=None) -> list[DegradedImage]:
        """Photos as a dict name → photo or a sequence (names = indices); faces: same keys, optional.

        Missing faces are detected on the clean photo (needed to size the degradations)."""
        from ..faces import detect_face
        from ..io import load_image

        items = list(photos.items()) if isinstance(photos, dict) else list(enumerate(photos))
        if faces is not None and not isinstance(faces, dict):
            faces = dict(enumerate(faces))
        out: list[DegradedImage] = []
        for src_index, (name, photo) in enumerate(items):
            img = load_image(photo)
            face = (faces or {}).get(name) or detect_face(img)
            if self.include_clean:
                out.append(DegradedImage(img, face, name, "clean", {"kind": "clean", "severity": 0.0},
                                         (self.seed, src_index, -1), f"{name}/clean"))
            for k_index, kind in enumerate(self.kinds):
                for copy in range(self.copies):
                    seed = (self.seed, src_index, k_index * 1000 + copy)
                    rng = np.random.default_rng(list(seed))
                    lo, hi = self.severity
                    sev = float(rng.uniform(lo, hi)) if hi > lo else lo
                    new, params = degrade(img, kind, sev, rng=rng, face=face, **self.options.get(kind, {}))
                    new_face = None if self.redetect else transfer_face(face, kind, params, new.shape)
                    out.append(DegradedImage(new, new_face, name, kind, params, seed, f"{name}/{kind}/{copy}"))
        return out


def detect_missing(items: list[DegradedImage]) -> list[DegradedImage]:
    """Detect faces where ``face`` is None (rotated or re-detected photos); drops photos without one."""
    from ..faces import detect_faces

    kept = []
    for item in items:
        if item.face is None:
            found = detect_faces(item.image, max_faces=1)
            if not found:
                continue
            item = replace(item, face=found[0])
        kept.append(item)
    return kept
