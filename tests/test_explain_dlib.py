"""CorrRISE with the real dlib face ResNet on the real sample photos (issue 4).

A genuine pair (two photos of Obama) where one region of one photo was replaced by the same region
of another person (Biden), placed through the model's own alignment: the region's box comes from
the photo's landmarks in chip space, Biden's aligned chip is warped into the photo with the inverse
of that photo's chip transform and blended in with a feathered edge. The pair's dissimilar map of
the altered photo must peak on the swapped region, and the unaltered pair must not peak there.

Why a swapped *identity* region and not an inverted or noise square (which the synthetic-model test
uses): CorrRISE correlates "this pixel shown" with the score, and its occluder is black. Black on
the face is what lowers dlib's similarity most, so showing an inverted or noise cheek still scores
better than blacking it out; such a patch comes out *similar* (signed mean about +0.13 inside, the
dissimilar map about 0.005 inside vs 0.03 outside at N = 600). Only content that contradicts the
identity (another person's mouth or eye) scores worse than black. dlib's distances here: clean
pair 0.32; Biden's mouth 0.46, Biden's right eye and brow 0.43 (threshold 0.6: still a match).

Measured (obama2 vs obama, N = 600, seeds 0/1/2): mean dissimilar inside the region / outside =
2.73 / 2.13 / 3.00 (mouth) and 3.86 / 2.56 / 3.25 (right eye); unaltered pair 0.20-0.36 and
0.02-0.16, its peaks on the chip's border (the patch masks' fixed square count couples a kept
border pixel with an occluded face, a weak negative correlation everywhere off the face).

Masks: 5 squares of 20 px at 112 (27 px at 150) rather than the default 30 (40 px): with large
squares every mask blacks out much of the central face and that dominates the score's variance.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

import facewidget as fw
from .explain_helpers import one_thread

_one_thread = pytest.fixture(scope="module", autouse=True)(one_thread)

PARAMS = dict(method="corrrise", n=600, patch=20, seed=0)
# MediaPipe landmarks spanning each region: mouth corners, upper / lower lip; the subject's right
# eye corners, lids and brow.
REGIONS = {"mouth": [61, 291, 0, 17], "right-eye": [33, 133, 159, 145, 70, 105, 46]}
PAD = 6  # chip px around the landmarks' box
MARGIN = 4  # chip px: the feathered edge (Gaussian, sigma 2) reaches about this far beyond the box
FEATHER = 2.0
# The maps' resolution is the mask square (27 px at 150): a pixel's value mixes the squares that
# covered it, so the peak may sit up to half a square off the region (seeds 0-2 at N = 600: mouth
# peaks 0 px, right eye 0, 8 (forehead above the brow, seed 1) and 0 px outside the padded box).
PEAK_TOL = 13


@pytest.fixture(scope="module")
def model():
    return fw.load_model("dlib-resnet", device="cpu")


@pytest.fixture(scope="module")
def aligned(model, sample_images, sample_faces):
    """name -> (photo, face, float (3, h, w) chip, (2, 3) photo→chip transform) for the photos used."""
    out = {}
    for name in ("obama", "obama2", "biden"):
        face = sample_faces[name][0]
        al = model.align(sample_images[name], [face])
        out[name] = (sample_images[name], face, al.chips[0].numpy(), al.transforms[0].numpy())
    return out


def region_box(face, transform, region, size):
    """(y0, y1, x0, x1) chip box around the region's landmarks, padded."""
    pts = face.landmarks[REGIONS[region], :2] @ transform[:, :2].T + transform[:, 2]
    (x0, y0), (x1, y1) = np.floor(pts.min(0)) - PAD, np.ceil(pts.max(0)) + PAD
    return max(int(y0), 0), min(int(y1), size[0]), max(int(x0), 0), min(int(x1), size[1])


def swap_region(target, donor, box):
    """The target photo with the box (chip space) of the donor's aligned chip blended in."""
    image, _, _, transform = target
    donor_chip = donor[2]
    h, w = donor_chip.shape[-2:]
    y0, y1, x0, x1 = box
    alpha = np.zeros((h, w), np.float32)
    alpha[y0:y1, x0:x1] = 1
    alpha = gaussian_filter(alpha, FEATHER)
    a = fw.warp_to_image(alpha, transform, image.shape)[..., None]
    other = np.moveaxis(fw.warp_to_image(donor_chip[None], transform, image.shape)[0], 0, -1) * 255
    return np.clip(image * (1 - a) + other * a, 0, 255).round().astype(np.uint8)


def inside_mask(box, size, margin=MARGIN):
    y0, y1, x0, x1 = box
    m = np.zeros(size, bool)
    m[max(y0 - margin, 0):y1 + margin, max(x0 - margin, 0):x1 + margin] = True
    return m


def peak_stats(dissimilar, box):
    """argmax of the lightly smoothed map (sigma 3 chip px), whether it lies within PEAK_TOL of the
    box, and mean inside / mean outside the box (+ MARGIN)."""
    inside = inside_mask(box, dissimilar.shape)
    smooth = gaussian_filter(dissimilar, 3.0)
    peak = np.unravel_index(np.argmax(smooth), smooth.shape)
    ratio = dissimilar[inside].mean() / max(dissimilar[~inside].mean(), 1e-9)
    return peak, bool(inside_mask(box, dissimilar.shape, PEAK_TOL)[peak]), float(ratio)


@pytest.fixture(scope="module")
def clean_pair(model, aligned):
    (img_a, face_a, _, _), (img_b, face_b, _, _) = aligned["obama2"], aligned["obama"]
    return fw.explain_pair(img_a, img_b, model, faces=(face_a, face_b), **PARAMS)


@pytest.mark.parametrize("region", list(REGIONS))
def test_dlib_dissimilar_map_peaks_on_a_swapped_region(region, model, aligned, clean_pair):
    partner, target = aligned["obama2"], aligned["obama"]
    size = target[2].shape[-2:]
    box = region_box(target[1], target[3], region, size)
    altered = swap_region(target, aligned["biden"], box)
    res = fw.explain_pair(partner[0], altered, model, faces=(partner[1], target[1]), **PARAMS)
    assert res.score > clean_pair.score + 0.05  # the swap moved the pair apart (still the same person)
    dissimilar = res.b.maps["dissimilar"]
    peak, hit, ratio = peak_stats(dissimilar, box)
    assert hit and ratio >= 2.0, (region, box, peak, ratio)
    # the photo-space map peaks on the swapped region too
    photo = res.b.photo_map("dissimilar")
    near = inside_mask(box, dissimilar.shape, PEAK_TOL).astype(np.float32)
    inside_photo = fw.warp_to_image(near, target[3], altered.shape) > 0.5
    assert inside_photo[np.unravel_index(np.argmax(gaussian_filter(photo, 3.0)), photo.shape)], region


def test_dlib_unaltered_pair_does_not_peak_there(aligned, clean_pair):
    target = aligned["obama"]
    dissimilar = clean_pair.b.maps["dissimilar"]
    for region in REGIONS:
        box = region_box(target[1], target[3], region, dissimilar.shape)
        peak, hit, ratio = peak_stats(dissimilar, box)
        assert not hit and ratio < 1.0, (region, box, peak, ratio)
    # sign convention with a distance model: showing the central face raises the similarity (lowers
    # dlib's distance), so the face centre is "similar" in both images; of the similar evidence that
    # is significant (noise on the background is not), most lies there
    for ef in (clean_pair.a, clean_pair.b):
        centre = ef.maps["signed"][45:105, 45:105]
        evidence = ef.maps["similar"] * ef.maps["significant"]
        assert centre.mean() > 0.1 and (evidence[45:105, 45:105].sum() > 0.5 * evidence.sum())
