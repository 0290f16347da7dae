"""Data set loaders: image folder, LFW-style tree with pairs, CSV; skipped images are reported."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

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
