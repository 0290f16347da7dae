"""Photo-space maps onto the canonical face and back."""

from __future__ import annotations

import numpy as np
import pytest

from facewidget.canonical import CanonicalMap, canonical_face, project, region, uv_atlas
from facewidget.canonical.raster import rasterise
from facewidget.canonical.visibility import visible_triangles
from facewidget.errors import ShapeError

FRONTAL = ["obama", "biden", "obama2"]


def region_mask(face, names) -> np.ndarray:
    """(H, W) float32: 1 exactly on the photo pixels covered by the face's triangles of ``names``."""
    tris = canonical_face().triangles
    picked = np.concatenate([region(n).triangles for n in names])
    tri_img, _ = rasterise(face.landmarks[:468, :2], tris[picked], face.image_size)
    return (tri_img >= 0).astype(np.float32)


def share(cmap: CanonicalMap, names) -> float:
    return sum(r["share"] for r in cmap.region_scores() if r["region"] in names)


@pytest.mark.parametrize("name", FRONTAL)
@pytest.mark.parametrize("part", [("upper_lip", "lower_lip"), ("left_eye",), ("right_eye",)])
def test_a_map_on_a_region_of_the_photo_lands_in_that_region(sample_faces, name, part):
    face = sample_faces[name][0]
    cmap = project(region_mask(face, part), face)
    assert share(cmap, part) >= 0.90
    # and the other side's eye gets (almost) nothing: left/right are not swapped
    if part[0].endswith("_eye"):
        other = "right_eye" if part[0] == "left_eye" else "left_eye"
        assert share(cmap, (other,)) < 0.02


def test_subject_left_eye_is_on_the_image_right(sample_faces):
    face = sample_faces["obama"][0]
    mask = np.zeros(face.image_size, np.float32)
    mask[:, int(face.landmarks[168, 0]):] = 1.0  # image right of the nasion
    scores = {r["region"]: r for r in project(mask, face).region_scores()}
    assert scores["left_eye"]["mean"] > 0.95 and scores["right_eye"]["mean"] < 0.05


@pytest.mark.parametrize("name", FRONTAL)
def test_project_then_translate_reproduces_the_map_on_visible_triangles(sample_faces, name):
    face = sample_faces[name][0]
    h, w = face.image_size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    period = face.width / 3  # smooth on the scale of the texture's resolution
    photo = (np.sin(2 * np.pi * xx / period) * np.cos(2 * np.pi * yy / period)).astype(np.float32)
    cmap = project(photo, face, resolution=512)
    back = cmap.translate(face)
    assert back.shape == (h, w)
    ok = np.isfinite(back)
    inside = region_mask(face, [n for n in ("forehead", "nose", "left_cheek", "right_cheek", "chin")]) > 0
    assert ok[inside].mean() > 0.97  # visible triangles come back
    err = np.abs(back[ok] - photo[ok])
    assert err.mean() < 0.03 and np.quantile(err, 0.99) < 0.2
    assert np.isnan(back[0, 0]) or not inside[0, 0]  # outside the face: fill (NaN)


def test_unseen_triangles_are_missing_not_zero(sample_faces):
    face = sample_faces["obama_partial_face"][0]  # the photo cuts the face: part of the mesh is outside
    cmap = project(np.ones(face.image_size, np.float32), face)
    vis = visible_triangles(face)
    atlas = uv_atlas(256)
    seen = vis[atlas.texel_triangles]
    assert (~seen).sum() > 1000
    flat = cmap.texture.reshape(-1)[atlas.texels]
    assert np.isnan(flat[~seen]).all() and np.allclose(flat[seen], 1.0)
    assert cmap.valid.sum() == seen.sum()
    assert cmap.mean() == pytest.approx(1.0)  # unseen texels do not pull the mean towards 0


def test_turned_away_triangles_are_unseen():
    """A mesh turned 90° about the vertical axis shows (almost) nothing of its far side."""
    mesh = canonical_face()

    class Turned:
        def __init__(self, yaw_deg):
            a = np.radians(yaw_deg)
            rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
            v = mesh.vertices @ rot.T
            # canonical (x right-of-subject-left, y up, z to viewer) → photo (x right, y down, z away)
            self.landmarks = np.stack([v[:, 0] * 20 + 300, -v[:, 1] * 20 + 300, -v[:, 2] * 20], -1).astype(np.float32)
            self.image_size = (600, 600)

    frontal, turned = visible_triangles(Turned(0)), visible_triangles(Turned(70))
    left = region("left_cheek").triangles
    right = region("right_cheek").triangles
    assert frontal[left].mean() > 0.9 and frontal[right].mean() > 0.9
    # one cheek turns away, the other towards the camera
    assert min(turned[left].mean(), turned[right].mean()) < 0.2
    assert max(turned[left].mean(), turned[right].mean()) > 0.9


def test_bad_inputs_raise_named_errors(sample_faces):
    face = sample_faces["obama"][0]
    with pytest.raises(ShapeError):
        project(np.zeros((10, 10, 3)), face)
    with pytest.raises(ShapeError, match="warp chip maps"):
        project(np.zeros((150, 150)), face)
    with pytest.raises(ShapeError):
        project(np.zeros(face.image_size), object())
    with pytest.raises(ShapeError, match="resolution"):
        project(np.zeros(face.image_size), face, resolution=3)
    with pytest.raises(ShapeError):
        CanonicalMap.from_vertex_values(np.zeros(10))


def test_a_canonical_map_translates_onto_another_persons_photo(sample_faces):
    """Obama's mouth, taken to the canonical face, lands on Biden's mouth in Biden's photo."""
    src, dst = sample_faces["obama"][0], sample_faces["biden"][0]
    cmap = project(region_mask(src, ("upper_lip", "lower_lip")), src)
    on_biden = np.nan_to_num(cmap.translate(dst, dst.image_size))
    biden_mouth = region_mask(dst, ("upper_lip", "lower_lip")) > 0
    assert on_biden.shape == tuple(dst.image_size)
    assert on_biden[biden_mouth].sum() / on_biden.sum() > 0.9
    assert on_biden[biden_mouth].mean() > 0.9
    with pytest.raises(ShapeError):
        cmap.translate(dst, (0, 5))


def test_a_canonical_map_saves_and_loads(sample_faces, tmp_path):
    face = sample_faces["biden"][0]
    cmap = project(region_mask(face, ("nose",)), face, resolution=64, metadata={"method": "test"})
    cmap.save(tmp_path / "m.npz")
    back = CanonicalMap.load(tmp_path / "m.npz")
    np.testing.assert_array_equal(back.texture, cmap.texture)
    np.testing.assert_array_equal(back.valid, cmap.valid)
    np.testing.assert_array_equal(back.vertex_values, cmap.vertex_values)
    assert back.metadata["method"] == "test" and back.metadata["pose"] == pytest.approx(list(face.pose))
