"""Data set loaders: image folder, LFW-style tree with pairs, CSV; skipped images are reported."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from facewidget.errors import ParameterError

from facewidget.datasets import (DatasetError, FaceSample, Skipped, SkippedImageWarning, csv_dataset, image_folder,
                                 lfw, parse_pairs)

FACE_FILES = {"obama": ["obama", "obama2", "obama3"], "biden": ["biden"]}


def cached_detector(sample_images, sample_faces):
    """Detector answering from the session's detections (same pixels → same faces)."""
    def detect(img):
        for name, ref in sample_images.items():
            if ref.shape == img.shape and np.array_equal(ref, img):
                return sample_faces[name]
        from facewidget import detect_faces
        return detect_faces(img)
    return detect


@pytest.fixture()
def lfw_tree(tmp_path, sample_images):
    root = tmp_path / "lfw"
    for person, names in FACE_FILES.items():
        (root / person).mkdir(parents=True)
        for k, name in enumerate(names, 1):
            Image.fromarray(sample_images[name]).save(root / person / f"{person}_{k:04d}.jpg", quality=98)
    (root / "pairs.txt").write_text("1\t2\nobama\t1\t2\nobama\t2\t3\nobama\t1\tbiden\t1\nobama\t3\tbiden\t1\n")
    return root


def test_lfw_tree_loads_with_its_pairs(lfw_tree, sample_images, sample_faces):
    ds = lfw(lfw_tree, progress=False, detector=cached_detector(sample_images, sample_faces))
    assert len(ds) == 4
    assert [p.same for p in ds.pairs] == [True, True, False, False]
    assert ds.pairs[0].a == lfw_tree / "obama" / "obama_0001.jpg"
    assert ds.pairs[2].b == lfw_tree / "biden" / "biden_0001.jpg"
    samples = list(ds)
    assert len(samples) == 4 and not ds.skipped
    assert all(isinstance(s, FaceSample) and s.face is not None for s in samples)
    assert sorted(s.labels["identity"] for s in samples) == ["biden", "obama", "obama", "obama"]


def test_malformed_pairs_and_missing_images_raise(lfw_tree):
    (lfw_tree / "pairs.txt").write_text("1\t1\nobama\t1\t2\nobama\tx\tbiden\t1\n")
    with pytest.raises(DatasetError, match=":3:"):
        parse_pairs(lfw_tree / "pairs.txt")
    (lfw_tree / "pairs.txt").write_text("1\t1\nobama\t1\t2\n")
    with pytest.raises(DatasetError, match="header says"):
        parse_pairs(lfw_tree / "pairs.txt")
    (lfw_tree / "pairs.txt").write_text("1\t1\nobama\t1\t9\nobama\t1\tbiden\t1\n")
    with pytest.raises(DatasetError, match="missing"):
        lfw(lfw_tree)
    with pytest.raises(DatasetError):
        lfw(lfw_tree / "nope")


def test_images_without_a_face_are_reported_not_dropped(tmp_path, sample_images, sample_faces):
    Image.fromarray(sample_images["biden"]).save(tmp_path / "a_face.png")
    Image.fromarray(np.full((200, 200, 3), 127, np.uint8)).save(tmp_path / "b_blank.png")
    (tmp_path / "c_broken.jpg").write_bytes(b"not an image")
    ds = image_folder(tmp_path, progress=False, detector=cached_detector(sample_images, sample_faces))
    assert len(ds) == 3
    with pytest.warns(SkippedImageWarning):
        got = list(ds)
    assert [s.path.name for s in got] == ["a_face.png"]
    reasons = {s.path.name: s.reason for s in ds.skipped}
    assert set(reasons) == {"b_blank.png", "c_broken.jpg"}
    assert "no face" in reasons["b_blank.png"] and "unreadable" in reasons["c_broken.jpg"]
    assert all(isinstance(s, Skipped) for s in ds.skipped)


def test_csv_of_paths_and_labels(tmp_path, sample_images, sample_faces):
    for name in ("obama", "biden"):
        Image.fromarray(sample_images[name]).save(tmp_path / f"{name}.png")
    (tmp_path / "index.csv").write_text("path,gender,age\nobama.png,m,47\nbiden.png,m,66\nmissing.png,f,30\n")
    ds = csv_dataset(tmp_path / "index.csv", progress=False, detector=cached_detector(sample_images, sample_faces))
    assert len(ds) == 3
    with pytest.warns(SkippedImageWarning, match="missing.png"):
        got = list(ds)
    assert [s.labels for s in got] == [{"gender": "m", "age": "47"}, {"gender": "m", "age": "66"}]
    assert [s.path.name for s in ds.skipped] == ["missing.png"]
    (tmp_path / "bad.csv").write_text("file,label\na.png,1\n")
    with pytest.raises(DatasetError, match="'path'"):
        csv_dataset(tmp_path / "bad.csv")
    with pytest.raises(DatasetError, match="unknown label"):
        csv_dataset(tmp_path / "index.csv", label_columns=["race"])


class CountingDetector:
    """A named detector (it has a ``config``) answering from the session's detections; counts its calls."""

    def __init__(self, sample_images, sample_faces, config="sample-faces"):
        self.detect, self.config, self.calls = cached_detector(sample_images, sample_faces), config, 0

    def __call__(self, image):
        self.calls += 1
        return self.detect(image)


@pytest.fixture()
def folder(tmp_path, sample_images):
    root = tmp_path / "faces"
    root.mkdir()
    for name in ("obama", "obama2", "biden"):
        Image.fromarray(sample_images[name]).save(root / f"{name}.png")
    Image.fromarray(np.full((120, 120, 3), 127, np.uint8)).save(root / "x_blank.png")
    (root / "y_broken.jpg").write_bytes(b"not an image")
    return root


def test_a_second_iteration_reuses_the_face_index(folder, tmp_path, sample_images, sample_faces):
    """Iterating detects through the face index: the same files are never detected twice, by this
    data set object or a new one; another detector configuration detects again."""
    from facewidget.datasets import face_index

    store = tmp_path / "index.parquet"
    det = CountingDetector(sample_images, sample_faces)
    ds = image_folder(folder, progress=False, detector=det, index=store)
    with pytest.warns(SkippedImageWarning):
        first = list(ds)
    assert det.calls == 4  # the unreadable file never reaches the detector
    assert ds.run_manifest["name"] == "face index" and ds.run_manifest["done_items"] == 5
    with pytest.warns(SkippedImageWarning):
        second = list(ds)
    again = image_folder(folder, progress=False, detector=det, index=store)
    with pytest.warns(SkippedImageWarning):
        third = list(again)
    assert det.calls == 4 and ds.run_manifest is None and again.run_manifest is None
    assert [s.path.name for s in first] == [s.path.name for s in third] == ["biden.png", "obama.png", "obama2.png"]
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a.image, b.image)
        np.testing.assert_array_equal(a.face.landmarks, b.face.landmarks)
        assert a.face.box == b.face.box and a.labels == b.labels == {"folder": "faces"}
    np.testing.assert_allclose(first[0].face.landmarks, sample_faces["biden"][0].landmarks)
    # the index a data-set run reads is the one the iteration filled: nothing to detect
    assert face_index(ds).detected == 0 and det.calls == 4
    other = CountingDetector(sample_images, sample_faces, config="another configuration")
    with pytest.warns(SkippedImageWarning):
        list(image_folder(folder, progress=False, detector=other, index=store))
    assert other.calls == 4


def test_skips_carry_the_index_reasons_and_positions(folder, tmp_path, sample_images, sample_faces):
    from facewidget.datasets import face_index

    ds = image_folder(folder, progress=False, detector=CountingDetector(sample_images, sample_faces),
                      index=tmp_path / "index.parquet")
    with pytest.warns(SkippedImageWarning) as caught:
        list(ds)
    assert [(s.index, s.path.name) for s in ds.skipped] == [(3, "x_blank.png"), (4, "y_broken.jpg")]
    assert ds.skipped[0].reason == "no face detected" and ds.skipped[1].reason.startswith("unreadable image")
    assert {(str(s.path.resolve()), s.reason) for s in ds.skipped} == set(face_index(ds).skipped)
    assert sorted(str(w.message) for w in caught) == [f"skipped {s.path}: {s.reason}" for s in ds.skipped]


def test_an_unnamed_detector_is_kept_in_memory_and_still_detects_once(folder, sample_images, sample_faces):
    """A closure cannot be told from another closure by name: its detections never reach the cache,
    but the data set object keeps them, so its second iteration detects nothing."""
    calls = []
    inner = cached_detector(sample_images, sample_faces)

    def detect(image):
        calls.append(image.shape)
        return inner(image)

    ds = image_folder(folder, progress=False, detector=detect)
    with pytest.warns(SkippedImageWarning):
        list(ds)
    with pytest.warns(SkippedImageWarning):
        got = list(ds)
    assert len(calls) == 4 and len(got) == 3
    assert ds.detect().path is None  # never written to a Parquet file
    fresh = image_folder(folder, progress=False, detector=detect)
    with pytest.warns(SkippedImageWarning):
        list(fresh)
    assert len(calls) == 8  # another data set object: its own memory
    with pytest.raises(ParameterError, match="config"):
        image_folder(folder, detector=detect, index=folder / "index.parquet")
    from facewidget.datasets import face_index

    with pytest.raises(ParameterError, match="config"):
        face_index(folder, detector=lambda image: [], path=folder / "index.parquet")


def test_iteration_reports_progress_and_cancel_yields_the_detected_part(folder, tmp_path, sample_images,
                                                                        sample_faces):
    import threading

    from facewidget.explainers.engine import ProgressUpdate

    updates, stop = [], threading.Event()

    def progress(update):
        updates.append(update)
        stop.set()  # after the first partition

    det = CountingDetector(sample_images, sample_faces)
    ds = image_folder(folder, detector=det, index=tmp_path / "index.parquet", progress=progress)
    got = list(ds.samples(partition_size=2, cancel=stop))
    assert [(u.done, u.total, u.phase) for u in updates] == [(2, 5, "face index")]
    assert all(isinstance(u, ProgressUpdate) for u in updates)
    assert ds.cancelled and ds.run_manifest["cancelled"] and det.calls == 2
    assert [s.path.name for s in got] == ["biden.png", "obama.png"] and not ds.skipped
    with pytest.warns(SkippedImageWarning):
        rest = list(ds)  # the rest is detected now, the first two are reused
    assert det.calls == 4 and not ds.cancelled and len(rest) == 3
    with pytest.raises(ParameterError):
        image_folder(folder, progress="yes")
