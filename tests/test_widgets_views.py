"""Kernel side of the views of issues 12 (item 3) and 13: the colour bar's quantity, p-values and
significance travel on the grid of the maps they qualify, and the scale options are traits."""

from __future__ import annotations

import numpy as np
import pytest

from facewidget.errors import FacewidgetError
from facewidget.widgets import PairView
from facewidget.widgets.encode import decode_payload
from facewidget.widgets.pair import map_quantity
from tests.widget_data import pair_explanation


@pytest.fixture(scope="module")
def pair(sample_images, sample_faces):
    ex = pair_explanation(sample_images["obama"], sample_faces["obama"][0],
                          sample_images["biden"], sample_faces["biden"][0])
    for ef in (ex.a, ex.b):
        s = ef.maps["similar"]
        # a p-value that falls where the map is strong; significant where p <= 0.01
        ef.maps["p_value"] = np.clip(1.0 - s / s.max(), 1e-6, 1.0).astype(np.float32)
        ef.maps["significant"] = (ef.maps["p_value"] <= 0.01).astype(np.float32)
    ex.manifest = {**ex.manifest, "method": "corrrise", "params": {"fdr": 0.05}}
    return ex


@pytest.mark.parametrize("method, quantity", [
    ("corrrise", "correlation r"), ("rise", "similarity drop (score units)"),
    ("occlusion", "similarity drop (score units)"), ("gradcam", "gradient-weighted activation"),
    ("scorecam", "score-weighted activation"), ("made-up", "map value"), (None, "map value"),
])
def test_the_colour_bar_names_the_methods_quantity(method, quantity):
    assert map_quantity({"method": method}) == quantity


def test_p_values_and_significance_travel_on_the_maps_grid(pair):
    view = PairView(pair)
    assert view.quantity == "correlation r"
    assert view.shared_scale is True and view.show_insignificant is False
    for side in "ab":
        maps = view.maps[side]
        assert {"similar", "dissimilar", "p_value", "significant"} <= set(maps)
        for name in ("p_value", "significant"):
            assert maps[name]["shape"] == maps["similar"]["shape"]
            assert maps[name]["affine"] == maps["similar"]["affine"]
        assert maps["significant"]["dtype"] == "uint8"
        sig = decode_payload(maps["significant"])
        assert set(np.unique(sig)) <= {0.0, 1.0}
        want = getattr(pair, side).maps
        np.testing.assert_array_equal(sig, want["significant"])
        np.testing.assert_allclose(decode_payload(maps["p_value"]), want["p_value"], rtol=2e-3, atol=1e-6)
        # the significant pixels are where the similar map is strongest
        sim = decode_payload(maps["similar"])
        assert sim[sig == 1].min() > sim[sig == 0].max() * 0.9


def test_maps_without_significance_draw_every_pixel(sample_images, sample_faces):
    ex = pair_explanation(sample_images["obama"], sample_faces["obama"][0],
                          sample_images["biden"], sample_faces["biden"][0])
    view = PairView(ex)
    assert "significant" not in view.maps["a"] and "p_value" not in view.maps["a"]
    assert view.quantity == "map value"  # the test maps come from no known method


def test_a_significance_map_of_another_shape_is_a_named_error(pair):
    view = PairView(pair)
    with pytest.raises(FacewidgetError, match="significant"):
        view._set_maps({"a": {"similar": pair.a.maps["similar"], "significant": np.ones((5, 5), np.float32)}})


# --- linked canonical regions (issue 13 item 3) ---------------------------------------------------

def test_selecting_a_canonical_region_outlines_it_on_the_linked_photos(pair):
    from facewidget.canonical.regions import region
    from facewidget.widgets import CanonicalFaceView

    view = PairView(pair)
    assert "nose" in view.region_names  # hover names regions even before a link
    labels = np.frombuffer(view.triangle_regions, dtype="<i2")
    np.testing.assert_array_equal(np.flatnonzero(labels == view.region_names.index("nose")), region("nose").triangles)
    face_view = CanonicalFaceView(None, {n: (region(n).triangles, 0.1 * k) for k, n in enumerate(["nose", "chin"])})
    face_view.link(view)
    assert view.region_names == ["nose", "chin"] and view.region_outline == {}
    face_view.selected_region = "nose"
    assert view.region_outline["name"] == "nose"
    for side in "ab":
        seg = np.frombuffer(view.region_outline[side], dtype="<f4").reshape(-1, 4)
        lm = getattr(pair, side).face.landmarks[:, :2]
        want = lm[region("nose").outline].reshape(-1, 4)
        np.testing.assert_allclose(seg, want, atol=1e-3)  # the nose's boundary through this face's mesh
    face_view.selected_region = ""
    assert view.region_outline == {}


def test_linking_a_view_without_a_face_mesh_is_a_named_error():
    from facewidget.widgets import CanonicalFaceView

    with pytest.raises(FacewidgetError, match="cannot show canonical regions"):
        CanonicalFaceView().link(object())


def test_region_bars_use_the_faces_colour_map():
    from facewidget.widgets.canonical import region_bar_colours
    from facewidget.widgets.colormap import lut

    cols = region_bar_colours([0.0, 0.5, 1.0, float("nan")], "viridis", "rdbu", "auto")
    table = lut("viridis")
    assert cols[0] == "rgb({},{},{})".format(*table[0]) and cols[2] == "rgb({},{},{})".format(*table[255])
    assert cols[1] == "rgb({},{},{})".format(*table[128]) and cols[3] == "#bdbdbd"
    assert region_bar_colours([-1.0, 1.0], "viridis", "rdbu", "auto")[0] == "rgb({},{},{})".format(*lut("rdbu")[0])


# --- the canonical map's uv texture (issue 13 item 7) ------------------------------------------

def test_the_canonical_view_sends_the_maps_uv_texture(sample_images, sample_faces):
    import facewidget as fw
    from facewidget.canonical.atlas import uv_atlas
    from facewidget.widgets import CanonicalFaceView
    from tests.widget_data import NOSE_TIP, gaussian

    img, face = sample_images["obama"], sample_faces["obama"][0]
    cmap = fw.canonical.project(gaussian(img.shape[:2], face.landmarks[NOSE_TIP, :2], 40.0), face)
    view = CanonicalFaceView.from_canonical_map(cmap)
    assert view.face_style == "texture"
    r = cmap.resolution
    assert view.texture["shape"] == [r, r] and view.texture["dtype"] == "float16"
    np.testing.assert_allclose(np.frombuffer(view.uv, "<f4").reshape(-1, 2), fw.canonical_face().uv, atol=1e-7)
    sent = decode_payload(view.texture)
    inside = uv_atlas(r).inside
    # inside the mesh: the map, NaN where the photo did not show the face
    seen = inside & cmap.valid
    np.testing.assert_allclose(sent[seen], cmap.texture[seen], rtol=2e-3, atol=1e-3 * np.nanmax(cmap.texture))
    assert np.isnan(sent[inside & ~cmap.valid]).all()
    # outside the mesh: a copy of the nearest inside texel (no seams when drawn per triangle)
    from scipy import ndimage

    _d, (rows, cols) = ndimage.distance_transform_edt(~inside, return_indices=True)
    np.testing.assert_array_equal(sent[~inside], sent[rows[~inside], cols[~inside]])
    assert inside[rows[~inside], cols[~inside]].all()


def test_a_texture_that_is_not_square_is_a_named_error():
    from facewidget.widgets import CanonicalFaceView

    with pytest.raises(FacewidgetError, match="square"):
        CanonicalFaceView(texture=np.zeros((4, 8), np.float32))


def test_overlay_of_an_explained_face_sends_its_significance_not_as_a_map(pair):
    from facewidget.widgets import OverlayView

    view = OverlayView.from_explained(pair.a, name="similar")
    assert "p_value" not in view.map_names and "significant" not in view.map_names
    assert view.significant["shape"] == view.overlay["shape"] and view.significant["affine"] == view.overlay["affine"]
    np.testing.assert_array_equal(decode_payload(view.significant), pair.a.maps["significant"])
    np.testing.assert_allclose(decode_payload(view.p_value), pair.a.maps["p_value"], rtol=2e-3, atol=1e-6)
    view.set_map(np.ones((10, 10), np.float32), affine=[[1, 0, 0], [0, 1, 0]], name="other")
    assert view.significant is None and view.p_value is None  # a new map has no known p-values


def test_the_static_picture_is_as_honest_as_the_live_view(pair):
    view = PairView(pair, map_threshold=0.0, opacity=1.0)
    hidden = view.render_png()
    view.show_insignificant = True
    shown = view.render_png()
    # the significant pixels (strongest similar values) look the same; only non-significant ones appear
    assert (hidden != shown).any()
    view.show_insignificant = False
    shared = view.render_png()
    view.shared_scale = False
    own = view.render_png()
    assert (shared != own).any()  # face B's map drawn against the pair's range vs its own maximum


def test_an_overlay_view_with_its_face_is_linked_too(pair):
    from facewidget.canonical.regions import region
    from facewidget.widgets import CanonicalFaceView, OverlayView

    view = OverlayView.from_explained(pair.a, name="similar")  # knows its face
    assert "left_eye" in view.region_names and len(view.landmarks) == 478 * 3 * 4
    face_view = CanonicalFaceView(None, {"upper_lip": (region("upper_lip").triangles, 0.3)}).link(view)
    face_view.selected_region = "upper_lip"
    seg = np.frombuffer(view.region_outline["photo"], dtype="<f4").reshape(-1, 4)
    np.testing.assert_allclose(seg, pair.a.face.landmarks[:, :2][region("upper_lip").outline].reshape(-1, 4), atol=1e-3)
    plain = OverlayView(pair.a.image)  # no face: nothing to outline, and no error
    CanonicalFaceView(None, {"upper_lip": (region("upper_lip").triangles, 0.3)}, selected_region="").link(plain)
    plain.show_region("upper_lip", region("upper_lip").triangles)
    assert plain.region_outline == {}


def test_the_overlays_static_picture_hides_non_significant_pixels_like_the_front_end(sample_images, sample_faces):
    """The PNG fallback (exports, non-JS front ends) follows the same rule as the live view: pixels
    outside the ``significant`` mask show the bare photo until ``show_insignificant`` is set."""
    from facewidget.widgets import OverlayView
    from tests.widget_data import explained_face

    img, face = sample_images["obama"], sample_faces["obama"][0]
    ef = explained_face(img, face, {"saliency": (1, 1.0)})
    s = ef.maps["saliency"]
    ef.maps["significant"] = (s >= 0.5 * s.max()).astype(np.float32)
    ef.maps["p_value"] = np.where(ef.maps["significant"] > 0, 1e-4, 0.5).astype(np.float32)
    view = OverlayView()
    view.set_explained(ef)
    view.threshold, view.opacity = 0.0, 1.0
    hidden = view.render_png().astype(int)
    view.show_insignificant = True
    shown = view.render_png().astype(int)
    bare = OverlayView()
    bare.set_photo(img)
    bare.view_box = view.view_box
    photo = bare.render_png().astype(int)
    assert hidden.shape == shown.shape == photo.shape
    differs_hidden = np.abs(hidden - photo).sum(2) > 0
    differs_shown = np.abs(shown - photo).sum(2) > 0
    # the significant core is painted either way; the insignificant rim only when asked for
    assert differs_hidden.sum() > 50
    assert differs_shown.sum() > 1.5 * differs_hidden.sum()
    assert np.all(differs_shown[differs_hidden])
