"""Hooked explanations on one shared model from several threads give the maps they give alone.

A live run in a view and a notebook cell share the model: its forward hooks (Grad-CAM's activation
recorder) see every thread's forwards. The recorder keeps only its own thread's and holds the
network's lock; these tests fail when either is missing.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch

import facewidget as fw

ROUNDS = 50


@pytest.fixture(scope="module")
def dlib_model():
    return fw.load_model("dlib-resnet", device="cpu")


def _direction(seed: int) -> torch.Tensor:
    return torch.nn.functional.normalize(torch.randn(128, generator=torch.Generator().manual_seed(seed)), dim=0)


def _gradcam(model, image, face, direction):
    def target(out):
        return out @ direction.to(out.device, out.dtype)

    return fw.explain(image, model, target=target, method="gradcam", face=face).face.maps["saliency"]


def _run_threads(*workers):
    errors: list[BaseException] = []

    def guarded(fn):
        def run():
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - re-raised in the main thread
                errors.append(exc)
        return run

    threads = [threading.Thread(target=guarded(w)) for w in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not any(t.is_alive() for t in threads)
    if errors:
        raise errors[0]


def test_two_threads_gradcam_same_model_match_alone(dlib_model, sample_images, sample_faces):
    jobs = [(sample_images["obama"], sample_faces["obama"][0], _direction(1)),
            (sample_images["biden"], sample_faces["biden"][0], _direction(2))]
    alone = [_gradcam(dlib_model, *job) for job in jobs]
    assert not np.allclose(alone[0], alone[1])  # different inputs: a swapped result would show
    results: list[list[np.ndarray]] = [[], []]

    def worker(k):
        def run():
            for _ in range(ROUNDS):
                results[k].append(_gradcam(dlib_model, *jobs[k]))
        return run

    _run_threads(worker(0), worker(1))
    for k in range(2):
        assert len(results[k]) == ROUNDS
        scale = float(np.abs(alone[k]).max())
        for got in results[k]:
            np.testing.assert_allclose(got, alone[k], rtol=0, atol=1e-5 * scale)


def test_gradcam_ignores_other_threads_plain_forwards(dlib_model, sample_images, sample_faces):
    """A concurrent forward that takes no lock (a perturbation explainer, embed) never reaches
    Grad-CAM's recorder."""
    job = (sample_images["obama"], sample_faces["obama"][0], _direction(3))
    alone = _gradcam(dlib_model, *job)
    other = dlib_model.align(sample_images["biden"], sample_faces["biden"][:1]).chips
    stop = threading.Event()
    got: list[np.ndarray] = []

    def forwards():
        with torch.no_grad():
            while not stop.is_set():
                dlib_model.forward_chips(other)

    def gradcams():
        try:
            for _ in range(10):
                got.append(_gradcam(dlib_model, *job))
        finally:
            stop.set()

    _run_threads(forwards, gradcams)
    scale = float(np.abs(alone).max())
    for m in got:
        np.testing.assert_allclose(m, alone, rtol=0, atol=1e-5 * scale)
