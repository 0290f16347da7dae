"""MediaPipe's canonical face, read from ``geometry_pipeline_metadata_landmarks.binarypb``.

The file inside ``face_landmarker.task`` is a ``GeometryPipelineMetadata`` protobuf. MediaPipe's
wheel does not ship its Python message class, and the wire format is simple, so it is read
directly: field 1 is the canonical mesh (field 1 vertex_type, 2 primitive_type, 3 repeated float
vertex buffer with 5 floats per vertex: x, y, z, u, v; 4 repeated uint32 index buffer).
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import AssetError

_METADATA = "geometry_pipeline_metadata_landmarks.binarypb"


@dataclass(frozen=True, eq=False)
class CanonicalFace:
    """MediaPipe's canonical face mesh.

    Attributes:
        vertices: float32 (468, 3) x, y, z in centimetres (x to the subject's left = image right,
            y up, z towards the viewer).
        uv: float32 (468, 2) texture coordinates in [0, 1] (v = 0 at the top of the texture).
        triangles: int32 (898, 3) vertex indices; indices match the 478-point landmarks 0-467.
    """

    vertices: np.ndarray
    uv: np.ndarray
    triangles: np.ndarray

    @property
    def n_vertices(self) -> int:
        return len(self.vertices)

    def vertex_normals(self) -> np.ndarray:
        """(468, 3) unit normals (area-weighted mean of adjacent triangle normals)."""
        v = self.vertices.astype(np.float64)
        t = self.triangles
        fn = np.cross(v[t[:, 1]] - v[t[:, 0]], v[t[:, 2]] - v[t[:, 0]])
        n = np.zeros_like(v)
        for k in range(3):
            np.add.at(n, t[:, k], fn)
        n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-12
        return n.astype(np.float32)


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise AssetError("canonical face metadata ends inside a varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def _fields(buf: bytes):
    """Yield (field_number, wire_type, value) of a protobuf message; value is int or bytes."""
    pos = 0
    while pos < len(buf):
        key, pos = _varint(buf, pos)
        field, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = buf[pos:pos + 8], pos + 8
        elif wire == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif wire == 5:
            value, pos = buf[pos:pos + 4], pos + 4
        else:
            raise AssetError(f"unsupported protobuf wire type {wire} in the canonical face metadata")
        yield field, wire, value


def parse_geometry_metadata(data: bytes) -> CanonicalFace:
    """Parse the bytes of ``geometry_pipeline_metadata_landmarks.binarypb``."""
    mesh = next((v for f, w, v in _fields(data) if f == 1 and w == 2), None)
    if mesh is None:
        raise AssetError("no canonical mesh (field 1) in the geometry metadata")
    floats: list[float] = []
    indices: list[int] = []
    for field, wire, value in _fields(mesh):
        if field == 1 and value != 0:
            raise AssetError(f"canonical mesh vertex_type {value}, expected 0 (position + texture)")
        if field == 2 and value != 0:
            raise AssetError(f"canonical mesh primitive_type {value}, expected 0 (triangle)")
        if field == 3:
            if wire == 5:
                floats.append(struct.unpack("<f", value)[0])
            elif wire == 2:  # packed
                floats.extend(np.frombuffer(value, dtype="<f4").tolist())
        elif field == 4:
            if wire == 0:
                indices.append(value)
            elif wire == 2:
                pos = 0
                while pos < len(value):
                    v, pos = _varint(value, pos)
                    indices.append(v)
    if len(floats) % 5 or len(indices) % 3:
        raise AssetError(f"canonical mesh has {len(floats)} floats / {len(indices)} indices; not 5·V / 3·T")
    vbuf = np.asarray(floats, dtype=np.float32).reshape(-1, 5)
    tri = np.asarray(indices, dtype=np.int32).reshape(-1, 3)
    if tri.size and tri.max() >= len(vbuf):
        raise AssetError("canonical mesh index out of range")
    return CanonicalFace(vertices=vbuf[:, :3].copy(), uv=vbuf[:, 3:5].copy(), triangles=tri)


@lru_cache(maxsize=4)
def _load(bundle: str) -> CanonicalFace:
    with zipfile.ZipFile(bundle) as zf:
        return parse_geometry_metadata(zf.read(_METADATA))


def canonical_face(landmarker: str | Path | None = None) -> CanonicalFace:
    """MediaPipe's canonical face (468 vertices with uv, 898 triangles) from the landmarker bundle."""
    if landmarker is None:
        return _default_face()
    from ..data import LANDMARKER

    return _load(str(LANDMARKER.path(landmarker)))


@lru_cache(maxsize=1)
def _default_face() -> CanonicalFace:
    # Cached here because resolving the bundle verifies its sha256 (milliseconds), and the mesh is
    # needed on every projection.
    from ..data import LANDMARKER

    face = _load(str(LANDMARKER.path(None)))
    for arr in (face.vertices, face.uv, face.triangles):
        arr.setflags(write=False)
    return face
