"""Property-based tests (hypothesis): whatever a user passes, facewidget answers with a result or a
named FacewidgetError, never a bare ValueError/TypeError/KeyError from deep inside, a crash or a hang.

Each property runs a few dozen generated inputs (``max_examples``) with a generous per-example
deadline: a hang fails the test, ordinary noise on a shared machine does not.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import timedelta

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from PIL import Image

import facewidget as fw
from facewidget.datasets import csv_dataset, parse_pairs
from facewidget.widgets.annotations import from_json, normalise_all

from .explain_helpers import tiny_model

FAST = settings(max_examples=60, deadline=timedelta(seconds=20),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def _ok_image(out) -> None:
    assert isinstance(out, np.ndarray) and out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


# --- load_image -------------------------------------------------------------------------------

@FAST
@given(st.binary(max_size=512))
def test_load_image_random_bytes(data):
    try:
        _ok_image(fw.load_image(data))
    except fw.FacewidgetError:
        pass


@FAST
@given(st.binary(min_size=1, max_size=64), st.integers(0, 200), st.sampled_from(["truncate", "flip", "append"]))
def test_load_image_damaged_png(noise, at, how):
    good = _png(np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3))
    at = min(at, len(good) - 1)
    damaged = {"truncate": good[:at], "flip": good[:at] + noise + good[at + len(noise):],
               "append": good + noise}[how]
    try:
        _ok_image(fw.load_image(damaged))
    except fw.FacewidgetError:
        pass


_DTYPES = st.sampled_from([np.uint8, np.uint16, np.int8, np.int16, np.int32, np.int64, np.uint32, np.float16,
                           np.float32, np.float64, np.bool_, np.complex64, "datetime64[s]", "U3"])


@FAST
@given(hnp.arrays(_DTYPES, hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=6)))
def test_load_image_arrays_of_any_dtype_and_shape(arr):
    try:
        _ok_image(fw.load_image(arr))
    except fw.FacewidgetError:
        pass


@FAST
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=5),
                  elements=st.floats(allow_nan=True, allow_infinity=True, width=32)))
def test_load_image_tensors(arr):
    try:
        _ok_image(fw.load_image(torch.from_numpy(arr)))
    except fw.FacewidgetError:
        pass


@FAST
@given(st.one_of(st.none(), st.integers(), st.floats(), st.text(max_size=5), st.lists(st.integers(), max_size=3),
                 st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)))
def test_load_image_other_objects(obj):
    try:
        _ok_image(fw.load_image(obj))
    except fw.FacewidgetError:
        pass


# --- annotation JSON --------------------------------------------------------------------------

_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=False), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=20)
_ANNOTATION = st.fixed_dictionaries(
    {"kind": st.sampled_from(["polygon", "brush", "mesh", "box", None, 3])},
    optional={"points": st.one_of(_JSON, st.lists(st.lists(st.floats(allow_nan=True), max_size=3), max_size=5)),
              "radius": _JSON, "regions": _JSON, "triangles": _JSON, "label": _JSON, "id": _JSON,
              "target": _JSON, "note": _JSON})


@FAST
@given(st.one_of(_JSON, st.lists(_ANNOTATION, max_size=4),
                 st.fixed_dictionaries({"version": st.sampled_from([1, 2, "1"]),
                                        "annotations": st.one_of(_JSON, st.lists(_ANNOTATION, max_size=3))})))
def test_annotation_json(value):
    try:
        anns = from_json(json.dumps(value))
    except fw.FacewidgetError:
        return
    assert normalise_all(anns) == anns  # what it accepts is already canonical


@FAST
@given(st.text(max_size=200))
def test_annotation_json_text(text):
    try:
        from_json(text)
    except fw.FacewidgetError:
        pass


# --- CSV data sets and pairs files ------------------------------------------------------------

_CELL = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=10)


@FAST
@given(st.lists(st.lists(_CELL, min_size=0, max_size=4), max_size=6), st.sampled_from(["path", "file", ""]),
       st.one_of(st.none(), st.lists(_CELL, max_size=2)))
def test_csv_dataset(tmp_path_factory, rows, path_column, label_columns):
    path = tmp_path_factory.mktemp("csv") / "faces.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    try:
        ds = csv_dataset(path, path_column=path_column, label_columns=label_columns)
    except fw.FacewidgetError:
        return
    assert len(ds) >= 1


@FAST
@given(st.binary(max_size=300))
def test_csv_dataset_raw_bytes(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("csv") / "faces.csv"
    path.write_bytes(data)
    try:
        csv_dataset(path)
    except fw.FacewidgetError:
        pass


@FAST
@given(st.lists(st.lists(st.one_of(st.text(alphabet="abAB_-", min_size=1, max_size=4),
                                   st.integers(-3, 10**12).map(str)), max_size=5), max_size=6))
def test_pairs_file(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("pairs") / "pairs.txt"
    path.write_text("\n".join(" ".join(f) for f in lines))
    try:
        parse_pairs(path)
    except fw.FacewidgetError:
        pass


# --- method parameters -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def chip_model():
    return tiny_model(size=16)


_VALUE = st.one_of(st.none(), st.booleans(), st.integers(-10, 40), st.floats(allow_nan=True, allow_infinity=True),
                   st.text(max_size=6), st.lists(st.integers(-2, 5), max_size=3))
_PARAMS = {
    "corrrise": ["n", "patch", "patches", "masks", "correlation", "batch_size", "cells", "keep", "fill", "controls"],
    "rise": ["n", "cells", "keep", "batch_size", "fill", "controls"],
    "occlusion": ["window", "stride", "fill", "batch_size"],
    "gradcam": ["layer"],
    "integrated_gradients": ["steps", "baseline"],
    "scorecam": ["layer", "fill", "batch_size"],
}


_CHEAP = {"corrrise": {"n": 16}, "rise": {"n": 16}, "occlusion": {"window": 8, "stride": 8}}


@settings(max_examples=50, deadline=timedelta(seconds=30),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.sampled_from(sorted(_PARAMS)), st.data())
def test_method_parameters(chip_model, method, data):
    """Any value for any of a method's parameters (and unknown names): a result or a FacewidgetError."""
    names = _PARAMS[method] + ["bogus"]
    params = {**_CHEAP.get(method, {}), **data.draw(st.dictionaries(st.sampled_from(names), _VALUE, max_size=3))}
    seed = data.draw(st.integers(0, 2**31))
    chips = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(0))
    target = fw.explainers.CallableTarget(lambda out: out[:, 0])
    fn = fw.explainers.get_method(method)
    try:
        result = fn(chip_model, chips, [target], seed=seed, **params)
    except fw.FacewidgetError:
        return
    assert result.saliency.shape == (1, 16, 16)


@settings(max_examples=20, deadline=timedelta(seconds=30),
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.one_of(st.integers(-10, 40), st.floats(allow_nan=True), st.text(max_size=3), st.none()),
       st.sampled_from(["corrrise", "rise", "occlusion", "no-such-method", 7]))
def test_explain_pair_parameters(sample_images, sample_faces, n, method):
    """``explain_pair`` itself: e.g. n=-5 is a ParameterError naming n, never a bare ValueError."""
    model = tiny_model(size=112)
    img = sample_images["obama"]
    face = sample_faces["obama"][0]
    params = {"n": n} if method in ("corrrise", "rise") else {"window": 56, "stride": 56}
    try:
        fw.explain_pair(img, img, model, method=method, faces=(face, face), **params)
    except fw.FacewidgetError as exc:
        if isinstance(exc, fw.ParameterError) and "n" in params and exc.name == "n":
            assert exc.value == n or (isinstance(n, float) and math.isnan(n))


def test_explain_pair_negative_n_names_the_parameter(sample_images, sample_faces):
    img, face = sample_images["obama"], sample_faces["obama"][0]
    with pytest.raises(fw.ParameterError) as info:
        fw.explain_pair(img, img, tiny_model(size=112), n=-5, faces=(face, face))
    assert info.value.name == "n" and info.value.value == -5 and ">= 2" in info.value.allowed
