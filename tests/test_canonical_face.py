"""MediaPipe's canonical face parsed from the landmarker bundle."""

from __future__ import annotations

import numpy as np
import pytest

import facewidget as fw
from facewidget.canonical import parse_geometry_metadata


def test_canonical_face_geometry():
    c = fw.canonical_face()
    assert c.vertices.shape == (468, 3) and c.uv.shape == (468, 2) and c.triangles.shape == (898, 3)
    assert c.vertices[:, 0].min() == pytest.approx(-7.743, abs=0.01) and c.vertices[:, 0].max() == pytest.approx(7.743, abs=0.01)
    assert -9.5 < c.vertices[:, 1].min() < -9.3 and 8.2 < c.vertices[:, 1].max() < 8.3
    assert (c.uv >= 0).all() and (c.uv <= 1).all()
    assert set(np.unique(c.triangles)) == set(range(468))  # every vertex is used
    n = c.vertex_normals()
    assert n[1, 2] > 0.9  # the nose tip faces the viewer (+z)
    # The subject's left eye (mesh 263) is on +x, the right (33) on -x, both above the nose tip.
    assert c.vertices[263, 0] > 0 > c.vertices[33, 0]
    assert c.vertices[263, 1] > c.vertices[1, 1]


def test_junk_metadata_is_refused():
    with pytest.raises(fw.AssetError):
        parse_geometry_metadata(b"\x0a\x05\x08\x01")  # a mesh whose vertex_type is 1
    with pytest.raises(fw.AssetError):
        parse_geometry_metadata(b"\x12\x00")  # no mesh at all
