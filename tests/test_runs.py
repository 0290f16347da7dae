"""Data-set runs: the same answer in-process, on a 2-worker LocalCluster and with any partition size;
resumable, fault-tolerant, cancellable; the face index detects each image once.

The data set: 200 seeded augmentations of the sample portraits (flip, crop, rotation, colour
jitter, degradations) plus an unreadable file and a picture without a face, written once per module.
"""

from __future__ import annotations

import os
import pickle
import signal
import sys
import threading

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.canonical import compare, model_map, predicted_class, project
from facewidget.datasets import face_index
from facewidget.errors import ModelError, ParameterError
from facewidget.quality import analyze
from facewidget.runs import (CheckpointError, Composite, Keyed, MapStats, MeanVar, MissingExtraError, ModelHandle,
                             SkipItem, Table, arrays_equal, from_arrays, run)
from facewidget.runs.augment import augmented_dataset

N_IMAGES = 200
CALLS = {"map": 0}


def gender_weighted_luminance(image, face, model, target):
    """A photo-space map that needs the model on the worker: brightness × the predicted class's probability."""
    CALLS["map"] += 1
    with torch.no_grad():
        p = torch.softmax(model.embed(model.align(image, [face])).float(), 1).max().item()
    return image.astype(np.float32).mean(2) / 255.0 * p


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """In-process runs with one torch / ONNX Runtime thread, as every Dask worker has: float32 kernels
    sum in a thread-dependent order, so the same map computed with 2 threads differs in the 8th digit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    paths = augmented_dataset(tmp_path_factory.mktemp("augmented"), N_IMAGES, seed=0, max_side=224)
    face_index(paths)  # detected once here; every run below reuses the index
    return paths


@pytest.fixture(scope="module")
def resnet():
    return fw.load_model("dlib-resnet", device="cpu")


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def mmap(dataset, gender, **kw):
    return model_map(dataset, gender, method=gender_weighted_luminance, resolution=32,
                     groups=predicted_class(gender), **kw)


@pytest.fixture(scope="module")
def reference_map(dataset, gender):
    with pytest.warns(fw.datasets.SkippedImageWarning):
        return mmap(dataset, gender, partition_size=7)


def assert_same_model_map(a, b, exact: bool = False):
    assert list(a.groups) == list(b.groups)
    assert a.skipped == b.skipped
    for key in a.groups:
        ga, gb = a[key], b[key]
        assert ga.paths == gb.paths
        np.testing.assert_array_equal(ga.region_table(), gb.region_table())  # per-image tables: identical
        for acc_a, acc_b in ((ga.texels, gb.texels), (ga.vertices, gb.vertices)):
            np.testing.assert_array_equal(acc_a.count, acc_b.count)
            if exact:
                np.testing.assert_array_equal(acc_a.mean, acc_b.mean)
                np.testing.assert_array_equal(acc_a.m2, acc_b.m2)
            else:
                np.testing.assert_allclose(acc_a.mean, acc_b.mean, rtol=1e-9, atol=0)
                np.testing.assert_allclose(acc_a.m2, acc_b.m2, rtol=1e-9, atol=0)
    keys = list(a.groups)
    if len(keys) >= 2:  # the permutation p-values come from the region tables: identical
        pa = [r["p_value"] for r in compare(a[keys[0]], a[keys[1]], n_permutations=200).regions]
        pb = [r["p_value"] for r in compare(b[keys[0]], b[keys[1]], n_permutations=200).regions]
        assert pa == pb


# -- accumulators and the run entry point ------------------------------------------------------


def test_accumulators_merge_exactly_whatever_the_partitioning_and_round_trip_through_npz(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (61, 5, 4))
    x[rng.uniform(size=x.shape) < 0.25] = np.nan
    x[:, 0, 0] = np.nan

    def work(i):
        if i == 13:
            raise SkipItem("unusable on purpose")
        return {"maps": x[i], "groups": (f"g{i % 3}", x[i], i), "table": {"index": i, "name": f"n{i}", "v": x[i, 1]}}

    proto = Composite({"maps": MapStats((5, 4), bins=50), "groups": Keyed(MeanVar((5, 4))), "table": Table()})
    results = {ps: run(range(61), work, proto, partition_size=ps) for ps in (1, 7, 64)}
    ref = results[7].accumulator.to_arrays()
    for ps in (1, 64):
        assert arrays_equal(results[ps].accumulator.to_arrays(), ref, rtol=1e-12)
        assert results[ps].skipped == results[7].skipped
    assert [(s.index, s.reason) for s in results[7].skipped] == [(13, "unusable on purpose")]
    keep = np.delete(x, 13, 0)
    out = results[7].accumulator.result()
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(out["maps"]["mean"], np.nanmean(keep, 0), rtol=1e-12, equal_nan=True)
        np.testing.assert_allclose(out["maps"]["std"], np.nanstd(keep, 0), rtol=1e-12, equal_nan=True)
    assert list(out["table"]["index"]) == [i for i in range(61) if i != 13]
    assert list(results[7].accumulator["groups"].keys()) == ["g0", "g1", "g2"]
    # npz without pickle round-trips exactly
    np.savez(tmp_path / "a.npz", **ref)
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        back = from_arrays({k: z[k] for k in z.files})
    assert arrays_equal(back.to_arrays(), ref)


def test_checkpoint_resumes_and_refuses_another_run(tmp_path):
    calls = []
    stop = threading.Event()

    def work(i):
        calls.append(i)
        if len(calls) == 12:
            stop.set()
        return {"index": i, "v": float(i) ** 0.5}

    first = run(range(40), work, Table(), partition_size=5, checkpoint=tmp_path / "ck", cancel=stop, key="k")
    assert first.cancelled and first.manifest["done_partitions"] == 2  # stopped inside the third partition
    calls.clear()
    second = run(range(40), work, Table(), partition_size=5, checkpoint=tmp_path / "ck", key="k")
    assert second.manifest["reused_partitions"] == [0, 1] and sorted(calls) == list(range(10, 40))
    full = run(range(40), work, Table(), partition_size=5)
    assert arrays_equal(second.accumulator.to_arrays(), full.accumulator.to_arrays())
    with pytest.raises(CheckpointError):
        run(range(40), work, Table(), partition_size=8, checkpoint=tmp_path / "ck", key="k")


def test_bad_arguments_and_missing_dask_name_the_fix(monkeypatch):
    with pytest.raises(ParameterError):
        run(range(3), lambda i: None, Table(), partition_size=0)
    with pytest.raises(ParameterError):
        run(range(3), lambda i: None, Table(), client="cluster-please")
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(MissingExtraError, match=r"facewidget\[dask\]"):
        run(range(3), lambda i: None, Table(), client="local")


def test_models_travel_as_a_spec_never_as_weights(gender):
    blob = pickle.dumps(ModelHandle(gender))
    assert len(blob) < 4000  # the network alone is megabytes
    again = pickle.loads(blob)
    assert again.model is not gender and again.model.config.weights_sha256 == gender.config.weights_sha256
    module_model = fw.load_model(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2)),
                                 config={"name": "m", "task": "classification", "input_size": (8, 8),
                                         "template": "dlib-5"})
    with pytest.raises(ModelError):
        pickle.dumps(ModelHandle(module_model))


# -- the face index ----------------------------------------------------------------------------


class CountingDetector:
    def __init__(self, min_face_size=40):
        from facewidget.faces.detect import DetectorConfig

        self.config = DetectorConfig(min_face_size=min_face_size)
        self.calls = []

    def __call__(self, image):
        from facewidget.faces.detect import default_detector

        self.calls.append(image.shape)
        return default_detector(self.config)(image, None)


def test_face_index_detects_each_image_once(tmp_path):
    from PIL import Image

    paths = augmented_dataset(tmp_path / "imgs", 8, seed=3, max_side=224)
    store = tmp_path / "index.parquet"
    det = CountingDetector()
    first = face_index(paths, path=store, detector=det)
    assert len(det.calls) == 9 and first.detected == 10  # the truncated file never reaches the detector
    assert store.exists() and len(first) == 10
    reasons = dict(first.skipped)
    assert reasons[str(paths[-2].resolve())].startswith("unreadable image")
    assert reasons[str(paths[-1].resolve())] == "no face detected"
    face = first.face(0)
    assert face.landmarks.shape == (478, 3) and len(face.box) == 4 and len(face.pose) == 3
    det.calls.clear()
    second = face_index(paths, path=store, detector=det)
    assert det.calls == [] and second.detected == 0
    assert [r["sha256"] for r in second.rows] == [r["sha256"] for r in first.rows]
    np.testing.assert_array_equal(second.face(0).landmarks, face.landmarks)
    img = np.asarray(Image.open(paths[2])).copy()
    img[0, 0] = 255 - img[0, 0]
    Image.fromarray(img).save(paths[2])  # one changed file: only it is detected again
    third = face_index(paths, path=store, detector=det)
    assert len(det.calls) == 1 and third.detected == 1
    other = CountingDetector(min_face_size=30)  # another detector configuration: everything again
    face_index(paths, path=store, detector=other)
    assert len(other.calls) == 9


# -- model map and AMVA: the same answer everywhere ---------------------------------------------


def test_model_map_skips_bad_images_with_reasons(reference_map, dataset):
    reasons = dict(reference_map.skipped)
    assert reasons[str(dataset[-2].resolve())].startswith("unreadable image")
    assert reasons[str(dataset[-1].resolve())] == "no face detected"
    n = sum(g.n_images for g in reference_map.groups.values())
    assert n + len(reference_map.skipped) == len(dataset) and n >= 0.9 * N_IMAGES
    assert reference_map.metadata["run"]["partition_size"] == 7


def test_model_map_equals_the_plain_statistics(reference_map, dataset, gender):
    key = next(iter(reference_map.groups))
    g = reference_map[key]
    from facewidget.io import load_image

    index = face_index(dataset)
    by_path = {r["path"]: i for i, r in enumerate(index.rows)}
    stack = []
    for p in g.paths[:40]:
        i = by_path[p]
        stack.append(project(gender_weighted_luminance(load_image(p), index.face(i), gender, None),
                             index.face(i), resolution=32).texture)
    sub = fw.canonical.model_map([(load_image(p), index.face(by_path[p])) for p in g.paths[:40]], gender,
                                 method=gender_weighted_luminance, resolution=32)
    with np.errstate(all="ignore"), pytest.warns(RuntimeWarning):
        np.testing.assert_allclose(sub["all"].mean, np.nanmean(np.stack(stack), 0), rtol=1e-5, atol=1e-7,
                                   equal_nan=True)


@pytest.mark.slow
def test_model_map_same_result_for_partition_sizes_and_on_a_cluster(reference_map, dataset, gender, client):
    with pytest.warns(fw.datasets.SkippedImageWarning):
        one = mmap(dataset, gender, partition_size=1)
    assert_same_model_map(one, reference_map)
    with pytest.warns(fw.datasets.SkippedImageWarning):
        on_cluster = mmap(dataset, gender, partition_size=64, client=client)
    assert on_cluster.metadata["run"]["executor"] == "dask" and on_cluster.metadata["run"]["workers"] == 2
    assert_same_model_map(on_cluster, reference_map)


@pytest.mark.slow
def test_cancelled_model_map_resumes_from_its_checkpoint_without_recomputing(reference_map, dataset, gender,
                                                                               tmp_path):
    stop = threading.Event()

    def progress(update):
        if update.done >= 21:  # three partitions of 7 merged
            stop.set()

    CALLS["map"] = 0
    with pytest.warns(fw.datasets.SkippedImageWarning):
        part = mmap(dataset, gender, partition_size=7, checkpoint=tmp_path / "ck", progress=progress, cancel=stop)
    assert part.metadata["cancelled"] and part.metadata["run"]["done_partitions"] == 3
    assert 0 < sum(g.n_images for g in part.groups.values()) == 21
    first_calls = CALLS["map"]
    CALLS["map"] = 0
    with pytest.warns(fw.datasets.SkippedImageWarning):
        rest = mmap(dataset, gender, partition_size=7, checkpoint=tmp_path / "ck")
    total = sum(g.n_images for g in reference_map.groups.values())
    assert rest.metadata["run"]["reused_partitions"] == [0, 1, 2]
    assert CALLS["map"] == total - 21 and first_calls < 21 + 7 + 1  # nothing finished was computed again
    assert_same_model_map(rest, reference_map, exact=True)


@pytest.mark.slow
def test_amva_same_result_for_partition_sizes_and_on_a_cluster(dataset, resnet, client):
    # Score-CAM on the 2 strongest channels and sets of 5 % keep this affordable on 2 cores
    kw = dict(fiqa=["sharpness"], model=resnet, quantile=0.05, maps="scorecam", channels=2, missing="skip", bins=20)
    ref = analyze(dataset, partition_size=7, **kw)
    assert ref.manifest["maps"]["method"] == "scorecam"
    assert [s["reason"] for s in ref.manifest["skipped"]][-1] == "no face detected"
    n = ref.manifest["images"]
    assert n >= 0.9 * N_IMAGES
    others = [analyze(dataset, partition_size=1, client=client, **kw),
              analyze(dataset, partition_size=64, client=client, **kw)]
    for res in others:
        assert res.manifest["runs"]["maps"]["executor"] == "dask"
        assert res.ids == ref.ids and res.manifest["skipped"] == ref.manifest["skipped"]
        np.testing.assert_array_equal(res.region_mask, ref.region_mask)
        a, b = res.chip["sharpness"], ref.chip["sharpness"]
        np.testing.assert_array_equal(a.scores, b.scores)
        for label in ("high", "low"):
            sa, sb = a.set(label), b.set(label)
            assert sa.count == sb.count == n // 20
            np.testing.assert_array_equal(sa.indices, sb.indices)
            for stat in ("mean", "std", "median", "robust_std"):
                np.testing.assert_allclose(getattr(sa, stat), getattr(sb, stat), rtol=1e-9, atol=1e-12)
        assert not set(a.high.indices) & set(a.low.indices)


@pytest.mark.slow
def test_a_killed_worker_loses_nothing(reference_map, dataset, gender, client):
    killed = []

    def progress(update):
        if not killed and update.done > 0:
            pids = client.run(os.getpid)
            victim = sorted(pids.values())[0]
            os.kill(victim, signal.SIGKILL)
            killed.append(victim)

    with pytest.warns(fw.datasets.SkippedImageWarning):
        result = mmap(dataset, gender, partition_size=7, client=client, progress=progress)
    assert killed
    assert_same_model_map(result, reference_map, exact=True)  # same partitions, same order: bit-identical


def test_a_canonical_face_view_shows_a_model_map_live_and_cancel_stops_it(sample_images, sample_faces):
    from facewidget.widgets.canonical import CanonicalFaceView

    img, face = sample_images["obama"], sample_faces["obama"][0]
    items = [(img, face)] * 6
    view = CanonicalFaceView()
    shown = []
    view.observe(lambda change: shown.append(change["new"]), names=["progress"])
    run_ = view.run(model_map, items, None, method=_luminance, resolution=32, partition_size=1, min_interval=0)
    result = run_.wait(120)
    assert run_.status == "done" and len({tuple(p) for p in shown if p[0] < 6}) >= 2  # progressive updates
    assert view.values is not None and result.metadata["n_images"] == 6

    view2 = CanonicalFaceView()
    CALLS["lum"] = 0

    def stop_after_two(image, face, model, target):
        CALLS["lum"] += 1
        if CALLS["lum"] == 2:
            view2.last_run.cancel()
        return _luminance(image, face, model, target)

    run2 = view2.run(model_map, items * 4, None, method=stop_after_two, resolution=32, partition_size=1)
    partial = run2.wait(120)
    assert run2.status == "cancelled" and partial.metadata["cancelled"]
    assert partial.metadata["n_images"] == 2 and CALLS["lum"] == 2  # stopped within the partition


def _luminance(image, face, model, target):
    return image.astype(np.float32).mean(2) / 255.0
