"""Named regions of the canonical face: coverage, disjointness, symmetry, drawability."""

from __future__ import annotations

import numpy as np
import pytest

from facewidget.canonical import REGION_NAMES, RegionError, canonical_face, region, regions, triangle_labels
from facewidget.canonical.regions import mirror_index, region_label_texture

REQUIRED = {"forehead", "left_brow", "right_brow", "left_eye", "right_eye", "nose", "left_cheek", "right_cheek",
            "upper_lip", "lower_lip", "chin", "jaw"}


def test_required_regions_exist_and_cover_all_898_triangles():
    """The README's promise: the regions cover every triangle of the canonical face."""
    assert REQUIRED <= set(REGION_NAMES)
    n = len(canonical_face().triangles)
    assert n == 898
    covered = np.concatenate([r.triangles for r in regions().values()])
    assert np.array_equal(np.unique(covered), np.arange(n))
    assert all(len(r.triangles) > 0 for r in regions().values())


def test_regions_are_disjoint():
    covered = np.concatenate([r.triangles for r in regions().values()])
    assert len(np.unique(covered)) == len(covered)
    labels = triangle_labels()
    for i, name in enumerate(REGION_NAMES):
        assert set(regions()[name].triangles) == set(np.flatnonzero(labels == i))


def test_left_regions_are_on_the_subjects_left_and_mirror_the_right():
    mesh = canonical_face()
    m = mirror_index()
    assert np.allclose(mesh.vertices[m] * [-1, 1, 1], mesh.vertices, atol=1e-3)
    for part in ("brow", "eye", "cheek"):
        left, right = region(f"left_{part}"), region(f"right_{part}")
        cl = mesh.vertices[mesh.triangles[left.triangles]].mean(1)
        cr = mesh.vertices[mesh.triangles[right.triangles]].mean(1)
        assert (cl[:, 0] > 0).all() and (cr[:, 0] < 0).all()
        assert set(m[left.vertices]) == set(right.vertices)
    # landmarks named by MediaPipe land in the right regions
    labels = triangle_labels()
    def regions_of(vertex):
        return {REGION_NAMES[labels[t]] for t in np.flatnonzero((mesh.triangles == vertex).any(1))}
    assert "left_eye" in regions_of(263) and "right_eye" in regions_of(33)  # outer eye corners
    assert regions_of(1) == {"nose"}  # nose tip
    assert regions_of(13) <= {"upper_lip", "lower_lip"}
    assert "chin" in regions_of(152) or "jaw" in regions_of(152)
    assert "forehead" in regions_of(10)


def test_regions_are_drawable():
    mesh = canonical_face()
    for r in regions().values():
        seg = r.outline_uv(mesh)
        assert seg.shape[1:] == (2, 2) and len(seg) >= 3
        assert np.isin(r.outline, r.vertices).all()
        d = r.to_dict()
        assert d["triangles"] == r.triangles.tolist() and len(d["outline"]) == len(r.outline)
    tex = region_label_texture(64)
    assert tex.shape == (64, 64) and set(np.unique(tex)) - {-1} <= set(range(len(REGION_NAMES)))


def test_unknown_region_is_a_named_error():
    with pytest.raises(RegionError, match="unknown region"):
        region("ear")
