"""A seeded augmented data set of the sample photos, written to a folder (for tests, benchmarks, demos).

Image k is made from sample photo ``k mod len(photos)`` with its own generator (seed, k): a random
horizontal flip, crop (88–100 % of each side), rotation (±12°), colour jitter (brightness, contrast,
saturation ±25 %) and, for about half the images, one degradation of
:mod:`facewidget.quality.degradations` (blur, noise, JPEG, low light, down-scaling). Photos are
first cropped around their face (one face width of margin) and shrunk so that their longer side is
``max_side`` pixels (small files, quick runs). ``bad``
adds unusable files: a truncated file that no decoder reads and a flat grey picture without a face.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

PORTRAITS = ("obama", "obama2", "obama3", "biden", "astronaut")
DEGRADATIONS = ("blur", "noise", "jpeg", "low_light", "downscale")


def _shrink(img: np.ndarray, max_side: int):
    from PIL import Image

    pil = Image.fromarray(img)
    scale = max_side / max(pil.size)
    if scale < 1:
        pil = pil.resize((max(1, round(pil.width * scale)), max(1, round(pil.height * scale))), Image.Resampling.LANCZOS)
    return pil


def _portrait(img: np.ndarray) -> np.ndarray:
    """The photo cropped to its largest face with a margin of one face width around it (whole photo
    when no face is found), so that a small copy keeps a detectable face."""
    from ..faces import detect_faces

    faces = detect_faces(img, max_faces=1)
    if not faces:
        return img
    x0, y0, x1, y1 = faces[0].box
    m = max(x1 - x0, y1 - y0)
    h, w = img.shape[:2]
    return img[max(0, int(y0 - m)):min(h, int(y1 + m)), max(0, int(x0 - m)):min(w, int(x1 + m))]


def augment(image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """One seeded augmentation of an RGB uint8 photo; returns (photo, what was done)."""
    from PIL import Image, ImageEnhance

    from ..quality.degradations import degrade

    pil = Image.fromarray(image)
    done: dict = {}
    if rng.random() < 0.5:
        pil = pil.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        done["flip"] = True
    w, h = pil.size
    fx, fy = rng.uniform(0.88, 1.0, 2)
    cw, ch = int(w * fx), int(h * fy)
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    pil = pil.crop((x0, y0, x0 + cw, y0 + ch))
    angle = float(rng.uniform(-12, 12))
    pil = pil.rotate(angle, resample=Image.Resampling.BILINEAR, expand=False, fillcolor=(0, 0, 0))
    b, c, s = rng.uniform(0.75, 1.25, 3)
    pil = ImageEnhance.Color(ImageEnhance.Contrast(ImageEnhance.Brightness(pil).enhance(b)).enhance(c)).enhance(s)
    done.update(crop=[x0, y0, cw, ch], rotate=angle, jitter=[float(b), float(c), float(s)])
    out = np.asarray(pil.convert("RGB"))
    if rng.random() < 0.5:
        kind = str(rng.choice(DEGRADATIONS))
        out, params = degrade(out, kind, float(rng.uniform(0.2, 0.6)), rng=rng)
        done["degradation"] = kind
    return np.ascontiguousarray(out), done


def augmented_dataset(folder, n: int, *, seed: int = 0, max_side: int = 192, photos=PORTRAITS,
                      bad: bool = True) -> list[Path]:
    """Write ``n`` augmented sample photos (PNG) to ``folder`` (plus two bad files with ``bad``);
    returns the paths in order (bad files last)."""
    from PIL import Image

    from .. import data

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    base = [np.asarray(_shrink(_portrait(data.sample(p)), max_side).convert("RGB")) for p in photos]
    paths = []
    for k in range(int(n)):
        rng = np.random.default_rng([int(seed), k])
        img, _ = augment(base[k % len(base)], rng)
        p = folder / f"img{k:05d}.png"
        Image.fromarray(img).save(p)
        paths.append(p)
    if bad:
        trunc = folder / "zz_truncated.png"
        trunc.write_bytes(paths[0].read_bytes()[:64])
        flat = folder / "zz_no_face.png"
        Image.fromarray(np.full((max_side, max_side, 3), 127, np.uint8)).save(flat)
        paths += [trunc, flat]
    return paths
