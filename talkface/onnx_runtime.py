"""ONNX Runtime sessions for the shipped models: the one place that picks the execution provider, threads and graph
optimisation, so every exported model runs the same way (the product path never imports torch)."""
from __future__ import annotations

import os
from pathlib import Path

from talkface.errors import CheckpointError, TalkfaceError

# ONNX Runtime (1.2x on Linux) otherwise writes a telemetry session file into the temp folder and may try to upload
# events: talkface runs offline and leaves nothing behind. Read when onnxruntime is first imported (only from here).
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")


def providers(device: str) -> list:
    """Execution providers for `--device`: CUDA (on GPU N for cuda:N) when asked and onnxruntime-gpu is installed,
    else the CPU."""
    import onnxruntime as ort

    if device == "cpu":
        return ["CPUExecutionProvider"]
    if device.startswith("cuda"):
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            raise TalkfaceError(f"--device {device}: this onnxruntime has no CUDA provider; "
                                "`pip install onnxruntime-gpu` (in place of onnxruntime) or use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        return [("CUDAExecutionProvider", {"device_id": index}), "CPUExecutionProvider"]
    raise TalkfaceError(f"--device {device}: the ONNX backend runs on cpu or cuda; use --backend torch for {device}")


# Threads of every session made without its own count: None = every core this process may use; a `talkface batch`
# worker sets its share of the cores (talkface.batch.workers; the exports' outputs do not depend on the count).
THREADS: int | None = None


def session(path: str | Path, device: str = "cpu", threads: int | None = None):
    """An InferenceSession for one exported model, computing on `threads` (None: THREADS)."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: exported model not found (re-export with `python scripts/export_onnx.py`)")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or THREADS or len(os.sched_getaffinity(0))
    options.inter_op_num_threads = 1
    # Idle threads sleep instead of spinning between ops: on shared cores (a batch's workers, a busy machine) spinning
    # threads take the core from the one doing the work (the generator at 128 px on 2 busy cores: 21 frames/s
    # spinning, 37 not; 1 thread: 37-38)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # warnings about unused initialisers are not the user's business
    return ort.InferenceSession(str(path), sess_options=options, providers=providers(device))


SIDECAR_KEY = "sidecar"               # ONNX metadata: the checkpoint's sidecar JSON (talkface.onnx_export)
SHA256_KEY = "safetensors_sha256"     # ONNX metadata: the sha256 of the safetensors it was exported from


def exported_path(checkpoint: str | Path) -> Path:
    """Where a checkpoint's export lives: `<stem>.onnx` beside its safetensors."""
    return Path(checkpoint).with_suffix(".onnx")


def export_of(checkpoint: str | Path) -> Path:
    """The export beside a checkpoint (exported_path), or one line saying how to make it."""
    onnx = exported_path(checkpoint)
    if not onnx.is_file():
        raise CheckpointError(f"{checkpoint}: no exported {onnx.name} beside it; export it (python "
                              f"scripts/export_onnx.py --checkpoint {checkpoint}) or use --backend torch")
    return onnx


def file_sha256(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def metadata(session) -> dict[str, str]:
    """An exported model's metadata strings (`SIDECAR_KEY`, `SHA256_KEY`, ...)."""
    return dict(session.get_modelmeta().custom_metadata_map)


def sidecar(session, path: str | Path) -> dict:
    """The checkpoint sidecar an exported model carries; one-line error when it has none."""
    import json

    text = metadata(session).get(SIDECAR_KEY)
    if text is None:
        raise CheckpointError(f"{path}: no checkpoint sidecar in its metadata (not exported by "
                              "`python scripts/export_onnx.py`)")
    return json.loads(text)


def is_current(onnx_path: str | Path, checkpoint: str | Path) -> bool:
    """Whether the export at `onnx_path` was made from the safetensors `checkpoint` as it is now."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return metadata(session).get(SHA256_KEY) == file_sha256(checkpoint)


def check_current(session, onnx_path: str | Path, checkpoint: str | Path) -> None:
    """One-line error when the checkpoint beside an export is not the one it was exported from (a stale export)."""
    checkpoint = Path(checkpoint)
    if checkpoint.is_file() and metadata(session).get(SHA256_KEY) != file_sha256(checkpoint):
        raise CheckpointError(f"{onnx_path}: exported from another version of {checkpoint.name}; re-export it "
                              f"(python scripts/export_onnx.py --checkpoint {checkpoint}) or use --backend torch")
