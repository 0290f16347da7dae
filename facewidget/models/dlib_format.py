"""A pure-numpy reader of dlib's DNN serialization (``dlib/serialize.h``, ``dlib/dnn/core.h``).

It reads ``dlib_face_recognition_resnet_model_v1.dat`` (and files built from the same layer kinds)
into a flat, forward-ordered list of :class:`DlibLayer` records, without dlib.

Encodings (all little-endian):

* integer of any width: one control byte (bit 7 = negative, bits 0-3 = number of bytes that
  follow), then ``|value|`` in that many bytes;
* float / double: a compact int64 mantissa, then a compact int16 exponent: ``ldexp(m, e)``;
  exponents 32000 / 32001 / 32002 mean +inf / -inf / NaN;
* bool: one byte ``'1'`` or ``'0'``; string: compact length, then the bytes;
* ``resizable_tensor``: int version 2, compact ``num_samples, k, nr, nc``, raw float32 data (NCHW);
* ``alias_tensor``: int version 1 and four compact ints (a view into the layer's params, no data).

Wrappers write their own header *before* their sub-network and their layer *after* it, so the file
holds the loss, then one header per wrapper from the outermost inwards (2 = ``add_layer``,
1 = ``add_tag_layer`` / ``add_skip_layer``, 3 = the innermost ``add_layer`` over the input), then
the input layer and the layer payloads from the input outwards. Tag ids and skip targets are not
stored: tags and skips appear as ``"tag_or_skip"`` entries and the graph must come from the
network's definition (see :mod:`facewidget.models.dlib_resnet`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import ModelError

_SPECIAL_EXPONENTS = {32000: math.inf, 32001: -math.inf, 32002: math.nan}


class DlibFormatError(ModelError):
    """The bytes are not a dlib DNN file this reader understands (truncated, corrupt, other kind)."""


@dataclass
class DlibLayer:
    """One entry of the flat layer sequence, in forward order (input side first).

    Attributes:
        kind: ``"input_rgb_image_sized"``, ``"con"``, ``"affine"``, ``"relu"``, ``"max_pool"``,
            ``"avg_pool"``, ``"add_prev"``, ``"fc"`` or ``"tag_or_skip"`` (no payload).
        version: the layer's serialized version string (e.g. ``"con_4"``); "" for tag_or_skip.
        attrs: scalar settings (num_filters, nr, nc, stride_y, stride_x, padding_y, padding_x, mode, ...).
        params: named float32 arrays (``filters`` (O, I, kh, kw), ``biases`` (O,), ``gamma``/``beta``
            (C,), fc ``weights`` (in, out) as stored by dlib).
    """

    kind: str
    version: str = ""
    attrs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)

    def describe(self) -> str:
        shapes = {k: tuple(v.shape) for k, v in self.params.items()}
        keep = {k: v for k, v in self.attrs.items() if k not in ("multipliers",)}
        return f"{self.kind}{keep if keep else ''}{shapes if shapes else ''}"


@dataclass
class DlibNetwork:
    """A parsed dlib network file.

    Attributes:
        loss: the loss layer's version and settings (e.g. ``{"version": "loss_metric_2", "margin": 0.04,
            "distance_threshold": 0.6}``).
        input: the input layer's settings (``version``, ``mean`` (R, G, B), ``nr``, ``nc``).
        layers: the flat layer sequence in forward order, input excluded.
        headers: the wrapper header ints, outermost first.
    """

    loss: dict
    input: dict
    layers: list[DlibLayer]
    headers: list[int]

    def kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def num_params(self) -> int:
        return int(sum(v.size for layer in self.layers for v in layer.params.values()))


class _Reader:
    def __init__(self, data: bytes):
        self.data = memoryview(data)
        self.pos = 0

    def _take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise DlibFormatError(f"the file ends early (needed {n} bytes at offset {self.pos} of {len(self.data)})")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def integer(self, max_bytes: int = 8, signed: bool = True) -> int:
        control = self._take(1)[0]
        size = control & 0x0F
        if size > max_bytes or control & 0x70:
            raise DlibFormatError(f"bad integer control byte 0x{control:02x} at offset {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little")
        if control & 0x80:
            if not signed:
                raise DlibFormatError(f"negative value for an unsigned integer at offset {self.pos}")
            value = -value
        return value

    def real(self) -> float:
        mantissa = self.integer(8)
        exponent = self.integer(2)
        if exponent in _SPECIAL_EXPONENTS:
            return _SPECIAL_EXPONENTS[exponent]
        return math.ldexp(mantissa, exponent)

    def boolean(self) -> bool:
        byte = bytes(self._take(1))
        if byte not in (b"1", b"0"):
            raise DlibFormatError(f"bad bool byte {byte!r} at offset {self.pos - 1}")
        return byte == b"1"

    def string(self, max_len: int = 256) -> str:
        n = self.integer(8, signed=False)
        if n > max_len:
            raise DlibFormatError(f"implausible string length {n} at offset {self.pos}")
        try:
            return bytes(self._take(n)).decode("ascii")
        except UnicodeDecodeError as exc:
            raise DlibFormatError(f"non-text version string at offset {self.pos - n}") from exc

    def tensor(self) -> np.ndarray:
        version = self.integer()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at offset {self.pos}")
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise DlibFormatError(f"negative tensor shape {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise DlibFormatError(f"unsupported alias_tensor version {version} at offset {self.pos}")
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]


def _split(params: np.ndarray, aliases: list[tuple[int, int, int, int]], names: list[str], layer: str) -> dict:
    """Cut a layer's flat ``params`` into its alias views (in order), checking the sizes add up."""
    flat = params.reshape(-1)
    out, offset = {}, 0
    for name, shape in zip(names, aliases):
        n = int(np.prod(shape))
        out[name] = flat[offset:offset + n].reshape(shape)
        offset += n
    if offset != flat.size:
        raise DlibFormatError(f"{layer}: params hold {flat.size} values but the aliases describe {offset}")
    return out


def _multipliers(r: _Reader) -> tuple[float, float, float, float]:
    return tuple(r.real() for _ in range(4))  # type: ignore[return-value]


def _read_layer(r: _Reader) -> DlibLayer:
    version = r.string()
    if version == "con_4":
        params = r.tensor()
        attrs = {"num_filters": r.integer(), "nr": r.integer(), "nc": r.integer(), "stride_y": r.integer(),
                 "stride_x": r.integer(), "padding_y": r.integer(), "padding_x": r.integer()}
        filters, biases = r.alias(), r.alias()
        attrs["multipliers"] = _multipliers(r)
        p = _split(params, [filters, biases], ["filters", "biases"], version)
        p["biases"] = p["biases"].reshape(-1)
        return DlibLayer("con", version, attrs, p)
    if version == "affine_":
        params = r.tensor()
        gamma, beta = r.alias(), r.alias()
        attrs = {"mode": r.integer()}
        p = _split(params, [gamma, beta], ["gamma", "beta"], version)
        return DlibLayer("affine", version, attrs, {k: v.reshape(-1) for k, v in p.items()})
    if version == "relu_":
        return DlibLayer("relu", version)
    if version in ("max_pool_2", "avg_pool_2"):
        attrs = {"nr": r.integer(), "nc": r.integer(), "stride_y": r.integer(), "stride_x": r.integer(),
                 "padding_y": r.integer(), "padding_x": r.integer()}
        return DlibLayer(version[:-2], version, attrs)
    if version == "add_prev_":
        return DlibLayer("add_prev", version)
    if version == "fc_2":
        attrs = {"num_outputs": r.integer(signed=False), "num_inputs": r.integer(signed=False)}
        params = r.tensor()
        weights, biases = r.alias(), r.alias()
        attrs["bias_mode"] = r.integer()
        attrs["multipliers"] = _multipliers(r)
        names = ["weights"] if attrs["bias_mode"] == 1 else ["weights", "biases"]
        shapes = [weights] if attrs["bias_mode"] == 1 else [weights, biases]
        p = _split(params, shapes, names, version)
        p["weights"] = p["weights"].reshape(attrs["num_inputs"], attrs["num_outputs"])
        if "biases" in p:
            p["biases"] = p["biases"].reshape(-1)
        return DlibLayer("fc", version, attrs, p)
    raise DlibFormatError(f"unsupported dlib layer {version!r} (this reader knows con_4, affine_, relu_, "
                          "max_pool_2, avg_pool_2, add_prev_, fc_2)")


def _read_trailer(r: _Reader, innermost: bool) -> None:
    """The state every ``add_layer`` writes after its layer; empty in released model files."""
    for _ in range(3):
        r.boolean()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    r.tensor()  # params_grad (grad_final for the innermost layer)
    if innermost:
        r.integer(signed=False)  # sample_expansion_factor


def parse_dlib_network(data: bytes) -> DlibNetwork:
    """Parse the bytes of a dlib DNN file (``loss_metric`` over an RGB-input network).

    Raises:
        DlibFormatError (a :class:`~facewidget.errors.ModelError`): truncated, corrupt, trailing
            bytes, or a layer kind this reader does not know.
    """
    r = _Reader(data)
    try:
        if r.integer() != 1:
            raise DlibFormatError("not a dlib DNN file: the loss wrapper's version is not 1")
        loss_version = r.string()
        if loss_version != "loss_metric_2":
            raise DlibFormatError(f"unsupported loss layer {loss_version!r} (expected loss_metric_2)")
        loss = {"version": loss_version, "margin": r.real(), "distance_threshold": r.real()}
        headers: list[int] = []
        while True:
            h = r.integer()
            if h not in (1, 2, 3):
                raise DlibFormatError(f"unexpected wrapper header {h} at offset {r.pos}")
            headers.append(h)
            if h == 3:
                break
            if len(headers) > 10_000:
                raise DlibFormatError("no innermost layer found")
        input_version = r.string()
        if input_version != "input_rgb_image_sized":
            raise DlibFormatError(f"unsupported input layer {input_version!r}")
        mean = (r.real(), r.real(), r.real())
        inp = {"version": input_version, "mean": mean, "nr": r.integer(), "nc": r.integer()}
        layers: list[DlibLayer] = []
        # Payloads come from the innermost wrapper outwards: walk the headers in reverse.
        for h in reversed(headers):
            if h == 1:
                layers.append(DlibLayer("tag_or_skip"))
                continue
            layers.append(_read_layer(r))
            _read_trailer(r, innermost=(h == 3))
    except DlibFormatError:
        raise
    except (ValueError, OverflowError, IndexError) as exc:
        raise DlibFormatError(f"corrupt dlib file near offset {r.pos}: {exc}") from exc
    if r.pos != len(r.data):
        raise DlibFormatError(f"{len(r.data) - r.pos} unexpected bytes after the network (offset {r.pos})")
    return DlibNetwork(loss=loss, input=inp, layers=layers, headers=headers)


def read_dlib_network(path: str | Path) -> DlibNetwork:
    """Parse a dlib DNN file from disk (see :func:`parse_dlib_network`)."""
    return parse_dlib_network(Path(path).read_bytes())
