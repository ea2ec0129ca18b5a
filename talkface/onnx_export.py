"""Exporting a trained torch model to ONNX with its provenance (training side: needs torch and onnx).

The .onnx carries, in its `metadata_props`, the checkpoint's sidecar (`sidecar`: the JSON the safetensors was saved
with, in the current schema) and the sha256 of the safetensors it was exported from (`safetensors_sha256`), so the
runtime knows the model's config without the sidecar file and an export older than its checkpoint is detectable
(talkface.onnx_runtime.is_current). `python scripts/export_onnx.py` re-exports every shipped model.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from talkface.checkpoint import sidecar_path, upgrade_sidecar
from talkface.onnx_runtime import SHA256_KEY, SIDECAR_KEY, file_sha256

OPSET = 17


def _atanh(g, x):
    """aten::atanh, which the TorchScript exporter lacks, as 0.5 * log((1 + x) / (1 - x)): ONNX Runtime's own Atanh
    is scalar code (2.2 ms a 128-px frame here, the vectorised Log a tenth of that)."""
    one = g.op("Constant", value_t=torch.tensor(1.0))
    ratio = g.op("Div", g.op("Add", one, x), g.op("Sub", one, x))
    return g.op("Mul", g.op("Constant", value_t=torch.tensor(0.5)), g.op("Log", ratio))


def export_with_provenance(module: torch.nn.Module, args: tuple, target: str | os.PathLike,
                           checkpoint: str | os.PathLike, input_names: list[str], output_names: list[str],
                           dynamic_axes: dict | None = None, metadata: dict[str, str] | None = None) -> Path:
    """Trace `module` (eval mode) on `args` into `target` (written whole or not at all) with the checkpoint's sidecar
    and sha256, plus any further `metadata` strings; returns the path."""
    import onnx

    checkpoint, target = Path(checkpoint), Path(target)
    sidecar = upgrade_sidecar(json.loads(sidecar_path(checkpoint).read_text()))
    torch.onnx.register_custom_op_symbolic("aten::atanh", _atanh, OPSET)
    partial = target.with_name(target.name + ".partial")
    with torch.no_grad():
        torch.onnx.export(module.eval(), args, str(partial), dynamo=False, opset_version=OPSET,
                          input_names=input_names, output_names=output_names, dynamic_axes=dynamic_axes or {},
                          do_constant_folding=True)
    model = onnx.load(str(partial))
    props = {SIDECAR_KEY: json.dumps(sidecar, sort_keys=True), SHA256_KEY: file_sha256(checkpoint),
             "exported_with": f"torch {torch.__version__}, onnx opset {OPSET}", **(metadata or {})}
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(model)
    onnx.save(model, str(partial))
    os.replace(partial, target)
    return target
