"""The CUDA paths: the same model, explanations and batches on the GPU as on the CPU.

Marked ``cuda``: skipped on machines without a CUDA GPU (CI); ``bench/device.sh`` runs them on the
device machine. Tolerances: cuDNN picks other convolution algorithms than the CPU (and may use
TF32), so float32 results differ in the last bits; CorrRISE's perturbed batches run under float16
autocast on CUDA by default, which keeps about 3 significant digits of each score.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import facewidget as fw
from facewidget.explainers import get_method
from facewidget.explainers.engine import Stream, forward_scores
from facewidget.explainers.targets import SimilarityTarget

pytestmark = pytest.mark.cuda


@pytest.fixture(scope="module")
def models():
    return fw.load_model("dlib-resnet", device="cpu"), fw.load_model("dlib-resnet", device="cuda")


@pytest.fixture(scope="module")
def chips(models, sample_images, sample_faces):
    cpu, _ = models
    names = ["obama", "obama2", "biden"]
    return torch.cat([cpu.align(sample_images[n], sample_faces[n][:1]).chips for n in names]).cpu()


def test_model_on_cuda(models, chips):
    cpu, gpu = models
    assert next(gpu.network.parameters()).device.type == "cuda"
    e_cpu = cpu.embed(chips).cpu()
    e_gpu = gpu.embed(chips.cuda()).cpu()
    assert e_gpu.shape == e_cpu.shape
    torch.testing.assert_close(e_gpu, e_cpu, rtol=1e-3, atol=1e-4)
    d = torch.cdist(e_gpu, e_gpu)
    assert d[0, 1] < 0.6 < d[0, 2]  # the same verdicts: obama/obama2 match, obama/biden do not


def test_gradcam_cuda_matches_cpu(models, chips):
    cpu, gpu = models
    out = []
    for model in (cpu, gpu):
        c = chips[:1].to(model.device)
        ref = model.embed(chips[1:2].to(model.device))[0]
        out.append(get_method("gradcam")(model, c, [SimilarityTarget(model, ref)]).saliency)
    scale = float(np.abs(out[0]).max())
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=2e-3 * scale)


def test_corrrise_cuda_matches_cpu(models, chips):
    """Masks come from a CPU generator (same seed, same masks on both devices); the maps agree up to
    the float16 autocast the GPU's batches run under."""
    cpu, gpu = models
    maps = []
    for model in (cpu, gpu):
        c = chips[:2].to(model.device)
        e = model.embed(c)
        targets = [SimilarityTarget(model, e[1]), SimilarityTarget(model, e[0])]
        maps.append(get_method("corrrise")(model, c, targets, n=512, seed=3).saliency)
    np.testing.assert_allclose(maps[1], maps[0], rtol=0, atol=0.03)
    assert np.corrcoef(maps[1].ravel(), maps[0].ravel())[0, 1] > 0.995


def test_autocast_batches_match_float32(models, chips):
    """CUDA batches run under float16 autocast by default: the scores stay within float16 precision."""
    _, gpu = models
    c = chips[:2].cuda()
    e = gpu.embed(c)
    streams = [Stream(c[0], SimilarityTarget(gpu, e[1]), 0.0), Stream(c[1], SimilarityTarget(gpu, e[0]), 0.0)]
    masks = (torch.rand(64, *c.shape[-2:], generator=torch.Generator().manual_seed(0)) > 0.5).float().cuda()
    half = forward_scores(gpu, streams, masks, autocast=True)
    full = forward_scores(gpu, streams, masks, autocast=False)
    assert half.dtype == full.dtype == torch.float32
    torch.testing.assert_close(half, full, rtol=0, atol=5e-3)
    assert torch.corrcoef(torch.stack([half.flatten(), full.flatten()]))[0, 1] > 0.999


def test_explain_pair_on_cuda(models, sample_images, sample_faces):
    _, gpu = models
    a, b = sample_images["obama"], sample_images["obama2"]
    pair = fw.explain_pair(a, b, gpu, n=256, faces=(sample_faces["obama"][0], sample_faces["obama2"][0]))
    assert pair.same is True
    assert np.isfinite(pair.a.maps["similar"]).all() and pair.a.maps["similar"].shape == (150, 150)
