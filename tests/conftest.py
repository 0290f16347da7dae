"""Shared fixtures: real sample photos and the faces found in them (computed once per session)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("GLOG_minloglevel", "2")  # keep MediaPipe's C++ logging out of test output



def pytest_collection_modifyitems(config, items):
    """Tests marked ``cuda`` need a CUDA GPU: skipped without one (bench/device.sh runs them)."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (run bench/device.sh on the device machine)")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)


PORTRAITS = ["obama", "obama2", "obama3", "biden", "astronaut", "32bit"]


@pytest.fixture(scope="session")
def sample_images():
    from facewidget import data

    return {name: data.sample(name) for name in data.samples()}


@pytest.fixture(scope="session")
def sample_faces(sample_images):
    from facewidget import detect_faces

    return {name: detect_faces(img) for name, img in sample_images.items()}


@pytest.fixture(scope="module")
def gender():
    """dlib's gender classifier on the CPU (one per test module: a module may change its state)."""
    import facewidget as fw

    return fw.load_model("dlib-gender", device="cpu")
