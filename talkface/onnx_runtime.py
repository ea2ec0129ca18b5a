"""ONNX Runtime sessions for the shipped models: the one place that picks the execution provider, threads and graph
optimisation, so every exported model runs the same way (the product path never imports torch)."""
from __future__ import annotations

import os
from pathlib import Path

from talkface.errors import CheckpointError, TalkfaceError


def providers(device: str) -> list[str]:
    """Execution providers for `--device`: CUDA when asked and onnxruntime-gpu is installed, else the CPU."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise TalkfaceError(f"--device {device}: this onnxruntime has no CUDA provider; "
                                "`pip install onnxruntime-gpu` (in place of onnxruntime) or use --device cpu")
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    raise TalkfaceError(f"--device {device}: the ONNX backend runs on cpu or cuda; use --backend torch for {device}")


def session(path: str | Path, device: str = "cpu", threads: int | None = None):
    """An InferenceSession for one exported model; `threads` None = every core this process may use."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: exported model not found (re-export with `python scripts/export_onnx.py`)")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    return ort.InferenceSession(str(path), sess_options=options, providers=providers(device))
